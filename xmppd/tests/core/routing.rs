//! The message routing rules as a data table (tests/data/routing.txt).

use crate::harness::*;

const TABLE: &str = include_str!("../data/routing.txt");

fn run_row(line: &str) {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let [to, kind, resources, delivered, outcome] = cols[..] else {
        panic!("bad row {line:?}");
    };
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("romeo@example.com", "pw");
    let mut juliet = Vec::new();
    if resources != "-" {
        for (i, r) in resources.split(',').enumerate() {
            let res = format!("r{i}");
            let conn = match r {
                "c" => w.login("juliet@example.com", "pw", &res),
                p => w.online("juliet@example.com", &res, p.parse().unwrap()),
            };
            juliet.push((res, conn));
        }
    }
    let romeo = w.online("romeo@example.com", "orchard", 0);
    for (_, conn) in &juliet {
        w.take(*conn);
    }
    w.take(romeo);

    let address = match to {
        "bare" => "juliet@example.com".to_owned(),
        r => format!("juliet@example.com/{r}"),
    };
    w.send(romeo, &format!("<message to='{address}' type='{kind}' id='m1'><body>hello</body></message>"));

    let mut got = Vec::new();
    for (res, conn) in &juliet {
        let inbox = w.take(*conn);
        if of_kind(&inbox, "message").any(|m| m.attribute("id") == Some("m1")) {
            got.push(res.clone());
        }
    }
    let expected: Vec<String> = match delivered {
        "-" => Vec::new(),
        list => list.split(',').map(str::to_owned).collect(),
    };
    assert_eq!(got, expected, "delivered, row: {line}");

    let back = w.take(romeo);
    let errors: Vec<_> = of_kind(&back, "message").filter(|m| m.attribute("type") == Some("error")).collect();
    let stored = w.store.record("juliet@example.com").offline.len();
    match outcome {
        "ok" | "dropped" => {
            assert!(errors.is_empty(), "no error, row: {line}");
            assert_eq!(stored, 0, "nothing stored, row: {line}");
        }
        "offline" => {
            assert!(errors.is_empty(), "no error, row: {line}");
            assert_eq!(stored, 1, "stored offline, row: {line}");
        }
        "error" => {
            assert_eq!(errors.len(), 1, "one error, row: {line}");
            assert!(xml(errors[0]).contains("<service-unavailable"), "row: {line}");
            assert_eq!(stored, 0, "row: {line}");
        }
        other => panic!("bad outcome {other}"),
    }
}

#[test]
fn messages_are_routed_by_address_type_and_priorities() {
    let rows: Vec<&str> = TABLE.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 26);
    for row in rows {
        run_row(row);
    }
}

#[test]
fn messages_to_unknown_local_users_are_refused() {
    let mut w = World::new();
    w.store.add_user("romeo@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    w.send(romeo, "<message to='nobody@example.com' id='x'><body>hi</body></message>");
    let back = w.expect(romeo, "message");
    assert_eq!(back.attribute("type"), Some("error"));
    assert_eq!(back.attribute("from"), Some("nobody@example.com"));
    assert!(xml(&back).contains("<service-unavailable"));
    w.send(romeo, "<iq to='nobody@example.com/x' type='get' id='q'><query xmlns='jabber:iq:version'/></iq>");
    assert!(xml(&w.expect(romeo, "iq")).contains("<service-unavailable"));
    // Presence to nobody is dropped; a subscription request is declined.
    w.send(romeo, "<presence to='nobody@example.com'/>");
    assert!(w.take(romeo).is_empty());
    w.send(romeo, "<presence to='nobody@example.com' type='subscribe'/>");
    let p = w.take(romeo);
    assert!(p.iter().any(|e| e.attribute("type") == Some("unsubscribed")), "{:?}", p.iter().map(xml).collect::<Vec<_>>());
}

#[test]
fn other_domains_are_unreachable_when_federation_is_off() {
    let mut config = xmppd::core::CoreConfig::default();
    config.s2s.enabled = false;
    let mut w = World::with_config(config);
    w.store.add_user("romeo@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    w.send(romeo, "<message to='someone@elsewhere.example' id='x'><body>hi</body></message>");
    assert!(xml(&w.expect(romeo, "message")).contains("<remote-server-not-found"));
}

#[test]
fn iq_to_a_full_jid_is_routed_and_answered() {
    let mut w = World::new();
    w.store.add_user("juliet@example.com", "pw");
    w.store.add_user("romeo@example.com", "pw");
    let juliet = w.online("juliet@example.com", "balcony", 0);
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(juliet);
    w.take(romeo);
    w.send(romeo, "<iq to='juliet@example.com/balcony' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>");
    let q = w.expect(juliet, "iq");
    assert_eq!(q.attribute("from"), Some("romeo@example.com/orchard"));
    w.send(juliet, "<iq to='romeo@example.com/orchard' type='result' id='v1'/>");
    let r = w.expect(romeo, "iq");
    assert_eq!((r.attribute("type"), r.attribute("from")), (Some("result"), Some("juliet@example.com/balcony")));
    // A forged 'from' is a stream error.
    w.send(romeo, "<message from='juliet@example.com/balcony' to='juliet@example.com'/>");
    assert!(w.expect(romeo, "error").find_child("invalid-from", rtc_xmlstream::ns::STREAM_ERRORS).is_some());
}
