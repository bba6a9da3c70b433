//! Authentication and binding scenarios.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rtc_xmlstream::ns;
use xmppd::core::{ConflictPolicy, CoreConfig, Event, TlsInfo};

use crate::harness::*;
use crate::scram_client::{Hash, ScramClient};

fn mechanisms(features: &rtc_xmlstream::Element) -> Vec<String> {
    features
        .find_child("mechanisms", ns::SASL)
        .map(|m| m.children().map(|c| c.text_content().into_owned()).collect())
        .unwrap_or_default()
}

fn plain(w: &mut World, conn: xmppd::core::ConnId, user: &str, password: &str) -> rtc_xmlstream::Element {
    let data = B64.encode(format!("\0{user}\0{password}"));
    w.send(conn, &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{data}</auth>"));
    w.client(conn).inbox.pop_front().unwrap()
}

#[test]
fn full_login_with_starttls_scram_sha_256_and_bind() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "r0m30myr0m30");
    let conn = w.connect();
    w.send(conn, &header("example.com"));
    let raw = String::from_utf8(w.client(conn).raw.clone()).unwrap();
    assert!(raw.starts_with("<?xml version='1.0'?><stream:stream xmlns='jabber:client'"));
    assert!(raw.contains("from='example.com'"));
    let features = w.expect(conn, "features");
    assert!(features.find_child("starttls", ns::TLS).and_then(|s| s.find_child("required", ns::TLS)).is_some());
    assert!(mechanisms(&features).is_empty(), "no SASL before TLS");

    w.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    w.expect(conn, "proceed");
    assert!(w.events.contains(&Event::StartTls { conn }));
    w.tls(conn, World::cb_info());
    w.send(conn, &header("example.com"));
    let features = w.expect(conn, "features");
    assert_eq!(
        mechanisms(&features),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    );
    let cb = features.find_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0").unwrap();
    let types: Vec<_> = cb.children().filter_map(|c| c.attribute("type")).collect();
    assert_eq!(types, ["tls-exporter", "tls-server-end-point"]);

    let outcome = w.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "juliet", "r0m30myr0m30", "n", &[]));
    assert_eq!(outcome.name(), "success");
    assert!(w.events.iter().any(|e| matches!(e, Event::Authenticated { mechanism: "SCRAM-SHA-256", .. })));

    w.send(conn, &header("example.com"));
    let features = w.expect(conn, "features");
    for (name, namespace) in [
        ("bind", ns::BIND),
        ("sm", "urn:xmpp:sm:3"),
        ("csi", "urn:xmpp:csi:0"),
        ("ver", "urn:xmpp:features:rosterver"),
        ("c", "http://jabber.org/protocol/caps"),
    ] {
        assert!(features.find_child(name, namespace).is_some(), "feature {name}");
    }
    w.send(conn, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>");
    let bound = w.expect(conn, "iq");
    assert!(xml(&bound).contains("<jid>juliet@example.com/balcony</jid>"), "{}", xml(&bound));
    // Legacy session establishment is accepted as a no-op.
    w.send(conn, "<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    assert_eq!(w.expect(conn, "iq").attribute("type"), Some("result"));
}

#[test]
fn scram_sha_256_plus_binds_to_the_tls_channel() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    for (kind, data) in [("tls-exporter", CB_EXPORTER), ("tls-server-end-point", CB_END_POINT)] {
        let (conn, _) = w.secure_stream();
        let flag = format!("p={kind}");
        let outcome = w.scram(conn, "SCRAM-SHA-256-PLUS", ScramClient::new(Hash::Sha256, "juliet", "pw", &flag, &data));
        assert_eq!(outcome.name(), "success", "{kind}");
    }
    // The binding data of another TLS connection (a man in the middle) fails.
    let (conn, _) = w.secure_stream();
    let outcome = w.scram(conn, "SCRAM-SHA-256-PLUS", ScramClient::new(Hash::Sha256, "juliet", "pw", "p=tls-exporter", &[0; 32]));
    assert_eq!(xml(&outcome), "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
    // SCRAM-SHA-1-PLUS works the same way.
    let (conn, _) = w.secure_stream();
    let outcome = w.scram(conn, "SCRAM-SHA-1-PLUS", ScramClient::new(Hash::Sha1, "juliet", "pw", "p=tls-exporter", &CB_EXPORTER));
    assert_eq!(outcome.name(), "success");
}

#[test]
fn claiming_no_server_channel_binding_while_plus_is_offered_is_a_downgrade() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let (conn, _) = w.secure_stream();
    let outcome = w.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "juliet", "pw", "y", &[]));
    assert!(outcome.find_child("not-authorized", ns::SASL).is_some());
}

#[test]
fn plus_is_not_offered_without_channel_binding_data() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    w.expect(conn, "proceed");
    w.tls(conn, TlsInfo::default());
    w.send(conn, &header(DOMAIN));
    let features = w.expect(conn, "features");
    assert_eq!(mechanisms(&features), ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
    assert!(features.find_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0").is_none());
    // With nothing to bind to, 'y' is an honest answer and succeeds.
    let outcome = w.scram(conn, "SCRAM-SHA-1", ScramClient::new(Hash::Sha1, "juliet", "pw", "y", &[]));
    assert_eq!(outcome.name(), "success");
}

#[test]
fn plain_is_refused_without_tls() {
    // Default: nothing but STARTTLS before encryption.
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    let reply = plain(&mut w, conn, "juliet", "pw");
    assert!(reply.find_child("encryption-required", ns::SASL).is_some(), "{}", xml(&reply));
    // Even where plaintext SCRAM is allowed, PLAIN is never offered nor accepted.
    let mut w = World::with_config(CoreConfig { require_encryption: false, ..CoreConfig::default() });
    w.store.add_user("juliet@example.com", "pw");
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    let features = w.expect(conn, "features");
    assert_eq!(mechanisms(&features), ["SCRAM-SHA-256", "SCRAM-SHA-1"]);
    let reply = plain(&mut w, conn, "juliet", "pw");
    assert!(reply.find_child("invalid-mechanism", ns::SASL).is_some(), "{}", xml(&reply));
}

#[test]
fn plain_over_tls_is_checked_against_the_stored_keys() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "s3cret");
    let (conn, _) = w.secure_stream();
    assert!(plain(&mut w, conn, "juliet", "wrong").find_child("not-authorized", ns::SASL).is_some());
    assert_eq!(plain(&mut w, conn, "juliet", "s3cret").name(), "success");
    // An account with SHA-1 keys only still works.
    w.store.record("juliet@example.com").creds.sha256 = None;
    let (conn, _) = w.secure_stream();
    assert_eq!(plain(&mut w, conn, "Juliet", "s3cret").name(), "success");
}

#[test]
fn wrong_password_gets_not_authorized_and_the_source_is_throttled() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let bad = || ScramClient::new(Hash::Sha256, "juliet", "nope", "n", &[]);
    let (conn, _) = w.secure_stream();
    for attempt in 1..=3 {
        let outcome = w.scram(conn, "SCRAM-SHA-256", bad());
        assert_eq!(xml(&outcome), "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>", "attempt {attempt}");
    }
    // Three failures on one stream close it (RFC 6120 §6.4.5).
    let error = w.expect(conn, "error");
    assert!(error.find_child("policy-violation", ns::STREAM_ERRORS).is_some());
    assert!(w.client(conn).closed);
    let failures = w.events.iter().filter(|e| matches!(e, Event::AuthFailed { user: Some(u), .. } if u == "juliet")).count();
    assert_eq!(failures, 3);

    // Two more failures exhaust the source's budget of five...
    let (conn, _) = w.secure_stream();
    w.scram(conn, "SCRAM-SHA-256", bad());
    w.scram(conn, "SCRAM-SHA-256", bad());
    let ip = "192.0.2.1".parse().unwrap();
    assert!(w.server.is_auth_throttled(ip, w.now));
    // ...after which even the right password is refused without a lookup.
    let (conn, _) = w.secure_stream();
    let good = || ScramClient::new(Hash::Sha256, "juliet", "pw", "n", &[]);
    let outcome = w.scram(conn, "SCRAM-SHA-256", good());
    assert!(outcome.find_child("not-authorized", ns::SASL).is_some());
    assert!(xml(&outcome).contains("Too many failed authentication attempts"));
    // Another source is not affected; the throttled one recovers with time.
    w.advance(11);
    let (conn, _) = w.secure_stream();
    assert_eq!(w.scram(conn, "SCRAM-SHA-256", good()).name(), "success");
}

#[test]
fn an_unknown_user_fails_exactly_like_a_wrong_password() {
    let mut w = World::new();
    let salts: Vec<String> = (0..2)
        .map(|_| {
            let (conn, _) = w.secure_stream();
            let first = B64.encode("n,,n=nobody,r=abcdefgh");
            w.send(conn, &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>{first}</auth>"));
            let challenge = w.expect(conn, "challenge");
            let sf = String::from_utf8(B64.decode(challenge.text_content().as_bytes()).unwrap()).unwrap();
            sf.split(',').find(|a| a.starts_with("s=")).unwrap().to_owned()
        })
        .collect();
    assert_eq!(salts[0], salts[1], "a stable fake salt does not reveal the account is missing");
    let (conn, _) = w.secure_stream();
    let outcome = w.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "nobody", "pw", "n", &[]));
    assert_eq!(xml(&outcome), "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
}

#[test]
fn resource_conflict_gives_the_new_session_another_resource() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let first = w.login("juliet@example.com", "pw", "balcony");
    let (second, _) = w.secure_stream();
    w.scram(second, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "juliet", "pw", "n", &[]));
    let jid = w.bind(second, "balcony");
    assert_eq!(jid.bare().to_string(), "juliet@example.com");
    assert_ne!(jid.resource(), Some("balcony"));
    assert!(!w.client(first).closed);
    assert_eq!(w.server.session_count(), 2);
}

#[test]
fn kick_old_policy_replaces_the_old_session_with_a_conflict_error() {
    let mut w = World::with_config(CoreConfig { resource_conflict: ConflictPolicy::KickOld, ..CoreConfig::default() });
    w.store.add_user("juliet@example.com", "pw");
    let first = w.login("juliet@example.com", "pw", "balcony");
    let (second, _) = w.secure_stream();
    w.scram(second, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "juliet", "pw", "n", &[]));
    assert_eq!(w.bind(second, "balcony").to_string(), "juliet@example.com/balcony");
    let error = w.expect(first, "error");
    assert!(error.find_child("conflict", ns::STREAM_ERRORS).is_some());
    assert!(w.client(first).closed);
    assert_eq!(w.server.session_count(), 1);
}

#[test]
fn binding_without_a_resource_generates_one() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let (conn, _) = w.secure_stream();
    w.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "juliet", "pw", "n", &[]));
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    let bound = w.expect(conn, "iq");
    let text = xml(&bound);
    assert!(text.contains("<jid>juliet@example.com/"), "{text}");
}
