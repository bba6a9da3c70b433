//! Keepalives, pings, timeouts and byte-rate throttling on the virtual clock.

use rtc_xmlstream::ns;
use xmppd::core::{CoreConfig, Event};

use crate::harness::*;

fn juliet() -> (World, xmppd::core::ConnId) {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let conn = w.login("juliet@example.com", "pw", "balcony");
    (w, conn)
}

#[test]
fn idle_clients_are_pinged_and_dropped_when_silent() {
    let (mut w, conn) = juliet();
    w.advance(299);
    assert!(w.take(conn).is_empty());
    w.advance(1);
    let ping = w.expect(conn, "iq");
    assert_eq!(ping.attribute("type"), Some("get"));
    assert_eq!(ping.attribute("from"), Some("example.com"));
    assert!(ping.find_child("ping", "urn:xmpp:ping").is_some());
    w.advance(59);
    assert!(!w.client(conn).closed);
    w.advance(1);
    let error = w.expect(conn, "error");
    assert!(error.find_child("connection-timeout", ns::STREAM_ERRORS).is_some());
    assert!(w.client(conn).closed);
    assert_eq!(w.server.session_count(), 0);
}

#[test]
fn any_traffic_answers_a_ping_even_a_whitespace_keepalive() {
    let (mut w, conn) = juliet();
    w.advance(300);
    let ping = w.expect(conn, "iq");
    w.advance(30);
    w.send(conn, " ");
    w.advance(100);
    assert!(!w.client(conn).closed);
    // The pong itself is accepted silently.
    let id = ping.attribute("id").unwrap();
    w.send(conn, &format!("<iq type='result' id='{id}' to='example.com'/>"));
    assert!(w.take(conn).is_empty());
    // Idle again: the next ping comes 300 s after the last traffic.
    w.advance(299);
    assert!(w.take(conn).is_empty());
    w.advance(1);
    w.expect(conn, "iq");
}

#[test]
fn client_pings_are_answered() {
    let (mut w, conn) = juliet();
    w.send(conn, "<iq type='get' id='c1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>");
    let pong = w.expect(conn, "iq");
    assert_eq!(xml(&pong), "<iq xmlns='jabber:client' type='result' id='c1' to='juliet@example.com/balcony' from='example.com'/>");
    w.send(conn, "<iq type='get' id='c2'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_eq!(w.expect(conn, "iq").attribute("type"), Some("result"));
}

#[test]
fn a_fast_sender_is_paused_until_its_byte_budget_recovers() {
    let mut config = CoreConfig::default();
    config.limits.c2s_bytes_per_second = 100;
    config.limits.c2s_burst_seconds = 2;
    let mut w = World::with_config(config);
    let conn = w.connect();
    w.send(conn, &header(DOMAIN));
    assert!(!w.client(conn).paused, "a header fits the 200-byte burst");
    w.send(conn, &" ".repeat(350));
    assert!(w.client(conn).paused);
    assert!(w.events.contains(&Event::PauseReading { conn }));
    // 200 + 100/s - (header + 350) bytes: the debt is repaid in ~3 s.
    w.advance(2);
    assert!(w.client(conn).paused);
    w.advance(2);
    assert!(!w.client(conn).paused);
    assert!(w.events.contains(&Event::ResumeReading { conn }));
}

#[test]
fn reading_pauses_while_credentials_are_looked_up() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let (conn, _) = w.secure_stream();
    w.hold_storage = true;
    w.send(conn, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>");
    assert!(w.client(conn).paused);
    // Bytes that still arrive wait in the parser until the answer is in.
    w.send(conn, "  ");
    assert!(w.take(conn).is_empty());
    w.release_storage();
    assert!(!w.client(conn).paused);
    w.expect(conn, "success");
}
