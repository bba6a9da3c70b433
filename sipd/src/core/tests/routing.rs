//! Proxy checks and routing rules (RFC 3261 §16.3, §16.4, §16.6, §16.10):
//! stray messages, Max-Forwards, loops, OPTIONS to us, strict routers,
//! credentials of other realms.

use super::calls::{alice, call, in_dialog, registered};
use super::*;

#[test]
fn stray_cancel_gets_481() {
    let mut sh = Shell::new();
    sh.recv(
        udp("192.0.2.10:5060"),
        "CANCEL sip:bob@falcot.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKnone\nMax-Forwards: 70\n\
From: <sip:alice@falcot.com>;tag=1\nTo: <sip:bob@falcot.com>\nCall-ID: nothing@a\nCSeq: 1 CANCEL\nContent-Length: 0\n\n",
    );
    assert_eq!(sh.one().status(), Some(481));
}

#[test]
fn stray_ack_is_dropped_and_unsigned_in_dialog_routes_refused() {
    let mut sh = Shell::new();
    let via = "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx1";
    let from = "<sip:alice@falcot.com>;tag=1";
    sh.recv(
        udp("192.0.2.10:5060"),
        &in_dialog(
            "ACK",
            "sip:bob@192.0.2.20",
            &[],
            via,
            from,
            "<sip:bob@falcot.com>",
            "c@a",
            1,
        ),
    );
    sh.recv(
        udp("192.0.2.10:5060"),
        &in_dialog(
            "ACK",
            "sip:bob@192.0.2.20",
            &[],
            via,
            from,
            "<sip:bob@falcot.com>;tag=b",
            "c@a",
            1,
        ),
    );
    assert!(sh.take().is_empty());
    // In-dialog without our Route: 404 (kamailio "Not here"); with an unsigned Route to us: 403.
    sh.recv(
        udp("192.0.2.10:5060"),
        &in_dialog(
            "BYE",
            "sip:bob@192.0.2.20",
            &[],
            via,
            from,
            "<sip:bob@falcot.com>;tag=b",
            "c@a",
            2,
        ),
    );
    assert_eq!(sh.one().status(), Some(404));
    let forged = vec!["<sip:198.51.100.19:5060;lr;dlg=AAAAAAAAAAAA>".to_owned()];
    let via2 = "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx2";
    sh.recv(
        udp("192.0.2.10:5060"),
        &in_dialog(
            "BYE",
            "sip:bob@192.0.2.20",
            &forged,
            via2,
            from,
            "<sip:bob@falcot.com>;tag=b",
            "c@a",
            3,
        ),
    );
    assert_eq!(sh.one().status(), Some(403));
}

#[test]
fn max_forwards_zero_gets_483() {
    let (mut sh, mut a) = registered();
    let inv = a
        .invite("sip:bob@falcot.com", "mf@a", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    sh.recv(a.flow, &inv);
    assert_eq!(sh.one().status(), Some(483));
}

#[test]
fn request_coming_back_unchanged_is_a_loop_482() {
    let mut cfg = config();
    cfg.trusted_sources = vec!["192.0.2.0/24".parse().unwrap()];
    let mut sh = Shell::with(cfg);
    let mut a = alice();
    sh.recv(a.flow, &a.invite("sip:carol@example.org", "loop@a", ""));
    let fwd = sh.take_no_trying();
    assert_eq!(fwd.len(), 1);
    assert_eq!(
        fwd[0].0.destination,
        Destination::Resolve {
            host: "example.org".into(),
            port: None
        }
    );
    // example.org sends it straight back to us.
    sh.recv(udp("192.0.2.99:5060"), &fwd[0].text());
    assert_eq!(sh.one().status(), Some(482));
}

#[test]
fn options_to_the_proxy_is_answered_with_allow_and_supported() {
    let mut sh = Shell::new();
    sh.recv(
        udp("192.0.2.10:5060"),
        "OPTIONS sip:198.51.100.19 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKo1\nMax-Forwards: 70\n\
From: <sip:alice@falcot.com>;tag=1\nTo: <sip:198.51.100.19>\nCall-ID: o@a\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
    );
    let ok = sh.one();
    assert_eq!(ok.status(), Some(200));
    assert!(ok.header(HeaderName::Allow).unwrap().contains("INVITE"));
    assert_eq!(
        ok.header(HeaderName::Accept).as_deref(),
        Some("application/sdp")
    );
    assert_eq!(
        ok.header(HeaderName::Supported).as_deref(),
        Some("path, outbound")
    );
    assert!(ok.msg().to().unwrap().tag().is_some());
}

#[test]
fn strict_routers_before_and_after_us_are_handled() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "strict@a");
    let rr = forks[0].all(HeaderName::RecordRoute).remove(0);
    let from = "<sip:alice@falcot.com>;tag=talice";
    let to = "<sip:bob@falcot.com>;tag=s";
    // Next hop is a strict router (no ;lr): it becomes the Request-URI (§16.6 step 6).
    let routes = vec![rr.clone(), "<sip:192.0.2.77:5060>".to_owned()];
    sh.recv(
        a.flow,
        &in_dialog(
            "BYE",
            "sip:bob@192.0.2.21:5060",
            &routes,
            &a.via(),
            from,
            to,
            "strict@a",
            3,
        ),
    );
    let out = sh.one();
    assert_eq!(out.first_line(), "BYE sip:192.0.2.77:5060 SIP/2.0");
    assert_eq!(out.to_addr(), Some("192.0.2.77:5060".parse().unwrap()));
    assert_eq!(
        out.all(HeaderName::Route),
        vec!["<sip:bob@192.0.2.21:5060>".to_owned()]
    );
    // A strict router before us put our Record-Route in the Request-URI (§16.4).
    let ours = rr.trim_start_matches('<').trim_end_matches('>');
    let routes = vec!["<sip:bob@192.0.2.21:5060>".to_owned()];
    sh.recv(
        a.flow,
        &in_dialog("BYE", ours, &routes, &a.via(), from, to, "strict@a", 4),
    );
    let out = sh.one();
    assert_eq!(out.first_line(), "BYE sip:bob@192.0.2.21:5060 SIP/2.0");
    assert_eq!(out.to_addr(), Some("192.0.2.21:5060".parse().unwrap()));
    assert!(out.all(HeaderName::Route).is_empty());
}

#[test]
fn only_credentials_for_our_realm_are_removed() {
    let (mut sh, mut a) = registered();
    sh.recv(a.flow, &a.invite("sip:bob@falcot.com", "realm@a", ""));
    let sent = sh.take();
    let challenge = challenge_with(&sent[1], HeaderName::ProxyAuthenticate, "MD5");
    let auth = a.credentials(&challenge, "INVITE", "sip:bob@falcot.com");
    let other = "Proxy-Authorization: Digest username=\"a\", realm=\"carrier.example\", nonce=\"n\", uri=\"sip:bob@falcot.com\", response=\"00\"\n";
    let inv = a
        .invite(
            "sip:bob@falcot.com",
            "realm@a",
            &format!("Proxy-Authorization: {auth}\n{other}"),
        )
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    sh.recv(a.flow, &inv);
    let fwd = sh.take_no_trying();
    assert_eq!(fwd.len(), 2);
    let creds = fwd[0].msg().proxy_authorizations().count();
    assert_eq!(creds, 1);
    assert!(fwd[0]
        .header(HeaderName::ProxyAuthorization)
        .unwrap()
        .contains("carrier.example"));
}
