//! Federation state machines: outgoing links (STARTTLS, dialback, SASL
//! EXTERNAL, queue, bounces, timeouts) and incoming links (features per
//! policy, EXTERNAL, dialback verification through the authoritative server).

use std::net::{IpAddr, Ipv4Addr};

use xmppd::core::{ConnId, CoreConfig, Event, Listener, S2sPolicy, TlsInfo};

use crate::harness::{xml, World};

const REMOTE: &str = "remote.example";
const STREAM_NS: &str = "http://etherx.jabber.org/streams";

fn server_header(from: &str, to: &str, id: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='{STREAM_NS}' \
         xmlns:db='jabber:server:dialback' from='{from}' to='{to}' id='{id}' version='1.0'>"
    )
}

fn names(names: &[&str]) -> TlsInfo {
    TlsInfo {
        peer_names: Some(names.iter().map(|s| (*s).to_owned()).collect()),
        ..TlsInfo::default()
    }
}

/// The ConnectS2s events emitted since the last call.
fn connects(w: &mut World) -> Vec<(ConnId, String, String)> {
    let found = w
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectS2s {
                conn,
                local,
                remote,
            } => Some((*conn, local.clone(), remote.clone())),
            _ => None,
        })
        .collect();
    w.events.retain(|e| !matches!(e, Event::ConnectS2s { .. }));
    found
}

fn romeo_online(w: &mut World) -> ConnId {
    w.store.add_user("romeo@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    romeo
}

/// Drive an outgoing link through TCP connect, header and STARTTLS; returns
/// the features the remote offers after TLS (already sent).
fn outgoing_through_tls(w: &mut World, link: ConnId, tls: TlsInfo, features_after_tls: &str) {
    w.attach(link);
    w.server.handle_s2s_connected(link, w.now);
    w.pump();
    assert!(String::from_utf8_lossy(&w.client(link).raw).contains("xmlns='jabber:server'"));
    w.send(
        link,
        &format!(
            "{}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
            server_header(REMOTE, "example.com", "S1")
        ),
    );
    w.expect(link, "starttls");
    w.send(link, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert!(w.client(link).starttls);
    w.client(link).reset_reader();
    w.tls(link, tls);
    w.send(
        link,
        &format!(
            "{}{features_after_tls}",
            server_header(REMOTE, "example.com", "S2")
        ),
    );
}

#[test]
fn message_to_a_remote_domain_waits_for_dialback_then_flows_and_our_key_verifies() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    assert!(w.take(romeo).is_empty(), "queued, not bounced");
    let c = connects(&mut w);
    assert_eq!(c.len(), 1);
    let (link, local, remote) = c.into_iter().next().unwrap();
    assert_eq!((local.as_str(), remote.as_str()), ("example.com", REMOTE));
    // A second stanza reuses the pending link.
    w.send(
        romeo,
        "<message to='nurse@remote.example' id='m2'><body>hello</body></message>",
    );
    assert!(connects(&mut w).is_empty());
    outgoing_through_tls(
        &mut w,
        link,
        TlsInfo::default(),
        "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    );
    let result = w.expect(link, "result");
    assert_eq!(
        (result.attribute("from"), result.attribute("to")),
        (Some("example.com"), Some(REMOTE))
    );
    let key = result.text_content().into_owned();
    assert_eq!(key.len(), 64);
    assert!(
        w.take(link).is_empty(),
        "nothing sent before authentication"
    );
    // The remote asks us (the authoritative server) on a stream of its own.
    let asker = w
        .connect_from(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), Listener::S2s)
        .unwrap();
    w.send(asker, &server_header(REMOTE, "example.com", ""));
    w.take(asker);
    w.send(
        asker,
        &format!("<db:verify from='{REMOTE}' to='example.com' id='S2'>{key}</db:verify>"),
    );
    let v = w.expect(asker, "verify");
    assert_eq!(
        (v.attribute("type"), v.attribute("id")),
        (Some("valid"), Some("S2"))
    );
    w.send(
        asker,
        &format!("<db:verify from='{REMOTE}' to='example.com' id='S1'>{key}</db:verify>"),
    );
    assert_eq!(
        w.expect(asker, "verify").attribute("type"),
        Some("invalid"),
        "bound to the stream id"
    );
    w.send(
        asker,
        &format!(
            "<db:verify from='{REMOTE}' to='example.com' id='S2'>{}</db:verify>",
            "0".repeat(64)
        ),
    );
    assert_eq!(w.expect(asker, "verify").attribute("type"), Some("invalid"));
    // The remote accepts: the queue flows in order, in jabber:server.
    w.send(
        link,
        &format!("<db:result from='{REMOTE}' to='example.com' type='valid'/>"),
    );
    let sent = w.take(link);
    let ids: Vec<_> = sent
        .iter()
        .map(|e| e.attribute("id").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["m1", "m2"]);
    assert_eq!(sent[0].ns(), "jabber:server");
    assert_eq!(sent[0].attribute("from"), Some("romeo@example.com/orchard"));
    // Later stanzas go straight out.
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m3'><body>again</body></message>",
    );
    assert_eq!(w.expect(link, "message").attribute("id"), Some("m3"));
}

#[test]
fn outgoing_link_uses_sasl_external_when_offered_and_the_certificate_is_valid() {
    let mut config = CoreConfig::default();
    config.s2s.default_policy = S2sPolicy::RequireValidCertificates;
    let mut w = World::with_config(config);
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    let (link, _, _) = connects(&mut w).remove(0);
    outgoing_through_tls(
        &mut w,
        link,
        names(&[REMOTE]),
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>",
    );
    let auth = w.expect(link, "auth");
    assert_eq!(auth.attribute("mechanism"), Some("EXTERNAL"));
    assert_eq!(
        auth.text_content(),
        "ZXhhbXBsZS5jb20=",
        "authzid example.com"
    );
    w.client(link).reset_reader();
    w.send(link, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert!(
        w.take(link).is_empty(),
        "a new stream header, nothing else yet"
    );
    w.send(
        link,
        &format!(
            "{}<stream:features/>",
            server_header(REMOTE, "example.com", "S3")
        ),
    );
    assert_eq!(w.expect(link, "message").attribute("id"), Some("m1"));
}

#[test]
fn remote_certificate_that_does_not_validate_is_refused_when_policy_requires_valid_certificates() {
    let mut config = CoreConfig::default();
    config
        .s2s
        .domain_policy
        .insert(REMOTE.into(), S2sPolicy::RequireValidCertificates);
    let mut w = World::with_config(config);
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    let (link, _, _) = connects(&mut w).remove(0);
    outgoing_through_tls(
        &mut w,
        link,
        names(&["other.example"]),
        "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    );
    let err = w.expect(link, "error");
    assert!(xml(&err).contains("policy-violation"));
    assert!(w.client(link).closed);
    let bounce = w.expect(romeo, "message");
    assert_eq!(bounce.attribute("type"), Some("error"));
    assert!(xml(&bounce).contains("remote-server-not-found"));
}

#[test]
fn unreachable_domain_bounces_queued_stanzas_with_remote_server_not_found() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    w.send(
        romeo,
        "<iq to='juliet@remote.example' type='get' id='q1'><query xmlns='jabber:iq:version'/></iq>",
    );
    let (link, _, _) = connects(&mut w).remove(0);
    w.server.handle_connection_closed(link, w.now);
    w.pump();
    let got = w.take(romeo);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(
        |e| e.attribute("type") == Some("error") && xml(e).contains("remote-server-not-found")
    ));
    // The next stanza tries again.
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m2'><body>hi</body></message>",
    );
    assert_eq!(connects(&mut w).len(), 1);
}

#[test]
fn link_not_up_within_the_connect_timeout_bounces_with_remote_server_timeout() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    let (link, _, _) = connects(&mut w).remove(0);
    w.attach(link);
    w.server.handle_s2s_connected(link, w.now);
    w.advance(29);
    assert!(w.take(romeo).is_empty());
    w.advance(2);
    let bounce = w.expect(romeo, "message");
    assert!(
        xml(&bounce).contains("remote-server-timeout"),
        "{}",
        xml(&bounce)
    );
    assert!(w.client(link).closed);
}

#[test]
fn queue_beyond_its_limit_bounces_with_resource_constraint() {
    let mut config = CoreConfig::default();
    config.s2s.max_queued_stanzas = 1;
    let mut w = World::with_config(config);
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    assert!(w.take(romeo).is_empty());
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m2'><body>hi</body></message>",
    );
    let bounce = w.expect(romeo, "message");
    assert_eq!(bounce.attribute("id"), Some("m2"));
    assert!(xml(&bounce).contains("resource-constraint"));
}

/// An incoming link through STARTTLS; returns the features after TLS.
fn incoming_through_tls(w: &mut World, tls: TlsInfo) -> (ConnId, String) {
    let conn = w
        .connect_from(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), Listener::S2s)
        .unwrap();
    w.send(conn, &server_header(REMOTE, "example.com", ""));
    let f = w.expect(conn, "features");
    assert!(
        xml(&f).contains("<required/>"),
        "TLS is required: {}",
        xml(&f)
    );
    w.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    w.expect(conn, "proceed");
    w.client(conn).reset_reader();
    w.tls(conn, tls);
    w.send(conn, &server_header(REMOTE, "example.com", ""));
    let f = xml(&w.expect(conn, "features"));
    (conn, f)
}

#[test]
fn incoming_sasl_external_with_a_certificate_for_the_domain_lets_its_stanzas_in() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    let (conn, features) = incoming_through_tls(&mut w, names(&["*.example", "remote.example"]));
    assert!(
        features.contains("EXTERNAL") && features.contains("urn:xmpp:features:dialback"),
        "{features}"
    );
    w.send(conn, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>cmVtb3RlLmV4YW1wbGU=</auth>");
    w.expect(conn, "success");
    w.client(conn).reset_reader();
    w.send(conn, &server_header(REMOTE, "example.com", ""));
    let f = w.expect(conn, "features");
    assert!(!xml(&f).contains("EXTERNAL"));
    w.send(conn, "<message from='juliet@remote.example/balcony' to='romeo@example.com' type='chat' id='x1'><body>wherefore</body></message>");
    let m = w.expect(romeo, "message");
    assert_eq!(m.attribute("from"), Some("juliet@remote.example/balcony"));
    assert_eq!(m.ns(), "jabber:client");
    // A domain it did not authenticate is invalid-from.
    w.send(
        conn,
        "<message from='mallory@evil.example' to='romeo@example.com'><body>x</body></message>",
    );
    assert!(xml(&w.expect(conn, "error")).contains("invalid-from"));
    assert!(w.take(romeo).is_empty());
}

#[test]
fn incoming_sasl_external_for_a_domain_the_certificate_does_not_name_fails() {
    let mut w = World::new();
    let (conn, _) = incoming_through_tls(&mut w, names(&["other.example"]));
    w.send(
        conn,
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>",
    );
    let f = w.expect(conn, "failure");
    assert!(xml(&f).contains("not-authorized"));
}

#[test]
fn incoming_dialback_is_verified_with_the_authoritative_server_before_stanzas_are_accepted() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    let (conn, features) = incoming_through_tls(&mut w, TlsInfo::default());
    assert!(
        !features.contains("EXTERNAL"),
        "no certificate, no EXTERNAL: {features}"
    );
    assert!(features.contains("urn:xmpp:features:dialback"));
    let id = {
        let raw = String::from_utf8_lossy(&w.client(conn).raw).into_owned();
        let tail = raw.rsplit("<stream:stream").next().unwrap().to_owned();
        tail.split("id='")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_owned()
    };
    w.send(
        conn,
        &format!("<db:result from='{REMOTE}' to='example.com'>abcdef0123</db:result>"),
    );
    assert!(w.take(conn).is_empty(), "no answer before verification");
    // We ask remote.example's authoritative server over our own link.
    let (link, _, _) = connects(&mut w).remove(0);
    outgoing_through_tls(
        &mut w,
        link,
        TlsInfo::default(),
        "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    );
    let sent = w.take(link);
    let verify = sent
        .iter()
        .find(|e| e.name() == "verify")
        .expect("a db:verify");
    assert_eq!(verify.attribute("id"), Some(id.as_str()));
    assert_eq!(verify.text_content(), "abcdef0123");
    w.send(
        link,
        &format!("<db:verify from='{REMOTE}' to='example.com' id='{id}' type='valid'/>"),
    );
    let r = w.expect(conn, "result");
    assert_eq!(r.attribute("type"), Some("valid"));
    w.send(
        conn,
        "<presence from='juliet@remote.example/balcony' to='romeo@example.com' type='subscribe'/>",
    );
    let p = w.expect(romeo, "presence");
    assert_eq!(
        (p.attribute("type"), p.attribute("from")),
        (Some("subscribe"), Some("juliet@remote.example"))
    );
}

#[test]
fn incoming_dialback_is_refused_when_policy_requires_valid_certificates() {
    let mut config = CoreConfig::default();
    config.s2s.default_policy = S2sPolicy::RequireValidCertificates;
    let mut w = World::with_config(config);
    let (conn, features) = incoming_through_tls(&mut w, TlsInfo::default());
    assert!(
        !features.contains("dialback") && !features.contains("EXTERNAL"),
        "{features}"
    );
    w.send(
        conn,
        &format!("<db:result from='{REMOTE}' to='example.com'>abcdef0123</db:result>"),
    );
    let r = w.expect(conn, "result");
    assert_eq!(r.attribute("type"), Some("error"));
    assert!(connects(&mut w).is_empty(), "no verification attempted");
    w.send(
        conn,
        "<message from='juliet@remote.example' to='romeo@example.com'><body>x</body></message>",
    );
    assert!(xml(&w.expect(conn, "error")).contains("invalid-from"));
}

#[test]
fn incoming_stream_without_tls_gets_only_starttls_and_plain_dialback_is_refused() {
    let mut w = World::new();
    let conn = w
        .connect_from(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), Listener::S2s)
        .unwrap();
    w.send(conn, &server_header(REMOTE, "nothere.example", ""));
    assert!(xml(&w.expect(conn, "error")).contains("host-unknown"));
    let conn = w
        .connect_from(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), Listener::S2s)
        .unwrap();
    w.send(conn, &server_header(REMOTE, "example.com", ""));
    let f = xml(&w.expect(conn, "features"));
    assert!(f.contains("starttls") && !f.contains("dialback"), "{f}");
    w.send(
        conn,
        &format!("<db:result from='{REMOTE}' to='example.com'>abcdef0123</db:result>"),
    );
    assert_eq!(w.expect(conn, "result").attribute("type"), Some("error"));
}

#[test]
fn outgoing_link_requests_bidi_when_offered_and_accepts_the_peers_stanzas_on_it() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='m1'><body>hi</body></message>",
    );
    let (link, _, _) = connects(&mut w).remove(0);
    outgoing_through_tls(
        &mut w,
        link,
        TlsInfo::default(),
        "<stream:features><bidi xmlns='urn:xmpp:features:bidi'/><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    );
    let sent = w.take(link);
    let names: Vec<_> = sent.iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(
        names,
        ["bidi", "result"],
        "bidi is requested before authenticating"
    );
    assert_eq!(sent[0].ns(), "urn:xmpp:bidi");
    w.send(
        link,
        &format!("<db:result from='{REMOTE}' to='example.com' type='valid'/>"),
    );
    assert_eq!(w.expect(link, "message").attribute("id"), Some("m1"));
    w.send(link, "<message from='juliet@remote.example/balcony' to='romeo@example.com' id='back'><body>back</body></message>");
    let m = w.expect(romeo, "message");
    assert_eq!(
        (m.attribute("id"), m.attribute("from")),
        (Some("back"), Some("juliet@remote.example/balcony"))
    );
    // Only the authenticated domain may use it.
    w.send(
        link,
        "<message from='mallory@evil.example' to='romeo@example.com'><body>x</body></message>",
    );
    assert!(xml(&w.expect(link, "error")).contains("invalid-from"));
}

#[test]
fn bidirectional_incoming_stream_carries_our_stanzas_once_the_peer_is_authenticated() {
    let mut w = World::new();
    let romeo = romeo_online(&mut w);
    let (conn, features) = incoming_through_tls(&mut w, names(&[REMOTE]));
    assert!(features.contains("urn:xmpp:features:bidi"), "{features}");
    w.send(conn, "<bidi xmlns='urn:xmpp:bidi'/>");
    w.send(
        conn,
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>",
    );
    w.expect(conn, "success");
    w.client(conn).reset_reader();
    w.send(conn, &server_header(REMOTE, "example.com", ""));
    w.expect(conn, "features");
    // Our stanza to that domain goes back on its stream: no new connection.
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='r1'><body>reply</body></message>",
    );
    assert!(connects(&mut w).is_empty());
    let m = w.expect(conn, "message");
    assert_eq!((m.attribute("id"), m.ns()), (Some("r1"), "jabber:server"));
    // When it closes, the next stanza opens an outgoing link.
    w.send(conn, "</stream:stream>");
    w.send(
        romeo,
        "<message to='juliet@remote.example' id='r2'><body>again</body></message>",
    );
    assert_eq!(connects(&mut w).len(), 1);
}

#[test]
fn direct_tls_s2s_listener_skips_starttls() {
    let mut w = World::new();
    let conn = w
        .connect_from(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)),
            Listener::S2sDirectTls,
        )
        .unwrap();
    w.tls(conn, names(&[REMOTE]));
    w.send(conn, &server_header(REMOTE, "example.com", ""));
    let f = xml(&w.expect(conn, "features"));
    assert!(!f.contains("starttls") && f.contains("EXTERNAL"), "{f}");
}

#[test]
fn connections_per_source_address_are_limited_for_servers_too() {
    let mut config = CoreConfig::default();
    config.limits.max_connections_per_ip = 2;
    let mut w = World::with_config(config);
    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
    let a = w.connect_from(ip, Listener::S2s).unwrap();
    w.connect_from(ip, Listener::S2s).unwrap();
    assert!(w.connect_from(ip, Listener::S2s).is_err());
    w.server.handle_connection_closed(a, w.now);
    assert!(w.connect_from(ip, Listener::S2s).is_ok());
}

#[test]
fn oversized_stanza_from_a_server_ends_its_stream() {
    let mut config = CoreConfig::default();
    config.stream.max_stanza_bytes_unauthenticated = 1000;
    let mut w = World::with_config(config);
    let (conn, _) = incoming_through_tls(&mut w, TlsInfo::default());
    let big = format!(
        "<db:result from='{REMOTE}' to='example.com'>{}</db:result>",
        "a".repeat(5000)
    );
    w.send(conn, &big);
    assert!(xml(&w.expect(conn, "error")).contains("policy-violation"));
    assert!(w.client(conn).closed);
}

#[test]
fn login_probes_remote_contacts_from_the_bare_jid_and_broadcasts_presence_to_them() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    let item = xmppd::core::RosterItem {
        jid: crate::harness::jid("juliet@remote.example"),
        name: None,
        groups: Vec::new(),
        subscription: xmppd::core::Subscription::Both,
        ask: false,
        pending_in: false,
        approved: false,
        listed: true,
    };
    w.store
        .record("romeo@example.com")
        .roster
        .insert(item.jid.clone(), item);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    let (link, _, remote) = connects(&mut w).remove(0);
    assert_eq!(remote, REMOTE);
    outgoing_through_tls(
        &mut w,
        link,
        names(&[REMOTE]),
        "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    );
    w.expect(link, "result");
    w.send(
        link,
        &format!("<db:result from='{REMOTE}' to='example.com' type='valid'/>"),
    );
    let sent = w.take(link);
    let probe = sent
        .iter()
        .find(|e| e.attribute("type") == Some("probe"))
        .expect("a probe");
    assert_eq!(
        (probe.attribute("from"), probe.attribute("to")),
        (Some("romeo@example.com"), Some("juliet@remote.example"))
    );
    let available = sent
        .iter()
        .find(|e| e.name() == "presence" && e.attribute("type").is_none());
    assert_eq!(
        available.and_then(|p| p.attribute("from")),
        Some("romeo@example.com/orchard")
    );
}

#[test]
fn dialback_requests_waiting_on_one_incoming_stream_are_bounded() {
    let mut config = CoreConfig::default();
    config.s2s.max_pending_verifications = 2;
    let mut w = World::with_config(config);
    let (conn, _) = incoming_through_tls(&mut w, TlsInfo::default());
    for d in ["a.example", "b.example"] {
        w.send(
            conn,
            &format!("<db:result from='{d}' to='example.com'>abcdef0123</db:result>"),
        );
    }
    assert_eq!(
        connects(&mut w).len(),
        2,
        "one verification link per claimed domain"
    );
    w.send(
        conn,
        "<db:result from='c.example' to='example.com'>abcdef0123</db:result>",
    );
    assert!(connects(&mut w).is_empty(), "no third connection");
    assert!(xml(&w.expect(conn, "error")).contains("policy-violation"));
    assert!(w.client(conn).closed);
}
