//! PEP (XEP-0163) scenarios: publish-options (XEP-0223), `+notify`
//! filtering through entity capabilities (XEP-0115), access models,
//! bookmarks (XEP-0402), avatars (XEP-0084) and the vCard conversion
//! (XEP-0398).

use rtc_xmlstream::Element;
use xmppd::core::{ConnId, CoreConfig, RosterItem, Subscription};

use crate::harness::*;

const BOOKMARKS: &str = "urn:xmpp:bookmarks:1";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";

fn publish_bookmark(room: &str, name: &str) -> String {
    format!(
        "<iq type='set' id='pub-{name}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <publish node='urn:xmpp:bookmarks:1'><item id='{room}'>\
         <conference xmlns='urn:xmpp:bookmarks:1' name='{name}' autojoin='true'><nick>jc</nick></conference>\
         </item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='pubsub#persist_items'><value>true</value></field>\
         <field var='pubsub#max_items'><value>max</value></field>\
         <field var='pubsub#send_last_published_item'><value>never</value></field>\
         <field var='pubsub#access_model'><value>whitelist</value></field>\
         </x></publish-options></pubsub></iq>"
    )
}

/// XEP-0115 §5.1 `ver` of a disco#info with no identity and `features`.
fn ver_of(features: &[&str]) -> String {
    use base64::Engine;
    use sha1::Digest;
    let mut sorted = features.to_vec();
    sorted.sort_unstable();
    let s: String = sorted.iter().map(|f| format!("{f}<")).collect();
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(s.as_bytes()))
}

/// Send available presence with the caps of `features` and answer the
/// server's disco#info query (if it asks); returns what else arrived.
fn caps_presence(w: &mut World, conn: ConnId, features: &[&str]) -> Vec<Element> {
    caps_presence_answering(w, conn, &ver_of(features), features)
}

fn caps_presence_answering(
    w: &mut World,
    conn: ConnId,
    ver: &str,
    features: &[&str],
) -> Vec<Element> {
    w.send(conn, &format!("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://slixmpp.example' ver='{ver}'/></presence>"));
    let all = w.take(conn);
    let Some(query) = of_kind(&all, "iq").find(|iq| xml(iq).contains("disco#info")) else {
        return all; // the ver was known already
    };
    let id = query.attribute("id").unwrap().to_owned();
    let vars: String = features
        .iter()
        .map(|f| format!("<feature var='{f}'/>"))
        .collect();
    w.send(conn, &format!("<iq type='result' id='{id}' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='https://slixmpp.example#{ver}'>{vars}</query></iq>"));
    let mut rest: Vec<Element> = all
        .into_iter()
        .filter(|e| !xml(e).contains("disco#info"))
        .collect();
    rest.extend(w.take(conn));
    rest
}

fn events(all: &[Element]) -> Vec<String> {
    of_kind(all, "message")
        .filter(|m| m.find_child("event", EVENT).is_some())
        .map(xml)
        .collect()
}

fn both(w: &mut World, owner: &str, contact: &str) {
    let mut item = RosterItem::new(jid(contact));
    item.subscription = Subscription::Both;
    w.store.record(owner).roster.insert(jid(contact), item);
}

#[test]
fn a_bookmark_published_from_one_resource_reaches_the_other_and_is_stored() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let laptop = w.online("juliet@example.com", "laptop", 0);
    let phone = w.login("juliet@example.com", "pw", "phone");
    let _ = caps_presence(&mut w, phone, &["urn:xmpp:bookmarks:1+notify"]);
    w.take(laptop);
    w.send(
        laptop,
        &publish_bookmark("verona@conference.example.com", "Verona"),
    );
    assert!(xml(&w.expect(laptop, "iq")).contains("id='verona@conference.example.com'"));
    assert!(events(&w.take(laptop)).is_empty(), "no +notify, no event");
    let got = events(&w.take(phone));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("name='Verona'") && got[0].contains("from='juliet@example.com'"),
        "{}",
        got[0]
    );
    let stored = &w.store.record("juliet@example.com").pep[BOOKMARKS];
    assert_eq!((stored.0.max_items, stored.1.len()), (256, 1));

    // Items survive a restart: a new core over the same storage.
    let store = std::mem::take(&mut w.store);
    let mut w = World::new();
    w.store = store;
    let phone = w.online("juliet@example.com", "phone", 0);
    w.take(phone);
    w.send(phone, "<iq type='get' id='g'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>");
    let items = xml(&w.expect(phone, "iq"));
    assert!(
        items.contains("type='result'") && items.contains("name='Verona'"),
        "{items}"
    );
    // Publishing with other options than the node has fails (XEP-0223 §7).
    w.send(phone, "<iq type='set' id='p2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='x'><conference xmlns='urn:xmpp:bookmarks:1'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x></publish-options></pubsub></iq>");
    let err = xml(&w.expect(phone, "iq"));
    assert!(err.contains("<precondition-not-met"), "{err}");
}

const ROMEO_FEATURES: &[&str] = &[
    "urn:xmpp:bookmarks:1+notify",
    "http://jabber.org/protocol/tune+notify",
];

#[test]
fn contacts_receive_presence_access_nodes_but_never_whitelisted_ones() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("romeo@example.com", "pw");
    both(&mut w, "juliet@example.com", "romeo@example.com");
    both(&mut w, "romeo@example.com", "juliet@example.com");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    let romeo = w.login("romeo@example.com", "pw", "orchard");
    let _ = caps_presence(&mut w, romeo, ROMEO_FEATURES);
    w.take(juliet);
    w.send(juliet, "<iq type='set' id='t'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/tune'><item><tune xmlns='http://jabber.org/protocol/tune'><title>Ode</title></tune></item></publish></pubsub></iq>");
    w.send(
        juliet,
        &publish_bookmark("secret@conference.example.com", "Secret"),
    );
    let got = events(&w.take(romeo));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("<title>Ode</title>"));
    w.send(romeo, "<iq type='get' id='spy' to='juliet@example.com'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>");
    let err = xml(&w.expect(romeo, "iq"));
    assert!(
        err.contains("type='error'") && !err.contains("Secret"),
        "{err}"
    );
    w.send(romeo, "<iq type='get' id='tune' to='juliet@example.com'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/tune'/></pubsub></iq>");
    assert!(xml(&w.expect(romeo, "iq")).contains("<title>Ode</title>"));

    // A resource coming online later gets the last item.
    let second = w.login("romeo@example.com", "pw", "garden");
    let got = events(&caps_presence(&mut w, second, ROMEO_FEATURES));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("<title>Ode</title>"));
}

#[test]
fn a_vcard_photo_is_published_as_the_avatar() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    w.take(juliet);
    w.send(juliet, "<iq type='set' id='v'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>YWJj</BINVAL></PHOTO></vCard></iq>");
    w.expect_result(juliet);
    w.send(juliet, "<iq type='get' id='m'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'/></pubsub></iq>");
    let meta = xml(&w.expect(juliet, "iq"));
    assert!(
        meta.contains("id='a9993e364706816aba3e25717850c26c9cd0d89d'")
            && meta.contains("type='image/png'"),
        "{meta}"
    );
    w.send(juliet, "<iq type='get' id='d'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'/></pubsub></iq>");
    assert!(xml(&w.expect(juliet, "iq")).contains(">YWJj</data>"));
    w.send(juliet, "<iq type='get' id='i' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    let info = xml(&w.expect(juliet, "iq"));
    assert!(
        info.contains("urn:xmpp:pep-vcard-conversion:0")
            && info.contains("category='pubsub' type='pep'"),
        "{info}"
    );
}

#[test]
fn items_nodes_and_sizes_are_limited() {
    let mut config = CoreConfig::default();
    config.pep.max_nodes_per_account = 1;
    config.pep.max_item_bytes = 200;
    let mut w = World::with_config(config);
    w.store.add_user("juliet@example.com", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    w.take(juliet);
    let publish = |node: &str, text: &str| {
        format!("<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{node}'><item><x xmlns='urn:example'>{text}</x></item></publish></pubsub></iq>")
    };
    w.send(juliet, &publish("n1", "small"));
    assert!(xml(&w.expect(juliet, "iq")).contains("type='result'"));
    w.send(juliet, &publish("n2", "small"));
    assert!(xml(&w.expect(juliet, "iq")).contains("<resource-constraint"));
    w.send(juliet, &publish("n1", &"x".repeat(300)));
    assert!(xml(&w.expect(juliet, "iq")).contains("<payload-too-big"));
    // Retract and delete.
    w.send(juliet, "<iq type='set' id='del'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='n1'/></pubsub></iq>");
    w.expect_result(juliet);
    assert!(w.store.record("juliet@example.com").pep.is_empty());
}

#[test]
fn caps_answers_that_do_not_match_their_ver_are_not_trusted() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    let laptop = w.online("juliet@example.com", "laptop", 0);
    let phone = w.login("juliet@example.com", "pw", "phone");
    // The phone claims a ver that is not the hash of what it answers.
    let _ = caps_presence_answering(&mut w, phone, "bogus=", &["urn:xmpp:bookmarks:1+notify"]);
    w.take(laptop);
    w.send(
        laptop,
        &publish_bookmark("verona@conference.example.com", "Verona"),
    );
    assert!(events(&w.take(phone)).is_empty());
}
