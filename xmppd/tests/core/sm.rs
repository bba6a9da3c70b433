//! Stream management (XEP-0198) scenarios.

use rtc_xmlstream::ns;

use crate::harness::*;
use crate::scram_client::{Hash, ScramClient};

fn pair() -> (World, xmppd::core::ConnId, xmppd::core::ConnId) {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(juliet);
    w.take(romeo);
    (w, juliet, romeo)
}

fn chat(w: &mut World, from: xmppd::core::ConnId, id: &str) {
    w.send(from, &format!("<message to='juliet@example.com/balcony' type='chat' id='{id}'><body>{id}</body></message>"));
}

#[test]
fn acknowledgements_count_stanzas_in_both_directions() {
    let (mut w, juliet, romeo) = pair();
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    let enabled = w.expect(juliet, "enabled");
    assert_eq!(enabled.attribute("resume"), Some("true"));
    assert_eq!(enabled.attribute("max"), Some("300"));
    assert!(enabled.attribute("id").is_some_and(|id| id.len() >= 16));
    // Inbound: stanzas count, nonzas do not.
    w.send(juliet, "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
    w.send(juliet, "<presence><show>away</show></presence>");
    w.send(juliet, "<r xmlns='urn:xmpp:sm:3'/>");
    let inbox = w.take(juliet);
    assert_eq!(xml(inbox.last().unwrap()), "<a xmlns='urn:xmpp:sm:3' h='2'/>");
    // Outbound: the server asks for an ack after five stanzas (the ping
    // result and four messages), then again five later.
    for i in 0..9 {
        chat(&mut w, romeo, &format!("m{i}"));
    }
    let inbox = w.take(juliet);
    let names: Vec<&str> = inbox.iter().map(|e| e.name()).collect();
    assert_eq!(names[..6], ["message", "message", "message", "message", "r", "message"]);
    assert_eq!(inbox.iter().filter(|e| e.name() == "r").count(), 1, "one request outstanding at a time");
    w.send(juliet, "<a xmlns='urn:xmpp:sm:3' h='10'/>");
    chat(&mut w, romeo, "m9");
    w.take(juliet);
    w.send(juliet, "<a xmlns='urn:xmpp:sm:3' h='11'/>");
    assert!(!w.client(juliet).closed);
    // Acknowledging more than was sent is an error.
    w.send(juliet, "<a xmlns='urn:xmpp:sm:3' h='15'/>");
    assert!(w.expect(juliet, "error").find_child("undefined-condition", ns::STREAM_ERRORS).is_some());
}

#[test]
fn enabling_twice_fails() {
    let (mut w, juliet, _) = pair();
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3'/>");
    w.expect(juliet, "enabled");
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(
        xml(&w.expect(juliet, "failed")),
        "<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    );
}

#[test]
fn a_resumed_session_gets_the_unacknowledged_stanzas_again() {
    let (mut w, juliet, romeo) = pair();
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    let previd = w.expect(juliet, "enabled").attribute("id").unwrap().to_owned();
    w.send(juliet, "<message to='romeo@example.com' id='j1'><body>x</body></message>");
    chat(&mut w, romeo, "m1");
    chat(&mut w, romeo, "m2");
    chat(&mut w, romeo, "m3");
    w.take(juliet);
    w.send(juliet, "<a xmlns='urn:xmpp:sm:3' h='1'/>");
    // The connection drops; the session waits, and keeps taking messages.
    w.server.handle_connection_closed(juliet, w.now);
    w.pump();
    chat(&mut w, romeo, "m4");
    assert!(of_kind(&w.take(romeo), "presence").next().is_none(), "no unavailable while resumable");
    assert_eq!(w.server.session_count(), 2);
    w.advance(100);

    let (conn, _) = w.secure_stream();
    w.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "juliet", "pw", "n", &[]));
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, &format!("<resume xmlns='urn:xmpp:sm:3' previd='{previd}' h='1'/>"));
    let resumed = w.expect(conn, "resumed");
    assert_eq!(resumed.attribute("previd"), Some(previd.as_str()));
    assert_eq!(resumed.attribute("h"), Some("1"), "the server handled Juliet's one message");
    let again: Vec<_> = w.take(conn).into_iter().filter(|e| e.name() == "message").collect();
    let ids: Vec<_> = again.iter().filter_map(|m| m.attribute("id")).collect();
    assert_eq!(ids, ["m2", "m3", "m4"]);
    // The session lives on under the new connection.
    chat(&mut w, romeo, "m5");
    assert_eq!(of_kind(&w.take(conn), "message").count(), 1);
    assert_eq!(w.server.session_count(), 2);
}

#[test]
fn resumption_needs_the_same_account() {
    let (mut w, juliet, _) = pair();
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    let previd = w.expect(juliet, "enabled").attribute("id").unwrap().to_owned();
    w.server.handle_connection_closed(juliet, w.now);
    let (conn, _) = w.secure_stream();
    w.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, "romeo", "pw", "n", &[]));
    w.send(conn, &header(DOMAIN));
    w.expect(conn, "features");
    w.send(conn, &format!("<resume xmlns='urn:xmpp:sm:3' previd='{previd}' h='0'/>"));
    assert!(xml(&w.expect(conn, "failed")).contains("item-not-found"));
}

#[test]
fn unacknowledged_messages_go_offline_when_resumption_times_out() {
    let (mut w, juliet, romeo) = pair();
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    w.expect(juliet, "enabled");
    chat(&mut w, romeo, "m1");
    w.send(romeo, "<iq to='juliet@example.com/balcony' type='get' id='q1'><query xmlns='jabber:iq:version'/></iq>");
    w.take(juliet);
    w.server.handle_connection_closed(juliet, w.now);
    w.advance(299);
    assert!(w.store.record("juliet@example.com").offline.is_empty());
    w.advance(2);
    // The message was never acknowledged: it is stored, not lost.
    let offline = &w.store.record("juliet@example.com").offline;
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0].1.attribute("id"), Some("m1"));
    // The IQ cannot be answered any more: its sender gets an error.
    let back = w.take(romeo);
    assert!(of_kind(&back, "iq").any(|i| i.attribute("id") == Some("q1") && i.attribute("type") == Some("error")));
    assert_eq!(w.server.session_count(), 1);
}

#[test]
fn too_many_unacknowledged_stanzas_end_the_stream_without_losing_them() {
    let mut config = xmppd::core::CoreConfig::default();
    config.limits.sm_max_unacked = 3;
    let mut w = World::with_config(config);
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3'/>");
    w.take(juliet);
    for i in 0..4 {
        chat(&mut w, romeo, &format!("m{i}"));
    }
    let inbox = w.take(juliet);
    assert_eq!(of_kind(&inbox, "message").count(), 3, "the fourth is not written to a dying stream");
    assert!(inbox.iter().any(|e| xml(e).contains("<resource-constraint")));
    assert!(w.client(juliet).closed);
    // All four went to offline storage instead.
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 4);
}
