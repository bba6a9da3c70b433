//! Feature scenarios: carbons, blocking, vCard, private storage, roster
//! versioning, CSI, disco/version/time.

use crate::harness::*;

fn two() -> (World, xmppd::core::ConnId, xmppd::core::ConnId) {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    let juliet = w.online("juliet@example.com", "balcony", 1);
    w.take(romeo);
    w.take(juliet);
    (w, romeo, juliet)
}

fn ids(inbox: &[rtc_xmlstream::Element]) -> Vec<String> {
    of_kind(inbox, "message").map(xml).collect()
}

#[test]
fn carbons_copy_sent_and_received_chats_to_other_enabled_resources() {
    let (mut w, romeo, juliet) = two();
    let phone = w.online("juliet@example.com", "phone", 0);
    let laptop = w.online("juliet@example.com", "laptop", 0);
    w.take(phone);
    w.send(phone, "<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
    assert_eq!(w.expect_result(phone), "c");
    w.take(juliet);
    w.take(laptop);
    // Romeo writes to Juliet's balcony resource: the phone gets a copy.
    w.send(romeo, "<message to='juliet@example.com/balcony' type='chat' id='in1'><body>hi</body></message>");
    let copy = w.take(phone);
    let copy = ids(&copy);
    assert_eq!(copy.len(), 1);
    assert!(copy[0].starts_with("<message xmlns='jabber:client' from='juliet@example.com' to='juliet@example.com/phone' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'"), "{}", copy[0]);
    assert!(w.take(laptop).is_empty(), "carbons are opt-in");
    // Juliet answers from the balcony: the phone gets a 'sent' copy.
    w.send(juliet, "<message to='romeo@example.com' type='chat' id='out1'><body>hello</body></message>");
    let copy = ids(&w.take(phone));
    assert!(copy[0].contains("<sent xmlns='urn:xmpp:carbons:2'>") && copy[0].contains("id='out1'"));
    // Private messages and non-chat types are not copied.
    w.send(juliet, "<message to='romeo@example.com' type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>");
    w.send(romeo, "<message to='juliet@example.com/balcony' type='headline'><body>news</body></message>");
    assert!(w.take(phone).is_empty());
    // Disabling stops the copies.
    w.send(phone, "<iq type='set' id='d'><disable xmlns='urn:xmpp:carbons:2'/></iq>");
    w.expect_result(phone);
    w.send(juliet, "<message to='romeo@example.com' type='chat'><body>again</body></message>");
    assert!(w.take(phone).is_empty());
}

#[test]
fn blocked_contacts_cannot_reach_the_user_and_get_nothing() {
    let (mut w, romeo, juliet) = two();
    w.send(juliet, "<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
    assert_eq!(xml(&w.expect(juliet, "iq")), "<iq xmlns='jabber:client' type='result' id='bl' to='juliet@example.com/balcony'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
    w.send(juliet, "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@example.com'/></block></iq>");
    let inbox = w.take(juliet);
    assert!(inbox.iter().any(|e| xml(e).contains("<block xmlns='urn:xmpp:blocking'><item jid='romeo@example.com'/></block>")), "push");
    assert!(inbox.iter().any(|e| e.attribute("id") == Some("b1") && e.attribute("type") == Some("result")));
    assert_eq!(w.store.record("juliet@example.com").blocklist, vec![jid("romeo@example.com")]);
    // Romeo's message is refused, his IQ too; his presence is dropped.
    w.send(romeo, "<message to='juliet@example.com' type='chat' id='m'><body>?</body></message>");
    w.send(romeo, "<iq to='juliet@example.com/balcony' type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>");
    w.send(romeo, "<presence to='juliet@example.com'/>");
    assert!(w.take(juliet).is_empty());
    let back = w.take(romeo);
    assert_eq!(back.iter().filter(|e| xml(e).contains("<service-unavailable")).count(), 2);
    // Juliet cannot write to him either, and learns why.
    w.send(juliet, "<message to='romeo@example.com/orchard' id='x'><body>!</body></message>");
    let err = w.expect(juliet, "message");
    assert!(xml(&err).contains("<not-acceptable") && xml(&err).contains("<blocked xmlns='urn:xmpp:blocking:errors'/>"));
    assert!(w.take(romeo).is_empty());
    // Unblocking everything restores delivery.
    w.send(juliet, "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>");
    w.take(juliet);
    w.send(romeo, "<message to='juliet@example.com' type='chat'><body>!</body></message>");
    assert_eq!(of_kind(&w.take(juliet), "message").count(), 1);
    assert!(w.store.record("juliet@example.com").blocklist.is_empty());
}

#[test]
fn vcards_round_trip_and_announce_the_avatar_hash() {
    let (mut w, romeo, juliet) = two();
    w.send(juliet, "<iq type='get' id='v0'><vCard xmlns='vcard-temp'/></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<vCard xmlns='vcard-temp'/>"), "empty when unset");
    let vcard = "<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>YWJj</BINVAL></PHOTO></vCard>";
    w.send(juliet, &format!("<iq type='set' id='v1'>{vcard}</iq>"));
    assert_eq!(w.expect_result(juliet), "v1");
    w.send(juliet, "<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<FN>Juliet Capulet</FN>"));
    // Anyone can read it, answered from her bare JID.
    w.send(romeo, "<iq to='juliet@example.com' type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>");
    let theirs = w.expect(romeo, "iq");
    assert_eq!(theirs.attribute("from"), Some("juliet@example.com"));
    assert!(xml(&theirs).contains("<FN>Juliet Capulet</FN>"));
    // Nobody else can write it.
    w.send(romeo, &format!("<iq to='juliet@example.com' type='set' id='v4'>{vcard}</iq>"));
    assert!(xml(&w.expect(romeo, "iq")).contains("<forbidden"));
    // The photo hash (SHA-1 of "abc") is added to her presence.
    let watcher = w.online("juliet@example.com", "other", 0);
    w.take(juliet);
    w.send(juliet, "<presence><show>away</show></presence>");
    let p = w.take(watcher);
    assert!(p.iter().any(|e| xml(e).contains("<x xmlns='vcard-temp:x:update'><photo>a9993e364706816aba3e25717850c26c9cd0d89d</photo></x>")));
}

#[test]
fn private_xml_is_stored_per_namespace_and_only_for_the_owner() {
    let (mut w, romeo, juliet) = two();
    w.send(juliet, "<iq type='set' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><theme>dark</theme></prefs></query></iq>");
    assert_eq!(w.expect_result(juliet), "p1");
    w.send(juliet, "<iq type='get' id='p2'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
    assert_eq!(
        xml(&w.expect(juliet, "iq")),
        "<iq xmlns='jabber:client' type='result' id='p2' to='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><theme>dark</theme></prefs></query></iq>"
    );
    w.send(juliet, "<iq type='get' id='p3'><query xmlns='jabber:iq:private'><other xmlns='urn:example:other'/></query></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<other xmlns='urn:example:other'/>"), "empty element when unset");
    w.send(juliet, "<iq type='set' id='p4'><query xmlns='jabber:iq:private'><x xmlns='jabber:client'/></query></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<not-acceptable"));
    w.send(romeo, "<iq to='juliet@example.com' type='get' id='p5'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
    assert!(xml(&w.expect(romeo, "iq")).contains("<forbidden"));
}

#[test]
fn roster_versioning_returns_nothing_when_unchanged() {
    let (mut w, _, juliet) = two();
    w.send(juliet, "<iq type='set' id='a'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' name='Nurse'><group>Household</group></item></query></iq>");
    let inbox = w.take(juliet);
    let push = inbox.iter().find(|e| e.attribute("type") == Some("set")).unwrap();
    assert!(xml(push).contains("ver='1'") && xml(push).contains("name='Nurse'") && xml(push).contains("<group>Household</group>"));
    assert!(inbox.iter().any(|e| e.attribute("id") == Some("a") && e.attribute("type") == Some("result")));
    w.send(juliet, "<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver='1'/></iq>");
    assert_eq!(xml(&w.expect(juliet, "iq")), "<iq xmlns='jabber:client' type='result' id='g1' to='juliet@example.com/balcony'/>");
    w.send(juliet, "<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='0'/></iq>");
    let full = xml(&w.expect(juliet, "iq"));
    assert!(full.contains("<query xmlns='jabber:iq:roster' ver='1'>") && full.contains("nurse@example.com"), "{full}");
    // Duplicate groups and two items are refused.
    w.send(juliet, "<iq type='set' id='bad'><query xmlns='jabber:iq:roster'><item jid='a@example.com'><group>g</group><group>g</group></item></query></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<bad-request"));
    w.send(juliet, "<iq type='set' id='bad2'><query xmlns='jabber:iq:roster'><item jid='a@example.com'/><item jid='b@example.com'/></query></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<bad-request"));
}

#[test]
fn an_inactive_client_gets_messages_at_once_and_presence_later() {
    let (mut w, romeo, juliet) = two();
    let phone = w.online("juliet@example.com", "phone", 0);
    w.take(juliet);
    w.take(phone);
    w.send(phone, "<inactive xmlns='urn:xmpp:csi:0'/>");
    w.send(juliet, "<presence><show>away</show></presence>");
    w.send(juliet, "<presence><show>dnd</show></presence>");
    assert!(w.take(phone).is_empty(), "presence held");
    w.send(romeo, "<message to='juliet@example.com/phone' type='chat'><body>wake up</body></message>");
    let got = w.take(phone);
    assert_eq!(got.len(), 2, "the latest presence is flushed before the message");
    assert!(xml(&got[0]).contains("<show>dnd</show>") && got[1].name() == "message");
    w.send(juliet, "<presence><show>xa</show></presence>");
    assert!(w.take(phone).is_empty());
    w.send(phone, "<active xmlns='urn:xmpp:csi:0'/>");
    assert!(xml(&w.expect(phone, "presence")).contains("<show>xa</show>"));
}

#[test]
fn the_server_answers_disco_version_and_time() {
    let (mut w, _, juliet) = two();
    w.send(juliet, "<iq to='example.com' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    let info = xml(&w.expect(juliet, "iq"));
    for feature in ["urn:xmpp:carbons:2", "urn:xmpp:blocking", "vcard-temp", "msgoffline", "jabber:iq:version"] {
        assert!(info.contains(&format!("var='{feature}'")), "{feature}");
    }
    assert!(info.contains("<identity category='server' type='im' name='xmppd'/>"));
    w.send(juliet, "<iq to='example.com' type='get' id='v'><query xmlns='jabber:iq:version'/></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<name>xmppd</name>"));
    w.send(juliet, "<iq to='example.com' type='get' id='t'><time xmlns='urn:xmpp:time'/></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<utc>2023-11-14T22:13:20Z</utc>"));
    w.send(juliet, "<iq to='example.com' type='get' id='x'><query xmlns='urn:example:unknown'/></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<service-unavailable"));
    w.send(juliet, "<iq to='example.com' type='get' id='bad'/>");
    assert!(xml(&w.expect(juliet, "iq")).contains("<bad-request"));
}
