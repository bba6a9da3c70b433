//! Offline storage (XEP-0160) scenarios, including durability: nothing is
//! acknowledged before the storage confirmed it.

use xmppd::core::CoreConfig;

use crate::harness::*;

fn romeo_and_offline_juliet(config: CoreConfig) -> (World, xmppd::core::ConnId) {
    let mut w = World::with_config(config);
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    (w, romeo)
}

#[test]
fn messages_to_offline_users_are_stored_and_delivered_at_login_with_a_delay_stamp() {
    let (mut w, romeo) = romeo_and_offline_juliet(CoreConfig::default());
    w.send(romeo, "<message to='juliet@example.com' type='chat' id='m1'><body>Wherefore art thou?</body></message>");
    w.send(romeo, "<message to='juliet@example.com/gone' id='m2'><body>Still there?</body></message>");
    assert!(w.take(romeo).is_empty(), "no error for stored messages");
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 2);

    // Logging in is not enough: initial presence triggers delivery.
    let juliet = w.login("juliet@example.com", "pw", "balcony");
    assert!(w.take(juliet).is_empty());
    w.send(juliet, "<presence/>");
    let inbox = w.take(juliet);
    let msgs: Vec<_> = of_kind(&inbox, "message").collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].attribute("id"), Some("m1"));
    assert!(
        xml(msgs[0]).contains("<delay xmlns='urn:xmpp:delay' from='example.com' stamp='2023-11-14T22:13:20Z'/>"),
        "{}",
        xml(msgs[0])
    );
    assert_eq!(msgs[0].attribute("from"), Some("romeo@example.com/orchard"));
    assert!(w.store.record("juliet@example.com").offline.is_empty(), "deleted once delivered");
}

#[test]
fn negative_priority_sessions_do_not_take_offline_messages() {
    let (mut w, romeo) = romeo_and_offline_juliet(CoreConfig::default());
    w.send(romeo, "<message to='juliet@example.com' id='m1'><body>hi</body></message>");
    let juliet = w.login("juliet@example.com", "pw", "bot");
    w.send(juliet, "<presence><priority>-1</priority></presence>");
    assert_eq!(of_kind(&w.take(juliet), "message").count(), 0);
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 1);
    // A later message still goes offline: a negative priority takes none.
    w.send(romeo, "<message to='juliet@example.com' id='m2'><body>hi</body></message>");
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 2);
}

#[test]
fn a_full_offline_queue_bounces_with_service_unavailable() {
    let mut config = CoreConfig::default();
    config.limits.offline_queue = 2;
    let (mut w, romeo) = romeo_and_offline_juliet(config);
    for i in 0..3 {
        w.send(romeo, &format!("<message to='juliet@example.com' id='m{i}'><body>{i}</body></message>"));
    }
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 2);
    let back = w.expect(romeo, "message");
    assert_eq!((back.attribute("id"), back.attribute("type")), (Some("m2"), Some("error")));
    assert!(xml(&back).contains("<service-unavailable"));
}

#[test]
fn a_failed_store_bounces_the_message_instead_of_losing_it() {
    let (mut w, romeo) = romeo_and_offline_juliet(CoreConfig::default());
    w.store.fail_writes = true;
    w.send(romeo, "<message to='juliet@example.com' id='m1'><body>hi</body></message>");
    let back = w.expect(romeo, "message");
    assert_eq!(back.attribute("type"), Some("error"));
    assert!(w.store.record("juliet@example.com").offline.is_empty());
}

#[test]
fn stream_management_acknowledges_an_offline_message_only_once_stored() {
    let (mut w, romeo) = romeo_and_offline_juliet(CoreConfig::default());
    w.send(romeo, "<enable xmlns='urn:xmpp:sm:3'/>");
    w.expect(romeo, "enabled");
    w.hold_storage = true;
    w.send(romeo, "<message to='juliet@example.com' id='m1'><body>hi</body></message>");
    w.send(romeo, "<r xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(w.expect(romeo, "a").attribute("h"), Some("0"), "not yet durable");
    // First the account loads, then the store is requested...
    w.release_storage();
    w.send(romeo, "<r xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(w.expect(romeo, "a").attribute("h"), Some("0"));
    assert!(w.held.iter().any(|(_, r)| matches!(r, xmppd::core::StorageRequest::StoreOffline { .. })));
    // ...and only its confirmation makes the message count as handled.
    w.release_storage();
    w.send(romeo, "<r xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(w.expect(romeo, "a").attribute("h"), Some("1"));
}

#[test]
fn offline_messages_delivered_under_stream_management_are_deleted_on_ack() {
    let (mut w, romeo) = romeo_and_offline_juliet(CoreConfig::default());
    w.send(romeo, "<message to='juliet@example.com' id='m1'><body>hi</body></message>");
    let juliet = w.login("juliet@example.com", "pw", "balcony");
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    w.expect(juliet, "enabled");
    w.send(juliet, "<presence/>");
    assert_eq!(of_kind(&w.take(juliet), "message").count(), 1);
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 1, "kept until acknowledged");
    // The connection dies unacknowledged and the session times out: the
    // message is still in storage for the next login.
    w.server.handle_connection_closed(juliet, w.now);
    w.advance(301);
    assert_eq!(w.server.session_count(), 1, "only Romeo is left");
    assert_eq!(w.store.record("juliet@example.com").offline.len(), 1);
    let juliet = w.login("juliet@example.com", "pw", "balcony");
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3'/>");
    w.send(juliet, "<presence/>");
    assert_eq!(of_kind(&w.take(juliet), "message").count(), 1);
    w.send(juliet, "<a xmlns='urn:xmpp:sm:3' h='1'/>");
    assert!(w.store.record("juliet@example.com").offline.is_empty());
}
