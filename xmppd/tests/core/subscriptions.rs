//! The presence subscription state machine end to end, driven by the RFC
//! 6121 Appendix A table in tests/data/subscription-states.txt, plus
//! redelivery, pre-approval and cancellation scenarios.

use rtc_xmlstream::Element;
use xmppd::core::{RosterItem, Subscription};

use crate::harness::*;

const TABLE: &str = include_str!("../data/subscription-states.txt");
const USER: &str = "user@example.com";
const CONTACT: &str = "contact@example.com";

/// (subscription, ask, pending_in) for an Appendix A state name.
fn flags(state: &str) -> (Subscription, bool, bool) {
    match state {
        "None" => (Subscription::None, false, false),
        "None+PendingOut" => (Subscription::None, true, false),
        "None+PendingIn" => (Subscription::None, false, true),
        "None+PendingOut/In" => (Subscription::None, true, true),
        "To" => (Subscription::To, false, false),
        "To+PendingIn" => (Subscription::To, false, true),
        "From" => (Subscription::From, false, false),
        "From+PendingOut" => (Subscription::From, true, false),
        "Both" => (Subscription::Both, false, false),
        other => panic!("unknown state {other}"),
    }
}

fn name_of(item: Option<RosterItem>) -> &'static str {
    let f = item.map_or((Subscription::None, false, false), |i| (i.subscription, i.ask, i.pending_in));
    [
        "None", "None+PendingOut", "None+PendingIn", "None+PendingOut/In", "To", "To+PendingIn",
        "From", "From+PendingOut", "Both",
    ]
    .into_iter()
    .find(|n| flags(n) == f)
    .unwrap()
}

fn set_state(w: &mut World, owner: &str, contact: &str, state: &str) {
    let (subscription, ask, pending_in) = flags(state);
    let mut item = RosterItem::new(jid(contact));
    item.subscription = subscription;
    item.ask = ask;
    item.pending_in = pending_in;
    w.store.record(owner).roster.insert(jid(contact), item);
}

fn got(inbox: &[Element], kind: &str, from: &str) -> bool {
    of_kind(inbox, "presence").any(|p| p.attribute("type") == Some(kind) && p.attribute("from") == Some(from))
}

fn run_row(line: &str) {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let [dir, kind, old, sent, new] = cols[..] else {
        panic!("bad row {line:?}");
    };
    let mut w = World::new();
    w.store.add_user(USER, "pw");
    w.store.add_user(CONTACT, "pw");
    set_state(&mut w, USER, CONTACT, old);
    // The other side is put in a state where it passes the stanza on, so
    // that what is observed is this side's decision.
    let other = match (dir, kind) {
        ("out", "subscribe") | ("in", "subscribe" | "unsubscribe") => "None",
        ("out", "subscribed") => "None+PendingOut",
        ("out", "unsubscribe") | ("in", "unsubscribed") => "From",
        ("out", "unsubscribed") => "To",
        ("in", "subscribed") => "None+PendingIn",
        _ => panic!("bad row {line:?}"),
    };
    set_state(&mut w, CONTACT, USER, other);
    let user = w.online(USER, "u", 0);
    let contact = w.online(CONTACT, "c", 0);
    w.take(user);
    w.take(contact);

    if dir == "out" {
        w.send(user, &format!("<presence to='{CONTACT}' type='{kind}'/>"));
        let routed = got(&w.take(contact), kind, USER);
        assert_eq!(routed, sent == "yes", "routed? row: {line}");
    } else {
        w.send(contact, &format!("<presence to='{USER}' type='{kind}'/>"));
        let delivered = got(&w.take(user), kind, CONTACT);
        assert_eq!(delivered, sent == "yes", "delivered? row: {line}");
        let auto = got(&w.take(contact), "subscribed", USER);
        assert_eq!(auto, sent == "auto", "auto-reply? row: {line}");
    }
    assert_eq!(name_of(w.store.item(USER, CONTACT)), new, "new state, row: {line}");
}

#[test]
fn subscription_states_follow_rfc_6121_appendix_a() {
    let rows: Vec<&str> = TABLE.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 72);
    for row in rows {
        run_row(row);
    }
}

#[test]
fn a_request_to_an_offline_user_is_delivered_at_login_and_approval_flows_presence() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    w.send(romeo, "<presence to='juliet@example.com' type='subscribe'><status>It is I</status></presence>");
    // Romeo's roster shows the pending request.
    let push = w.expect(romeo, "iq");
    assert!(xml(&push).contains("ask='subscribe'"), "{}", xml(&push));
    // Stored for Juliet, not visible in her roster.
    let item = w.store.item("juliet@example.com", "romeo@example.com").unwrap();
    assert!(item.pending_in && !item.listed);

    let juliet = w.login("juliet@example.com", "pw", "balcony");
    w.send(juliet, "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>");
    let roster = w.expect(juliet, "iq");
    assert!(!xml(&roster).contains("romeo"), "pending-only items are not listed");
    w.send(juliet, "<presence/>");
    let inbox = w.take(juliet);
    assert!(got(&inbox, "subscribe", "romeo@example.com"), "redelivered at login");

    w.send(juliet, "<presence to='romeo@example.com' type='subscribed'/>");
    let jin = w.take(juliet);
    assert!(of_kind(&jin, "iq").any(|p| xml(p).contains("subscription='from'")));
    let rin = w.take(romeo);
    assert!(got(&rin, "subscribed", "juliet@example.com"));
    assert!(of_kind(&rin, "iq").any(|p| xml(p).contains("subscription='to'")));
    // Juliet's presence reaches Romeo as soon as he is subscribed.
    assert!(of_kind(&rin, "presence").any(|p| p.attribute("from") == Some("juliet@example.com/balcony") && p.attribute("type").is_none()));
    // And later updates too; Romeo's do not reach Juliet (no 'to' subscription).
    w.send(juliet, "<presence><show>away</show></presence>");
    assert!(of_kind(&w.take(romeo), "presence").any(|p| xml(p).contains("<show>away</show>")));
    w.send(romeo, "<presence><show>chat</show></presence>");
    assert!(of_kind(&w.take(juliet), "presence").next().is_none());
}

#[test]
fn pre_approved_subscriptions_are_accepted_without_asking() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(juliet);
    w.take(romeo);
    w.send(juliet, "<presence to='romeo@example.com' type='subscribed'/>");
    assert!(xml(&w.expect(juliet, "iq")).contains("approved='true'"));
    assert!(w.take(romeo).is_empty(), "pre-approval is not routed");
    w.send(romeo, "<presence to='juliet@example.com' type='subscribe'/>");
    assert!(!got(&w.take(juliet), "subscribe", "romeo@example.com"), "Juliet is not asked");
    assert!(got(&w.take(romeo), "subscribed", "juliet@example.com"));
    let item = w.store.item("juliet@example.com", "romeo@example.com").unwrap();
    assert_eq!((item.subscription, item.approved), (Subscription::From, false));
}

#[test]
fn removing_a_contact_cancels_both_subscriptions() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    w.store.add_user("juliet@example.com", "pw");
    set_state(&mut w, "romeo@example.com", "juliet@example.com", "Both");
    set_state(&mut w, "juliet@example.com", "romeo@example.com", "Both");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    let juliet = w.online("juliet@example.com", "balcony", 0);
    w.take(romeo);
    w.take(juliet);
    w.send(romeo, "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='juliet@example.com' subscription='remove'/></query></iq>");
    let rin = w.take(romeo);
    assert!(of_kind(&rin, "iq").any(|i| xml(i).contains("subscription='remove'")), "push");
    assert!(of_kind(&rin, "iq").any(|i| i.attribute("id") == Some("rm") && i.attribute("type") == Some("result")));
    let jin = w.take(juliet);
    assert!(got(&jin, "unsubscribe", "romeo@example.com") && got(&jin, "unsubscribed", "romeo@example.com"));
    assert!(got(&jin, "unavailable", "romeo@example.com/orchard"), "Juliet no longer sees Romeo");
    assert!(w.store.item("romeo@example.com", "juliet@example.com").is_none());
    assert_eq!(name_of(w.store.item("juliet@example.com", "romeo@example.com")), "None");
}
