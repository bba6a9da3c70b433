//! Static routes, flood bans, scanners, size limits, auth-failure
//! throttling and malformed requests.

use super::calls::{alice, call, registered};
use super::*;

fn options_from(ip: &str, n: u32, ua: &str) -> String {
    format!(
        "OPTIONS sip:bob@falcot.com SIP/2.0\nVia: SIP/2.0/UDP {ip};branch=z9hG4bKf{n}\nMax-Forwards: 70\n\
From: <sip:x@example.org>;tag={n}\nTo: <sip:bob@falcot.com>\nCall-ID: flood-{n}@x\nCSeq: 1 OPTIONS\n{ua}Content-Length: 0\n\n"
    )
}

#[test]
fn static_route_strips_and_prepends_then_sends_to_the_pbx() {
    let mut cfg = config();
    cfg.routes = vec![RouteConfig {
        user_prefix: Some("9".into()),
        user_regex: None,
        domain: None,
        strip: 1,
        prepend: "+33".into(),
        destination: "sip:pbx.falcot.com:5060;transport=tcp".into(),
        priority: 0,
        callers: Callers::Local,
    }];
    let mut sh = Shell::with(cfg);
    let mut a = alice();
    register(&mut sh, &mut a, "Contact: <sip:alice@192.0.2.10:5060>\n");
    let out = call(&mut sh, &mut a, "sip:9123456@falcot.com", "route@a");
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].first_line(),
        "INVITE sip:+33123456@pbx.falcot.com:5060;transport=tcp SIP/2.0"
    );
    assert_eq!(
        out[0].0.destination,
        Destination::Resolve {
            host: "pbx.falcot.com".into(),
            port: Some(5060)
        }
    );
    assert_eq!(out[0].0.listener, TCP);
    assert!(
        !sh.events
            .iter()
            .any(|e| matches!(e, Event::NeedBindings { aor, .. } if aor.user == "9123456")),
        "routes win over location"
    );
    // A caller from another domain cannot use a local-only route: location lookup instead (404).
    sh.recv(
        udp("203.0.113.66:5060"),
        "INVITE sip:9123456@falcot.com SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKext\nMax-Forwards: 70\n\
From: <sip:x@example.org>;tag=1\nTo: <sip:9123456@falcot.com>\nCall-ID: ext@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
    );
    assert_eq!(
        sh.take_no_trying()
            .iter()
            .map(Sent::status)
            .collect::<Vec<_>>(),
        vec![Some(404)]
    );
}

#[test]
fn flood_from_one_source_is_banned_for_300_seconds() {
    let mut sh = Shell::new();
    let src = udp("203.0.113.13:5060");
    for n in 0..16 {
        sh.recv(src, &options_from("203.0.113.13", n, ""));
    }
    assert_eq!(
        sh.take().len(),
        16,
        "16 requests in the window are answered"
    );
    sh.recv(src, &options_from("203.0.113.13", 16, ""));
    assert!(sh.take().is_empty(), "the 17th is dropped");
    assert!(sh
        .events
        .iter()
        .any(|e| matches!(e, Event::SourceBanned { .. })));
    sh.recv(
        udp("203.0.113.14:5060"),
        &options_from("203.0.113.14", 99, ""),
    );
    assert_eq!(sh.take().len(), 1, "other sources are unaffected");
    sh.advance(Duration::from_secs(299));
    sh.recv(src, &options_from("203.0.113.13", 17, ""));
    assert!(sh.take().is_empty(), "still banned");
    sh.advance(Duration::from_secs(1));
    sh.recv(src, &options_from("203.0.113.13", 18, ""));
    assert_eq!(sh.take().len(), 1, "ban over");
    assert_eq!(
        sh.events
            .iter()
            .filter(|e| matches!(e, Event::SourceBanned { .. }))
            .count(),
        1,
        "announced once"
    );
}

#[test]
fn scanner_user_agents_are_dropped_silently() {
    let mut sh = Shell::new();
    sh.recv(
        udp("203.0.113.13:5060"),
        &options_from("203.0.113.13", 1, "User-Agent: friendly-scanner\n"),
    );
    sh.recv(
        udp("203.0.113.13:5060"),
        &options_from("203.0.113.13", 2, "User-Agent: SIPVicious 0.3\n"),
    );
    assert!(sh.take().is_empty());
    assert_eq!(sh.core.metrics().scanner_dropped, 2);
    sh.recv(
        udp("203.0.113.13:5060"),
        &options_from("203.0.113.13", 3, "User-Agent: Linphone/5.2\n"),
    );
    assert_eq!(sh.take().len(), 1);
}

#[test]
fn oversized_requests_get_513_and_long_request_uris_414() {
    let mut sh = Shell::new();
    let big = options_from(
        "203.0.113.13",
        1,
        &format!("X-Pad: {}\n", "a".repeat(17_000)),
    );
    sh.recv(udp("203.0.113.13:5060"), &big);
    assert_eq!(sh.one().status(), Some(513));
    let long = options_from("203.0.113.13", 2, "").replacen(
        "sip:bob@falcot.com",
        &format!("sip:{}@falcot.com", "b".repeat(600)),
        1,
    );
    sh.recv(udp("203.0.113.13:5060"), &long);
    assert_eq!(sh.one().status(), Some(414));
}

#[test]
fn repeated_auth_failures_make_the_source_ignored() {
    let mut sh = Shell::new();
    let mut ua = alice();
    ua.password = "wrong".into();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        sh.recv(ua.flow, &ua.register(""));
        let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
        let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
        sh.recv(ua.flow, &ua.register(&format!("Authorization: {auth}\n")));
        statuses.push(sh.take().first().and_then(Sent::status));
        sh.advance(Duration::from_millis(300)); // stay under the flood limit
    }
    assert_eq!(statuses[..10], [Some(401); 10]);
    assert_eq!(
        statuses[10..],
        [None, None],
        "credentials from this source are dropped"
    );
    assert!(sh.core.metrics().auth_throttled >= 2);
}

#[test]
fn malformed_requests_get_400_and_broken_responses_are_dropped() {
    let mut sh = Shell::new();
    let bad = options_from("192.0.2.10", 1, "").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    sh.recv(udp("192.0.2.10:5060"), &bad);
    let r = sh.one();
    assert_eq!(r.status(), Some(400));
    assert_eq!(
        r.first_line(),
        "SIP/2.0 400 Bad Request (CSeq method mismatch)"
    );
    sh.recv(
        udp("192.0.2.10:5060"),
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 198.51.100.19;branch=z9hG4bKsdzz\nContent-Length: 0\n\n",
    );
    assert!(sh.take().is_empty());
    sh.recv(udp("192.0.2.10:5060"), "\r\n\r\n");
    assert!(sh.take().is_empty(), "keepalives are ignored");
    assert_eq!(sh.core.metrics().malformed, 2);
}

#[test]
fn unsupported_proxy_require_gets_420() {
    let (mut sh, _) = registered();
    sh.recv(
        udp("192.0.2.10:5060"),
        &options_from("192.0.2.10", 1, "Proxy-Require: foo, bar\n"),
    );
    let r = sh.one();
    assert_eq!(r.status(), Some(420));
    assert_eq!(
        r.header(HeaderName::Unsupported).as_deref(),
        Some("foo, bar")
    );
}
