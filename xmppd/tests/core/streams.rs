//! Stream-level scenarios: headers, stream errors, STARTTLS, direct TLS,
//! connection limits.

use std::net::{IpAddr, Ipv4Addr};

use rtc_xmlstream::ns;
use xmppd::core::{CoreConfig, Event, Listener, Refused};

use crate::harness::*;

fn stream_error(w: &mut World, conn: xmppd::core::ConnId) -> String {
    let e = w.expect(conn, "error");
    assert!(w.client(conn).closed, "the stream is closed after an error");
    let name = e.children().next().map(|c| c.name().to_owned());
    name.unwrap_or_default()
}

#[test]
fn streams_to_unhosted_or_disabled_domains_get_host_unknown() {
    for to in ["other.example", "disabled.example"] {
        let mut w = World::new();
        let conn = w.connect();
        w.send(conn, &header(to));
        let raw = String::from_utf8(w.client(conn).raw.clone()).unwrap();
        assert!(raw.starts_with("<?xml version='1.0'?><stream:stream"), "header before the error");
        assert_eq!(stream_error(&mut w, conn), "host-unknown");
        assert!(raw.ends_with("</stream:stream>"));
    }
}

#[test]
fn wrong_namespace_and_old_versions_are_refused() {
    let mut w = World::new();
    let conn = w.connect();
    w.send(conn, "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>");
    assert_eq!(stream_error(&mut w, conn), "invalid-namespace");
    let conn = w.connect();
    w.send(conn, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com'>");
    assert_eq!(stream_error(&mut w, conn), "unsupported-version");
}

#[test]
fn malformed_xml_is_a_not_well_formed_stream_error() {
    let mut w = World::new();
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, "<a><b></a>");
    assert_eq!(stream_error(&mut w, conn), "not-well-formed");
}

#[test]
fn oversized_stanzas_before_authentication_are_a_policy_violation() {
    let mut w = World::new();
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, &format!("<message><body>{}</body></message>", "x".repeat(10_001)));
    assert_eq!(stream_error(&mut w, conn), "policy-violation");
}

#[test]
fn stanzas_before_authentication_are_not_authorized() {
    let mut w = World::new();
    let (conn, _) = w.secure_stream();
    w.send(conn, "<message to='romeo@example.com'><body>hi</body></message>");
    assert_eq!(stream_error(&mut w, conn), "not-authorized");
}

#[test]
fn plaintext_pipelined_after_starttls_is_not_trusted() {
    let mut w = World::new();
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='get'/>");
    w.expect(conn, "proceed");
    assert!(!w.events.contains(&Event::StartTls { conn }), "no handshake on a tainted stream");
    assert!(w.client(conn).closed);
}

#[test]
fn whitespace_after_starttls_is_not_an_injection() {
    // go-xmpp (go-sendxmpp) ends every element with a newline.
    let mut w = World::new();
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\r\n");
    w.expect(conn, "proceed");
    assert!(w.events.contains(&Event::StartTls { conn }));
    assert!(!w.client(conn).closed);
}

#[test]
fn whitespace_before_the_restarted_stream_header_is_skipped() {
    // Newline after </auth> in the same segment, or in the next one, then a
    // header with its XML declaration (go-xmpp over direct TLS).
    for split in [false, true] {
        let mut w = World::new();
        w.store.add_user("juliet@example.com", "pw");
        let (conn, _) = w.secure_stream();
        let token = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "\0juliet\0pw");
        let auth = format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>\n");
        if split {
            w.send(conn, &auth);
            w.expect(conn, "success");
            w.send(conn, " \n");
            w.send(conn, &header(DOMAIN));
        } else {
            w.send(conn, &format!("{auth}{}", header(DOMAIN)));
            w.expect(conn, "success");
        }
        let features = w.expect(conn, "features");
        assert!(features.find_child("bind", ns::BIND).is_some(), "split={split}");
    }
}

#[test]
fn direct_tls_offers_authentication_at_once() {
    let mut w = World::new();
    let conn = w.connect_from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), Listener::DirectTls).unwrap();
    w.tls(conn, World::cb_info());
    w.send(conn, &header(DOMAIN));
    let features = w.expect(conn, "features");
    assert!(features.find_child("starttls", ns::TLS).is_none());
    assert!(features.find_child("mechanisms", ns::SASL).is_some());
    // STARTTLS on a TLS stream is a failure that closes it.
    w.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    w.expect(conn, "failure");
    assert!(w.client(conn).closed);
}

#[test]
fn connections_per_address_are_limited() {
    let mut config = CoreConfig::default();
    config.limits.max_connections_per_ip = 2;
    let mut w = World::with_config(config);
    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let a = w.connect_from(ip, Listener::Starttls).unwrap();
    w.connect_from(ip, Listener::Starttls).unwrap();
    assert_eq!(w.connect_from(ip, Listener::Starttls), Err(Refused::TooManyConnections));
    assert!(w.connect_from(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8)), Listener::Starttls).is_ok());
    w.server.handle_connection_closed(a, w.now);
    assert!(w.connect_from(ip, Listener::Starttls).is_ok());
}

#[test]
fn connection_floods_from_one_address_are_rate_limited() {
    let mut w = World::new();
    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
    let mut refused = 0;
    for _ in 0..40 {
        match w.connect_from(ip, Listener::Starttls) {
            Ok(conn) => w.server.handle_connection_closed(conn, w.now),
            Err(e) => {
                assert_eq!(e, Refused::RateLimited);
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 8, "burst of 32, then refused");
}

#[test]
fn clients_that_never_finish_negotiating_are_timed_out() {
    let mut w = World::new();
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.advance(59);
    assert!(!w.client(conn).closed);
    w.advance(2);
    assert_eq!(stream_error(&mut w, conn), "connection-timeout");
    assert_eq!(w.server.connection_count(), 0);
}

#[test]
fn closing_the_stream_is_answered_and_logs_the_session_out() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("romeo@example.com", "pw");
    let conn = w.login("juliet@example.com", "pw", "balcony");
    w.send(conn, "</stream:stream>");
    assert!(String::from_utf8(w.client(conn).raw.clone()).unwrap().ends_with("</stream:stream>"));
    assert!(w.client(conn).closed);
    assert_eq!(w.server.session_count(), 0);
}

#[test]
fn shutdown_tells_every_client() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let conn = w.login("juliet@example.com", "pw", "balcony");
    let other = w.connect();
    w.server.shutdown(w.now);
    w.pump();
    assert_eq!(stream_error(&mut w, conn), "system-shutdown");
    assert!(w.client(other).closed);
    assert_eq!(w.server.session_count(), 0);
}
