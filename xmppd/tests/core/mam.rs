//! Message archive (XEP-0313 with XEP-0059 paging and XEP-0359 stanza-ids)
//! and push notification (XEP-0357) scenarios.

use rtc_xmlstream::Element;
use xmppd::core::CoreConfig;

use crate::harness::*;

const MAM: &str = "urn:xmpp:mam:2";
const RSM: &str = "http://jabber.org/protocol/rsm";

fn romeo_and_juliet(config: CoreConfig) -> (World, xmppd::core::ConnId, xmppd::core::ConnId) {
    let mut w = World::with_config(config);
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    let juliet = w.online("juliet@example.com", "balcony", 0);
    w.take(romeo);
    w.take(juliet);
    (w, romeo, juliet)
}

fn query(id: &str, rsm: &str, with: Option<&str>) -> String {
    let form = with.map_or(String::new(), |w| {
        format!(
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>\
             <value>urn:xmpp:mam:2</value></field><field var='with'><value>{w}</value></field></x>"
        )
    });
    format!(
        "<iq type='set' id='{id}'><query xmlns='urn:xmpp:mam:2' queryid='q-{id}'>{form}\
         <set xmlns='http://jabber.org/protocol/rsm'>{rsm}</set></query></iq>"
    )
}

/// (bodies of the results in order, the `<fin/>`).
fn results(all: &[Element]) -> (Vec<String>, Element) {
    let bodies = of_kind(all, "message")
        .filter_map(|m| m.find_child("result", MAM))
        .filter_map(|r| r.find_child("forwarded", "urn:xmpp:forward:0"))
        .filter_map(|f| f.find_child("message", "jabber:client"))
        .filter_map(|m| {
            m.child_text("body", "jabber:client")
                .map(|b| b.into_owned())
        })
        .collect();
    let fin = of_kind(all, "iq")
        .find_map(|iq| iq.find_child("fin", MAM))
        .cloned()
        .unwrap_or_else(|| panic!("no <fin/> in {:?}", all.iter().map(xml).collect::<Vec<_>>()));
    (bodies, fin)
}

fn rsm(fin: &Element, name: &str) -> Option<String> {
    fin.find_child("set", RSM)?
        .child_text(name, RSM)
        .map(|t| t.into_owned())
}

#[test]
fn chats_are_archived_for_both_parties_and_paged_with_rsm() {
    let (mut w, romeo, juliet) = romeo_and_juliet(CoreConfig::default());
    for i in 0..5 {
        w.send(romeo, &format!("<message to='juliet@example.com' type='chat' id='m{i}'><body>b{i}</body></message>"));
    }
    // Chat states without a body are not archived.
    w.send(romeo, "<message to='juliet@example.com' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>");
    let got = w.take(juliet);
    let first = of_kind(&got, "message").next().unwrap();
    let sid = first
        .find_child("stanza-id", "urn:xmpp:sid:0")
        .expect("stanza-id on delivery");
    assert_eq!(sid.attribute("by"), Some("juliet@example.com"));
    let sid = sid.attribute("id").unwrap().to_owned();

    w.send(juliet, &query("p1", "<max>2</max>", None));
    let (bodies, fin) = results(&w.take(juliet));
    assert_eq!(bodies, ["b0", "b1"]);
    assert_eq!(fin.attribute("complete"), None);
    assert_eq!(rsm(&fin, "count").as_deref(), Some("5"));
    assert_eq!(
        rsm(&fin, "first"),
        Some(sid),
        "the archive id is the stanza-id"
    );

    let last = rsm(&fin, "last").unwrap();
    w.send(
        juliet,
        &query("p2", &format!("<max>10</max><after>{last}</after>"), None),
    );
    let (bodies, fin) = results(&w.take(juliet));
    assert_eq!(bodies, ["b2", "b3", "b4"]);
    assert_eq!(fin.attribute("complete"), Some("true"));

    // The sender's archive has them too, and the last page comes with <before/>.
    w.send(
        romeo,
        &query("p3", "<max>2</max><before/>", Some("juliet@example.com")),
    );
    let (bodies, _) = results(&w.take(romeo));
    assert_eq!(bodies, ["b3", "b4"]);
    w.send(
        romeo,
        &query("p4", "<max>2</max>", Some("nurse@example.com")),
    );
    let (bodies, fin) = results(&w.take(romeo));
    assert!(bodies.is_empty());
    assert_eq!(rsm(&fin, "count").as_deref(), Some("0"));
}

#[test]
fn archive_results_go_only_to_the_owner_and_carry_the_query_id_and_delay() {
    let (mut w, romeo, juliet) = romeo_and_juliet(CoreConfig::default());
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>hi</body></message>",
    );
    w.take(juliet);
    w.send(juliet, &query("x1", "", None));
    let all = w.take(juliet);
    let m = of_kind(&all, "message").next().unwrap();
    assert_eq!(m.attribute("from"), Some("juliet@example.com"));
    let r = m.find_child("result", MAM).unwrap();
    assert_eq!(r.attribute("queryid"), Some("q-x1"));
    assert!(
        xml(m).contains("stamp='2023-11-14T22:13:20Z'"),
        "{}",
        xml(m)
    );
    // Another user cannot read Juliet's archive.
    w.send(
        romeo,
        "<iq type='set' id='spy' to='juliet@example.com'><query xmlns='urn:xmpp:mam:2'/></iq>",
    );
    let back = w.expect(romeo, "iq");
    assert_eq!(back.attribute("type"), Some("error"));
}

#[test]
fn unknown_paging_ids_and_bad_forms_are_errors() {
    let (mut w, _romeo, juliet) = romeo_and_juliet(CoreConfig::default());
    w.send(juliet, &query("e1", "<after>nope</after>", None));
    let back = w.expect(juliet, "iq");
    assert!(xml(&back).contains("<item-not-found"), "{}", xml(&back));
    w.send(juliet, "<iq type='set' id='e2'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='start'><value>tomorrow</value></field></x></query></iq>");
    let back = w.expect(juliet, "iq");
    assert!(xml(&back).contains("<bad-request"), "{}", xml(&back));
}

#[test]
fn retention_expires_old_messages_in_batches_on_the_timer() {
    let mut config = CoreConfig::default();
    config.archive.expires_after_seconds = 100;
    config.archive.expiry_interval_seconds = 10;
    config.archive.expiry_batch = 2;
    let (mut w, romeo, juliet) = romeo_and_juliet(config);
    for i in 0..3 {
        w.send(
            romeo,
            &format!("<message to='juliet@example.com' type='chat'><body>old{i}</body></message>"),
        );
    }
    w.advance(60);
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>new</body></message>",
    );
    w.take(juliet);
    // 8 archived rows (4 per side), 6 of them soon older than 100 s.
    let left = |w: &mut World| {
        w.store.record("juliet@example.com").archive.len()
            + w.store.record("romeo@example.com").archive.len()
    };
    assert_eq!(left(&mut w), 8);
    w.advance(50);
    assert_eq!(left(&mut w), 6, "one step deletes at most a batch of 2");
    w.advance(10);
    assert_eq!(left(&mut w), 4, "the next step at the next interval");
    w.advance(1);
    assert_eq!(left(&mut w), 2, "full batches run again a second later");
    w.advance(1);
    assert_eq!(left(&mut w), 2, "recent messages stay");
    w.send(juliet, &query("r1", "", None));
    let (bodies, _) = results(&w.take(juliet));
    assert_eq!(bodies, ["new"]);
}

#[test]
fn the_per_account_cap_keeps_the_newest_messages() {
    let mut config = CoreConfig::default();
    config.archive.max_messages_per_account = 2;
    let (mut w, romeo, juliet) = romeo_and_juliet(config);
    for i in 0..4 {
        w.send(
            romeo,
            &format!("<message to='juliet@example.com' type='chat'><body>b{i}</body></message>"),
        );
    }
    w.send(juliet, &query("c1", "", None));
    let (bodies, _) = results(&w.take(juliet));
    assert_eq!(bodies, ["b2", "b3"]);
}

#[test]
fn archive_and_push_are_advertised_on_the_account() {
    let (mut w, romeo, _juliet) = romeo_and_juliet(CoreConfig::default());
    w.send(romeo, "<iq type='get' id='d1' to='romeo@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    let info = xml(&w.expect(romeo, "iq"));
    assert!(info.contains("var='urn:xmpp:mam:2'"), "{info}");
    assert!(info.contains("var='urn:xmpp:push:0'"), "{info}");
    let mut config = CoreConfig::default();
    config.archive.enabled = false;
    config.push.enabled = false;
    let (mut w, romeo, _juliet) = romeo_and_juliet(config);
    w.send(romeo, "<iq type='get' id='d1' to='romeo@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    let info = xml(&w.expect(romeo, "iq"));
    assert!(!info.contains("mam") && !info.contains("push"), "{info}");
}

const ENABLE: &str = "<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='app@example.net/push' node='dev1'>\
    <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
    <field var='secret'><value>s3cr3t</value></field></x></enable></iq>";

fn notifications(all: &[Element]) -> Vec<String> {
    of_kind(all, "iq")
        .filter(|iq| xml(iq).contains("urn:xmpp:push:summary"))
        .map(xml)
        .collect()
}

#[test]
fn push_notifies_the_app_server_for_offline_messages_and_the_registration_is_stored() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("app@example.net", "pw");
    let app = w.online("app@example.net", "push", 0);
    let juliet = w.online("juliet@example.com", "phone", 0);
    w.send(juliet, ENABLE);
    w.expect_result(juliet);
    assert_eq!(
        w.store.record("juliet@example.com").push.len(),
        1,
        "stored before the result"
    );
    w.send(juliet, "</stream:stream>");
    w.take(app);

    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>Wherefore?</body></message>",
    );
    let got = notifications(&w.take(app));
    assert_eq!(got.len(), 1, "{got:?}");
    let n = &got[0];
    assert!(n.contains("node='dev1'"), "{n}");
    assert!(
        n.contains("<value>romeo@example.com/orchard</value>"),
        "{n}"
    );
    assert!(n.contains("s3cr3t"), "publish-options are passed on: {n}");
    assert!(!n.contains("Wherefore"), "no body unless configured: {n}");
    assert!(n.contains("from='juliet@example.com'"), "{n}");

    // Disabling stops notifications.
    let juliet = w.online("juliet@example.com", "phone", 0);
    w.send(juliet, "<iq type='set' id='dis'><disable xmlns='urn:xmpp:push:0' jid='app@example.net/push'/></iq>");
    w.expect_result(juliet);
    w.send(juliet, "</stream:stream>");
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>again</body></message>",
    );
    assert!(notifications(&w.take(app)).is_empty());
    assert!(w.store.record("juliet@example.com").push.is_empty());
}

#[test]
fn push_notifies_for_inactive_sessions_and_includes_the_body_when_configured() {
    let mut config = CoreConfig::default();
    config.push.include_body = true;
    let mut w = World::with_config(config);
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("app@example.net", "pw");
    let app = w.online("app@example.net", "push", 0);
    let juliet = w.online("juliet@example.com", "phone", 0);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.send(juliet, ENABLE);
    w.take(juliet);
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>awake?</body></message>",
    );
    assert!(
        notifications(&w.take(app)).is_empty(),
        "an active session needs no push"
    );
    w.send(juliet, "<inactive xmlns='urn:xmpp:csi:0'/>");
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>asleep?</body></message>",
    );
    let got = notifications(&w.take(app));
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("<value>asleep?</value>"), "{}", got[0]);
    assert_eq!(
        of_kind(&w.take(juliet), "message").count(),
        2,
        "still delivered"
    );
}

#[test]
fn push_registrations_are_limited_per_account() {
    let mut config = CoreConfig::default();
    config.push.max_registrations_per_account = 1;
    let (mut w, romeo, _juliet) = romeo_and_juliet(config);
    w.send(
        romeo,
        "<iq type='set' id='a'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n1'/></iq>",
    );
    w.expect_result(romeo);
    w.send(
        romeo,
        "<iq type='set' id='b'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n2'/></iq>",
    );
    let back = xml(&w.expect(romeo, "iq"));
    assert!(back.contains("<resource-constraint"), "{back}");
    w.send(
        romeo,
        "<iq type='set' id='c'><enable xmlns='urn:xmpp:push:0' jid='p.example'/></iq>",
    );
    let back = xml(&w.expect(romeo, "iq"));
    assert!(back.contains("<bad-request"), "{back}");
}

#[test]
fn push_notifies_for_a_session_detached_awaiting_resumption() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("app@example.net", "pw");
    let app = w.online("app@example.net", "push", 0);
    let juliet = w.online("juliet@example.com", "phone", 0);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.send(juliet, ENABLE);
    w.send(juliet, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    w.take(juliet);
    w.server.handle_connection_closed(juliet, w.now);
    w.pump();
    w.take(app);
    w.send(
        romeo,
        "<message to='juliet@example.com' type='chat'><body>still there?</body></message>",
    );
    let got = notifications(&w.take(app));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("<value>romeo@example.com/orchard</value>"),
        "{}",
        got[0]
    );
}
