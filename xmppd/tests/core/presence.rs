//! Presence scenarios (RFC 6121 §4): probes, broadcasts, directed presence,
//! unavailable on disconnect, and several hosted domains.

use xmppd::core::{RosterItem, Subscription};

use crate::harness::*;

fn mutual(w: &mut World, a: &str, b: &str) {
    for (owner, contact) in [(a, b), (b, a)] {
        let mut item = RosterItem::new(jid(contact));
        item.subscription = Subscription::Both;
        w.store.record(owner).roster.insert(jid(contact), item);
    }
}

fn available_from<'a>(inbox: &'a [rtc_xmlstream::Element], from: &str) -> Option<&'a rtc_xmlstream::Element> {
    of_kind(inbox, "presence").find(|p| p.attribute("from") == Some(from) && p.attribute("type").is_none())
}

#[test]
fn initial_presence_probes_contacts_and_disconnects_are_broadcast() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    mutual(&mut w, "romeo@example.com", "juliet@example.com");
    let juliet = w.login("juliet@example.com", "pw", "balcony");
    w.send(juliet, "<presence><show>away</show><status>On the balcony</status></presence>");
    w.take(juliet);

    let romeo = w.login("romeo@example.com", "pw", "orchard");
    w.send(romeo, "<presence/>");
    let rin = w.take(romeo);
    let seen = available_from(&rin, "juliet@example.com/balcony").expect("probe answered");
    assert!(xml(seen).contains("<status>On the balcony</status>"));
    assert_eq!(seen.attribute("to"), Some("romeo@example.com/orchard"));
    assert!(available_from(&w.take(juliet), "romeo@example.com/orchard").is_some(), "broadcast");

    // The transport fails (no stream management): Juliet is told.
    w.server.handle_connection_closed(romeo, w.now);
    w.pump();
    let jin = w.take(juliet);
    assert!(of_kind(&jin, "presence").any(|p| p.attribute("type") == Some("unavailable") && p.attribute("from") == Some("romeo@example.com/orchard")));
}

#[test]
fn directed_presence_is_followed_by_unavailable_at_logout() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("nurse@example.com", "pw");
    let nurse = w.online("nurse@example.com", "kitchen", 0);
    let juliet = w.online("juliet@example.com", "balcony", 0);
    w.take(nurse);
    w.send(juliet, "<presence to='nurse@example.com'><show>chat</show></presence>");
    assert!(available_from(&w.take(nurse), "juliet@example.com/balcony").is_some());
    // Updates without 'to' go to subscribers only, not to directed recipients.
    w.send(juliet, "<presence><show>away</show></presence>");
    assert!(w.take(nurse).is_empty());
    w.send(juliet, "</stream:stream>");
    let nin = w.take(nurse);
    assert!(of_kind(&nin, "presence").any(|p| p.attribute("type") == Some("unavailable")));
}

#[test]
fn a_users_resources_see_each_other() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let a = w.online("juliet@example.com", "a", 0);
    let b = w.online("juliet@example.com", "b", 0);
    assert!(available_from(&w.take(a), "juliet@example.com/b").is_some());
    assert!(available_from(&w.take(b), "juliet@example.com/a").is_some());
    w.send(b, "<presence type='unavailable'/>");
    assert!(of_kind(&w.take(a), "presence").any(|p| p.attribute("type") == Some("unavailable")));
}

#[test]
fn a_presence_priority_out_of_range_is_a_bad_request() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let conn = w.login("juliet@example.com", "pw", "balcony");
    w.send(conn, "<presence><priority>1000</priority></presence>");
    let err = w.expect(conn, "presence");
    assert_eq!(err.attribute("type"), Some("error"));
    assert!(xml(&err).contains("<bad-request"));
}

#[test]
fn users_of_two_hosted_domains_talk_without_federation() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("romeo@example.net", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    let romeo = w.online("romeo@example.net", "orchard", 0);
    w.take(juliet);
    w.send(romeo, "<message to='juliet@example.com' type='chat'><body>from .net</body></message>");
    let m = w.expect(juliet, "message");
    assert_eq!(m.attribute("from"), Some("romeo@example.net/orchard"));
    // A stream may not switch domains after authentication.
    let (conn, _) = w.secure_stream_to("example.net");
    w.scram(conn, "SCRAM-SHA-256", crate::scram_client::ScramClient::new(crate::scram_client::Hash::Sha256, "romeo", "pw", "n", &[]));
    w.send(conn, &header("example.com"));
    assert!(w.expect(conn, "error").find_child("host-unknown", rtc_xmlstream::ns::STREAM_ERRORS).is_some());
}
