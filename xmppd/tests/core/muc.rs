//! Multi-user chat (XEP-0045, XEP-0249, XEP-0313 on rooms, XEP-0410) and
//! external components (XEP-0114).

use rtc_xmlstream::Element;
use xmppd::core::{ComponentConfig, ComponentKind, ConnId, CoreConfig, Listener, MucConfig};

use crate::harness::{of_kind, xml, World};

const MUC: &str = "conference.example.com";
const USER: &str = "http://jabber.org/protocol/muc#user";

fn config(muc: MucConfig) -> CoreConfig {
    CoreConfig {
        components: vec![
            ComponentConfig {
                domain: MUC.into(),
                kind: ComponentKind::Muc,
                secret: None,
                muc,
            },
            ComponentConfig {
                domain: "bot.example.com".into(),
                kind: ComponentKind::External,
                secret: Some("s3cret".into()),
                muc: MucConfig::default(),
            },
        ],
        ..CoreConfig::default()
    }
}

fn world_with(muc: MucConfig) -> World {
    let mut w = World::with_config(config(muc));
    for u in ["alice", "bob", "carol"] {
        w.store.add_user(&format!("{u}@example.com"), "pw");
    }
    w
}

fn world() -> World {
    world_with(MucConfig::default())
}

fn online(w: &mut World, user: &str) -> ConnId {
    let c = w.online(&format!("{user}@example.com"), "r", 0);
    w.take(c);
    c
}

/// Enter `room` as `nick` (a MUC-aware join) and return what came back.
fn join(w: &mut World, conn: ConnId, room: &str, nick: &str, extra: &str) -> Vec<Element> {
    w.send(conn, &format!("<presence to='{room}@{MUC}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>{extra}</x></presence>"));
    w.take(conn)
}

fn codes(p: &Element) -> Vec<String> {
    p.find_child("x", USER)
        .map(|x| {
            x.find_children("status", USER)
                .filter_map(|s| s.attribute("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn item_attr(p: &Element, attr: &str) -> Option<String> {
    p.find_child("x", USER)?
        .find_child("item", USER)?
        .attribute(attr)
        .map(str::to_owned)
}

fn error_condition(e: &Element) -> Option<String> {
    e.find_child("error", "jabber:client")?
        .children()
        .next()
        .map(|c| c.name().to_owned())
}

/// Alice creates `room` and accepts the default configuration (instant room).
fn create_instant(w: &mut World, alice: ConnId, room: &str) {
    let got = join(w, alice, room, "alice", "");
    let p = of_kind(&got, "presence").last().expect("own presence");
    assert!(codes(p).contains(&"201".to_owned()), "{}", xml(p));
    w.send(alice, &format!("<iq type='set' id='cfg' to='{room}@{MUC}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>"));
    w.expect_result(alice);
}

fn configure(w: &mut World, owner: ConnId, room: &str, fields: &[(&str, &str)]) {
    let fields: String = fields
        .iter()
        .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
        .collect();
    w.send(owner, &format!("<iq type='set' id='cfg2' to='{room}@{MUC}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>{fields}</x></query></iq>"));
    w.expect_result(owner);
}

#[test]
fn a_new_room_is_locked_until_its_owner_accepts_the_configuration() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    let got = join(&mut w, alice, "plans", "alice", "");
    let own = of_kind(&got, "presence").last().unwrap();
    assert_eq!(item_attr(own, "affiliation").as_deref(), Some("owner"));
    assert_eq!(item_attr(own, "role").as_deref(), Some("moderator"));
    assert!(codes(own).contains(&"110".into()) && codes(own).contains(&"201".into()));
    // Locked: others cannot enter (XEP-0045 §10.1.1).
    let got = join(&mut w, bob, "plans", "bob", "");
    assert_eq!(error_condition(&got[0]).as_deref(), Some("item-not-found"));
    // The owner fetches the form, then accepts it.
    w.send(alice, &format!("<iq type='get' id='f' to='plans@{MUC}'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>"));
    let form = w.take(alice);
    assert!(xml(&form[0]).contains("muc#roomconfig_persistentroom"));
    configure(
        &mut w,
        alice,
        "plans",
        &[("muc#roomconfig_roomname", "Plans")],
    );
    let got = join(&mut w, bob, "plans", "bob", "");
    let presences: Vec<_> = of_kind(&got, "presence").collect();
    assert_eq!(presences.len(), 2, "alice's presence, then bob's own");
    assert_eq!(
        presences[0].attribute("from"),
        Some("plans@conference.example.com/alice")
    );
    assert_eq!(
        item_attr(presences[1], "role").as_deref(),
        Some("participant")
    );
    assert!(of_kind(&got, "message").any(|m| m.find_child("subject", "jabber:client").is_some()));
    // Alice sees bob arrive, without his real JID (semi-anonymous room).
    let seen = w.take(alice);
    assert_eq!(
        seen[0].attribute("from"),
        Some("plans@conference.example.com/bob")
    );
    assert_eq!(
        item_attr(&seen[0], "jid").as_deref(),
        Some("bob@example.com/r"),
        "moderators see real JIDs"
    );
    // The service lists the public room.
    w.send(bob, &format!("<iq type='get' id='d' to='{MUC}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"));
    let items = w.take(bob);
    assert!(
        xml(&items[0]).contains("plans@conference.example.com"),
        "{}",
        xml(&items[0])
    );
}

#[test]
fn groupchat_messages_reach_every_occupant_and_new_ones_get_history() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    let carol = online(&mut w, "carol");
    create_instant(&mut w, alice, "r");
    join(&mut w, bob, "r", "bob", "");
    w.take(alice);
    for i in 1..=3 {
        w.send(
            bob,
            &format!(
                "<message to='r@{MUC}' type='groupchat' id='m{i}'><body>hello {i}</body></message>"
            ),
        );
    }
    for conn in [alice, bob] {
        let got = w.take(conn);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].attribute("from"),
            Some("r@conference.example.com/bob")
        );
        assert_eq!(got[0].attribute("type"), Some("groupchat"));
        assert!(got[0].find_child("stanza-id", "urn:xmpp:sid:0").is_some());
    }
    // Carol asks for the last two messages only.
    let got = join(&mut w, carol, "r", "carol", "<history maxstanzas='2'/>");
    let history: Vec<_> = of_kind(&got, "message")
        .filter(|m| m.find_child("body", "jabber:client").is_some())
        .collect();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0].child_text("body", "jabber:client").as_deref(),
        Some("hello 2")
    );
    assert!(history[0].find_child("delay", "urn:xmpp:delay").is_some());
    // Not an occupant: refused.
    w.send(
        carol,
        &format!("<presence to='r@{MUC}/carol' type='unavailable'/>"),
    );
    w.take(carol);
    w.send(
        carol,
        &format!("<message to='r@{MUC}' type='groupchat'><body>x</body></message>"),
    );
    assert_eq!(
        error_condition(&w.take(carol)[0]).as_deref(),
        Some("not-acceptable")
    );
}

#[test]
fn the_subject_is_set_by_moderators_and_sent_to_newcomers() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    create_instant(&mut w, alice, "r");
    join(&mut w, bob, "r", "bob", "");
    w.take(alice);
    w.send(
        bob,
        &format!("<message to='r@{MUC}' type='groupchat'><subject>mine</subject></message>"),
    );
    assert_eq!(
        error_condition(&w.take(bob)[0]).as_deref(),
        Some("forbidden")
    );
    w.send(
        alice,
        &format!(
            "<message to='r@{MUC}' type='groupchat'><subject>Release plans</subject></message>"
        ),
    );
    assert_eq!(
        w.take(bob)[0]
            .child_text("subject", "jabber:client")
            .as_deref(),
        Some("Release plans")
    );
    w.send(
        bob,
        &format!("<presence to='r@{MUC}/bob' type='unavailable'/>"),
    );
    let got = join(&mut w, bob, "r", "bob", "");
    let subject = of_kind(&got, "message").last().unwrap();
    assert_eq!(
        subject.child_text("subject", "jabber:client").as_deref(),
        Some("Release plans")
    );
    assert_eq!(
        subject.attribute("from"),
        Some("r@conference.example.com/alice")
    );
}

#[test]
fn nicknames_conflict_and_can_change() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    create_instant(&mut w, alice, "r");
    let got = join(&mut w, bob, "r", "alice", "");
    assert_eq!(error_condition(&got[0]).as_deref(), Some("conflict"));
    join(&mut w, bob, "r", "bob", "");
    w.take(alice);
    w.send(bob, &format!("<presence to='r@{MUC}/robert'/>"));
    let seen = w.take(alice);
    assert_eq!(seen[0].attribute("type"), Some("unavailable"));
    assert!(codes(&seen[0]).contains(&"303".into()));
    assert_eq!(item_attr(&seen[0], "nick").as_deref(), Some("robert"));
    assert_eq!(
        seen[1].attribute("from"),
        Some("r@conference.example.com/robert")
    );
    w.send(bob, &format!("<presence to='r@{MUC}/alice'/>"));
    let got = w.take(bob);
    assert!(got
        .iter()
        .any(|e| error_condition(e).as_deref() == Some("conflict")));
}

#[test]
fn moderators_kick_and_admins_ban() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    let carol = online(&mut w, "carol");
    create_instant(&mut w, alice, "r");
    join(&mut w, bob, "r", "bob", "");
    join(&mut w, carol, "r", "carol", "");
    w.take(alice);
    w.take(bob);
    // A participant may not kick.
    w.send(bob, &format!("<iq type='set' id='k0' to='r@{MUC}'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='carol' role='none'/></query></iq>"));
    assert_eq!(
        error_condition(&w.take(bob)[0]).as_deref(),
        Some("not-allowed")
    );
    w.send(alice, &format!("<iq type='set' id='k1' to='r@{MUC}'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='carol' role='none'><reason>spam</reason></item></query></iq>"));
    let kicked = w.take(carol);
    assert_eq!(kicked[0].attribute("type"), Some("unavailable"));
    assert!(codes(&kicked[0]).contains(&"307".into()) && codes(&kicked[0]).contains(&"110".into()));
    assert!(codes(&w.take(bob)[0]).contains(&"307".into()));
    w.expect_result(alice);
    // Banned: removed with 301 and refused afterwards.
    w.send(alice, &format!("<iq type='set' id='b1' to='r@{MUC}'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@example.com' affiliation='outcast'/></query></iq>"));
    let banned = w.take(bob);
    assert!(codes(&banned[0]).contains(&"301".into()));
    let got = join(&mut w, bob, "r", "bob", "");
    assert_eq!(error_condition(&got[0]).as_deref(), Some("forbidden"));
    w.take(alice);
    w.send(alice, &format!("<iq type='get' id='l' to='r@{MUC}'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>"));
    assert!(xml(&w.take(alice)[0]).contains("bob@example.com"));
}

#[test]
fn members_only_and_password_protected_rooms_refuse_strangers() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    let carol = online(&mut w, "carol");
    create_instant(&mut w, alice, "club");
    configure(
        &mut w,
        alice,
        "club",
        &[("muc#roomconfig_membersonly", "1")],
    );
    let got = join(&mut w, bob, "club", "bob", "");
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("registration-required")
    );
    // A mediated invitation from the owner makes bob a member.
    w.send(alice, &format!("<message to='club@{MUC}'><x xmlns='{USER}'><invite to='bob@example.com'><reason>join us</reason></invite></x></message>"));
    let invite = w.take(bob);
    assert_eq!(
        invite[0].attribute("from"),
        Some("club@conference.example.com")
    );
    assert!(
        xml(&invite[0]).contains("from=\"alice@example.com\"")
            || xml(&invite[0]).contains("from='alice@example.com'")
    );
    let got = join(&mut w, bob, "club", "bob", "");
    assert_eq!(
        item_attr(of_kind(&got, "presence").last().unwrap(), "affiliation").as_deref(),
        Some("member")
    );

    create_instant(&mut w, alice, "secret");
    configure(
        &mut w,
        alice,
        "secret",
        &[
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "pw"),
        ],
    );
    let got = join(&mut w, carol, "secret", "carol", "");
    assert_eq!(error_condition(&got[0]).as_deref(), Some("not-authorized"));
    let got = join(&mut w, carol, "secret", "carol", "<password>pw</password>");
    assert!(codes(of_kind(&got, "presence").last().unwrap()).contains(&"110".into()));
}

#[test]
fn direct_invitations_pass_between_users() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    w.send(alice, &format!("<message to='bob@example.com'><x xmlns='jabber:x:conference' jid='r@{MUC}' reason='hi'/></message>"));
    let got = w.take(bob);
    assert_eq!(
        got[0]
            .find_child("x", "jabber:x:conference")
            .and_then(|x| x.attribute("jid")),
        Some("r@conference.example.com")
    );
}

#[test]
fn self_ping_is_answered_by_the_room_only_for_occupants() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    create_instant(&mut w, alice, "r");
    w.take(alice);
    w.send(
        alice,
        &format!("<iq type='get' id='p1' to='r@{MUC}/alice'><ping xmlns='urn:xmpp:ping'/></iq>"),
    );
    w.expect_result(alice);
    w.send(
        bob,
        &format!("<iq type='get' id='p2' to='r@{MUC}/bob'><ping xmlns='urn:xmpp:ping'/></iq>"),
    );
    assert_eq!(
        error_condition(&w.take(bob)[0]).as_deref(),
        Some("not-acceptable")
    );
}

#[test]
fn the_room_archive_pages_with_rsm_and_filters_by_time_and_occupant() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    create_instant(&mut w, alice, "r");
    join(&mut w, bob, "r", "bob", "");
    for i in 1..=5 {
        let who = if i % 2 == 0 { alice } else { bob };
        w.send(
            who,
            &format!("<message to='r@{MUC}' type='groupchat'><body>m{i}</body></message>"),
        );
        w.advance(10);
    }
    w.take(alice);
    w.take(bob);
    let q = |extra: &str, set: &str| {
        format!("<iq type='set' id='q' to='r@{MUC}'><query xmlns='urn:xmpp:mam:2' queryid='x'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>{extra}</x><set xmlns='http://jabber.org/protocol/rsm'>{set}</set></query></iq>")
    };
    let bodies = |got: &[Element]| -> Vec<String> {
        of_kind(got, "message")
            .map(|m| {
                let s = xml(m);
                let i = s.find("<body").unwrap();
                let j = s[i..].find('>').unwrap() + i + 1;
                let k = s[j..].find('<').unwrap() + j;
                s[j..k].to_owned()
            })
            .collect()
    };
    w.send(bob, &q("", "<max>2</max>"));
    let page1 = w.take(bob);
    assert_eq!(bodies(&page1), ["m1", "m2"]);
    let fin = of_kind(&page1, "iq").next().unwrap();
    assert!(xml(fin).contains("complete=\"false\"") || xml(fin).contains("complete='false'"));
    let last = fin
        .find_child("fin", "urn:xmpp:mam:2")
        .unwrap()
        .find_child("set", "http://jabber.org/protocol/rsm")
        .unwrap()
        .child_text("last", "http://jabber.org/protocol/rsm")
        .unwrap()
        .into_owned();
    w.send(bob, &q("", &format!("<max>10</max><after>{last}</after>")));
    assert_eq!(bodies(&w.take(bob)), ["m3", "m4", "m5"]);
    w.send(
        bob,
        &q(
            "<field var='with'><value>r@conference.example.com/alice</value></field>",
            "",
        ),
    );
    assert_eq!(bodies(&w.take(bob)), ["m2", "m4"]);
    // Messages from t0+20 s onwards (the clock started at 1700000000).
    w.send(
        bob,
        &q(
            "<field var='start'><value>2023-11-14T22:13:40Z</value></field>",
            "",
        ),
    );
    let got = bodies(&w.take(bob));
    assert_eq!(got.first().map(String::as_str), Some("m3"), "{got:?}");
    w.send(bob, &q("", "<max>2</max><before/>"));
    assert_eq!(bodies(&w.take(bob)), ["m4", "m5"]);
}

#[test]
fn persistent_rooms_and_their_archive_survive_a_restart() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    create_instant(&mut w, alice, "keep");
    configure(
        &mut w,
        alice,
        "keep",
        &[
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_membersonly", "1"),
        ],
    );
    w.send(
        alice,
        &format!("<message to='keep@{MUC}' type='groupchat'><body>remember me</body></message>"),
    );
    w.send(
        alice,
        &format!("<message to='keep@{MUC}' type='groupchat'><subject>Kept</subject></message>"),
    );
    w.send(alice, &format!("<iq type='set' id='m' to='keep@{MUC}'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@example.com' affiliation='member'/></query></iq>"));
    create_instant(&mut w, alice, "gone");
    assert!(w
        .store
        .muc_rooms
        .keys()
        .any(|j| j.to_string() == "keep@conference.example.com"));
    assert!(!w
        .store
        .muc_rooms
        .keys()
        .any(|j| j.to_string() == "gone@conference.example.com"));
    // Restart with the same storage.
    let store = std::mem::take(&mut w.store);
    let mut w = World::with_config_and_store(config(MucConfig::default()), store);
    let bob = online(&mut w, "bob");
    let carol = online(&mut w, "carol");
    let got = join(&mut w, carol, "keep", "carol", "");
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("registration-required"),
        "members-only kept"
    );
    let got = join(&mut w, bob, "keep", "bob", "");
    let all: Vec<String> = got.iter().map(xml).collect();
    assert!(
        all.iter().any(|m| m.contains("remember me")),
        "history after restart: {all:?}"
    );
    assert!(
        all.iter().any(|m| m.contains("Kept")),
        "subject after restart"
    );
    // A temporary room did not survive.
    let got = join(&mut w, carol, "gone", "carol", "");
    assert!(
        codes(of_kind(&got, "presence").last().unwrap()).contains(&"201".into()),
        "created anew"
    );
}

#[test]
fn destroying_a_room_removes_occupants_and_storage() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    create_instant(&mut w, alice, "r");
    configure(
        &mut w,
        alice,
        "r",
        &[("muc#roomconfig_persistentroom", "1")],
    );
    join(&mut w, bob, "r", "bob", "");
    w.send(alice, &format!("<iq type='set' id='d' to='r@{MUC}'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy><reason>done</reason></destroy></query></iq>"));
    let got = w.take(bob);
    assert!(xml(&got[0]).contains("destroy"));
    assert!(w.store.muc_rooms.is_empty());
}

#[test]
fn room_limits_are_enforced() {
    let mut w = world_with(MucConfig {
        max_occupants: 2,
        max_rooms_per_user: 1,
        max_message_bytes: 10,
        ..MucConfig::default()
    });
    let alice = online(&mut w, "alice");
    let bob = online(&mut w, "bob");
    let carol = online(&mut w, "carol");
    create_instant(&mut w, alice, "r");
    let got = join(&mut w, alice, "second", "alice", "");
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("resource-constraint")
    );
    join(&mut w, bob, "r", "bob", "");
    let got = join(&mut w, carol, "r", "carol", "");
    assert_eq!(
        error_condition(&got[0]).as_deref(),
        Some("service-unavailable")
    );
    w.take(alice);
    w.send(
        bob,
        &format!(
            "<message to='r@{MUC}' type='groupchat'><body>far too long a message</body></message>"
        ),
    );
    assert_eq!(
        error_condition(&w.take(bob)[0]).as_deref(),
        Some("not-acceptable")
    );
    assert!(w.take(alice).is_empty());
}

#[test]
fn an_external_component_authenticates_and_exchanges_stanzas() {
    let mut w = world();
    let alice = online(&mut w, "alice");
    let comp = w
        .connect_from("127.0.0.1".parse().unwrap(), Listener::Component)
        .unwrap();
    w.send(comp, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='bot.example.com'>");
    let raw = String::from_utf8(w.client(comp).raw.clone()).unwrap();
    let id_at = raw.find(" id=").unwrap() + 5;
    let id = &raw[id_at..id_at + 16];
    use sha1::Digest;
    let digest = hex::encode(sha1::Sha1::digest(format!("{id}s3cret").as_bytes()));
    w.send(comp, &format!("<handshake>{digest}</handshake>"));
    assert_eq!(w.take(comp).last().unwrap().name(), "handshake");
    // User → component.
    w.send(
        alice,
        "<message to='echo@bot.example.com' type='chat'><body>ping</body></message>",
    );
    let got = w.take(comp);
    assert_eq!(got[0].ns(), "jabber:component:accept");
    assert_eq!(got[0].attribute("from"), Some("alice@example.com/r"));
    // Component → user.
    w.send(comp, "<message from='echo@bot.example.com' to='alice@example.com/r' type='chat'><body>pong</body></message>");
    let got = w.take(alice);
    assert_eq!(
        got[0].child_text("body", "jabber:client").as_deref(),
        Some("pong")
    );
    // It may not speak for other domains.
    w.send(
        comp,
        "<message from='someone@example.com' to='alice@example.com/r'><body>x</body></message>",
    );
    assert!(w.client(comp).closed);
    assert!(w.take(alice).is_empty());
}

#[test]
fn a_wrong_component_secret_closes_the_stream() {
    let mut w = world();
    let comp = w
        .connect_from("127.0.0.1".parse().unwrap(), Listener::Component)
        .unwrap();
    w.send(comp, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='bot.example.com'>");
    w.send(
        comp,
        "<handshake>0000000000000000000000000000000000000000</handshake>",
    );
    let raw = String::from_utf8(w.client(comp).raw.clone()).unwrap();
    assert!(raw.contains("not-authorized"), "{raw}");
    assert!(w.client(comp).closed);
    let other = w
        .connect_from("127.0.0.1".parse().unwrap(), Listener::Component)
        .unwrap();
    w.send(other, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='nobody.example.com'>");
    assert!(String::from_utf8(w.client(other).raw.clone())
        .unwrap()
        .contains("host-unknown"));
}

#[test]
fn an_attached_component_is_not_throttled_like_a_client() {
    let mut cfg = config(MucConfig::default());
    cfg.limits.c2s_bytes_per_second = 100;
    cfg.limits.c2s_burst_seconds = 1;
    let mut w = World::with_config(cfg);
    w.store.add_user("alice@example.com", "pw");
    let alice = online(&mut w, "alice");
    let comp = w
        .connect_from("127.0.0.1".parse().unwrap(), Listener::Component)
        .unwrap();
    w.send(comp, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='bot.example.com'>");
    let raw = String::from_utf8(w.client(comp).raw.clone()).unwrap();
    let id_at = raw.find(" id=").unwrap() + 5;
    let id = &raw[id_at..id_at + 16];
    use sha1::Digest;
    let digest = hex::encode(sha1::Sha1::digest(format!("{id}s3cret").as_bytes()));
    w.send(comp, &format!("<handshake>{digest}</handshake>"));
    let body = "x".repeat(500);
    for _ in 0..20 {
        w.send(comp, &format!("<message from='a@bot.example.com' to='alice@example.com/r'><body>{body}</body></message>"));
    }
    assert!(
        !w.client(comp).paused,
        "10 KB at once from a component is not throttled"
    );
    assert_eq!(w.take(alice).len(), 20);
}
