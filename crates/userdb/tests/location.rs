//! Registration (location service) behaviours, run against both backends:
//! every behaviour becomes `sqlite::<name>` and `mysql::<name>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use common::Fixture;
use rtc_userdb::{
    Binding, BindingChange, BindingKey, Entity, Error, LocationBatch, SipOp, SipOpResult, UserDb,
};

on_both_backends!(
    register_refresh_and_fetch,
    call_id_and_cseq_order_is_enforced_atomically,
    contact_star_and_admin_removal,
    outbound_flows_are_keyed_by_instance_and_reg_id,
    max_bindings_is_enforced_atomically,
    expired_bindings_are_hidden_then_purged_in_batches,
    listing_pages_through_2500_bindings_in_order,
    two_handles_see_each_others_registrations,
    invalid_input_changes_nothing,
    batched_saves_commit_together_and_fail_alone,
    batch_lookups_see_other_writers,
);

/// An arbitrary "now" in Unix seconds; the store never reads the clock
/// for registrations.
const T0: i64 = 1_700_000_000;
const AOR: &str = "roland@sip.falcot.com";

async fn open(fx: &Fixture) -> UserDb {
    UserDb::open(&fx.config()).await.unwrap()
}

fn set(contact: &str, expires: i64, call_id: &str, cseq: u32) -> BindingChange {
    BindingChange::Set(Binding::new(contact, expires, call_id, cseq))
}

fn contacts(bindings: &[Binding]) -> Vec<&str> {
    bindings.iter().map(|b| b.contact.as_str()).collect()
}

async fn register_refresh_and_fetch(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let full = Binding {
        received: Some("sip:192.0.2.7:40312;transport=udp".into()),
        path: vec![
            "<sip:edge1.falcot.com;lr>".into(),
            "<sip:edge2.falcot.com;lr;ob>".into(),
        ],
        q: Some(500),
        flags: 0x8000_0001,
        user_agent: Some("Linphone/5.2\t(Debian)".into()),
        socket: Some("udp:0.0.0.0:5060".into()),
        server_id: Some("sipd-1".into()),
        flow: Some("flow-42".into()),
        last_modified: 12345, // ignored: the store sets it
        ..Binding::new("sip:roland@192.168.1.20:5060", T0 + 3600, "c1", 1)
    };
    let preferred = Binding {
        q: Some(1000),
        ..Binding::new("sip:roland@198.51.100.9", T0 + 600, "c1", 1)
    };
    let live = sip
        .save_bindings(
            AOR,
            &[
                BindingChange::Set(full.clone()),
                BindingChange::Set(preferred.clone()),
            ],
            T0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        contacts(&live),
        ["sip:roland@198.51.100.9", "sip:roland@192.168.1.20:5060"],
        "best q first"
    );
    let stored = &live[1];
    assert_eq!(stored.last_modified, T0);
    assert_eq!(
        stored.user_agent.as_deref(),
        Some("Linphone/5.2 (Debian)"),
        "control characters become spaces"
    );
    let expected = Binding {
        last_modified: T0,
        user_agent: stored.user_agent.clone(),
        ..full.clone()
    };
    assert_eq!(stored, &expected, "every field round-trips");
    assert_eq!(sip.bindings(AOR, T0).await.unwrap(), live);

    // A refresh (same Call-ID, higher CSeq) updates in place.
    let refreshed = Binding {
        expires: T0 + 7200,
        cseq: 2,
        ..full.clone()
    };
    let live = sip
        .save_bindings(AOR, &[BindingChange::Set(refreshed)], T0 + 10, None)
        .await
        .unwrap();
    assert_eq!(live.len(), 2);
    let again = live.iter().find(|b| b.contact == full.contact).unwrap();
    assert_eq!(
        (again.expires, again.cseq, again.last_modified),
        (T0 + 7200, 2, T0 + 10)
    );

    // Once the preferred one has expired, only the refreshed one is found.
    let later = sip.bindings(AOR, T0 + 601).await.unwrap();
    assert_eq!(contacts(&later), ["sip:roland@192.168.1.20:5060"]);
    assert!(sip
        .bindings("nobody@sip.falcot.com", T0)
        .await
        .unwrap()
        .is_empty());
    assert!(sip.bindings("", T0).await.unwrap().is_empty());
}

async fn call_id_and_cseq_order_is_enforced_atomically(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let a = "sip:roland@192.0.2.1";
    sip.save_bindings(AOR, &[set(a, T0 + 60, "c1", 5)], T0, None)
        .await
        .unwrap();

    for cseq in [5, 4, 0] {
        match sip
            .save_bindings(AOR, &[set(a, T0 + 90, "c1", cseq)], T0, None)
            .await
        {
            Err(Error::OutOfOrder { cseq: c, stored: 5 }) => assert_eq!(c, cseq),
            other => panic!("CSeq {cseq}: expected OutOfOrder, got {other:?}"),
        }
    }
    // One bad change fails the whole request: the new contact is not added.
    let err = sip
        .save_bindings(
            AOR,
            &[
                set("sip:new@192.0.2.2", T0 + 60, "c1", 3),
                set(a, T0 + 90, "c1", 3),
            ],
            T0,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutOfOrder { .. }), "{err}");
    let now = sip.bindings(AOR, T0).await.unwrap();
    assert_eq!(contacts(&now), [a]);
    assert_eq!(
        now[0].expires,
        T0 + 60,
        "the refused refresh changed nothing"
    );

    // Another Call-ID (the phone restarted) replaces it whatever the CSeq.
    let live = sip
        .save_bindings(AOR, &[set(a, T0 + 90, "c2", 1)], T0, None)
        .await
        .unwrap();
    assert_eq!((live[0].call_id.as_str(), live[0].cseq), ("c2", 1));

    // Removal obeys the same rule.
    let remove = |cseq| BindingChange::Remove {
        key: BindingKey::Contact(a.into()),
        call_id: "c2".into(),
        cseq,
    };
    assert!(matches!(
        sip.save_bindings(AOR, &[remove(1)], T0, None).await,
        Err(Error::OutOfOrder { cseq: 1, stored: 1 })
    ));
    let live = sip
        .save_bindings(AOR, &[remove(2)], T0, None)
        .await
        .unwrap();
    assert!(live.is_empty());
}

async fn contact_star_and_admin_removal(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let changes: Vec<_> = (0..3)
        .map(|i| {
            set(
                &format!("sip:roland@192.0.2.{i}"),
                T0 + 60,
                &format!("c{i}"),
                1,
            )
        })
        .collect();
    assert_eq!(
        sip.save_bindings(AOR, &changes, T0, None)
            .await
            .unwrap()
            .len(),
        3
    );

    // Contact: * with the Call-ID of one binding and a CSeq not above it.
    let star = |call_id: &str, cseq| BindingChange::RemoveAll {
        call_id: call_id.into(),
        cseq,
    };
    assert!(matches!(
        sip.save_bindings(AOR, &[star("c1", 1)], T0, None).await,
        Err(Error::OutOfOrder { .. })
    ));
    assert_eq!(sip.bindings(AOR, T0).await.unwrap().len(), 3);
    assert!(sip
        .save_bindings(AOR, &[star("c1", 2)], T0, None)
        .await
        .unwrap()
        .is_empty());

    // The admin tool removes regardless of Call-ID and CSeq.
    sip.save_bindings(AOR, &changes, T0, None).await.unwrap();
    sip.remove_binding(AOR, &BindingKey::Contact("sip:roland@192.0.2.0".into()))
        .await
        .unwrap();
    assert!(matches!(
        sip.remove_binding(AOR, &BindingKey::Contact("sip:roland@192.0.2.0".into()))
            .await,
        Err(Error::NotFound(Entity::SipBinding))
    ));
    assert_eq!(sip.remove_aor(AOR).await.unwrap(), 2);
    assert_eq!(sip.remove_aor(AOR).await.unwrap(), 0);
}

async fn outbound_flows_are_keyed_by_instance_and_reg_id(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
    let flow = |contact: &str, reg_id: Option<u32>, cseq| {
        BindingChange::Set(Binding {
            instance: Some(instance.into()),
            reg_id,
            ..Binding::new(contact, T0 + 3600, "c1", cseq)
        })
    };
    let contact = "sip:line1@192.0.2.2;transport=tcp;ob";
    // RFC 5626 §10: the same Contact over two flows is two bindings.
    let live = sip
        .save_bindings(
            AOR,
            &[flow(contact, Some(1), 1), flow(contact, Some(2), 1)],
            T0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(live.len(), 2);

    // Flow 1 re-registers from a new address: it replaces its binding,
    // whatever the Contact URI.
    let moved = "sip:line1@203.0.113.5:50001;transport=tcp;ob";
    let live = sip
        .save_bindings(AOR, &[flow(moved, Some(1), 2)], T0 + 5, None)
        .await
        .unwrap();
    let mut by_flow: Vec<(Option<u32>, &str)> = live
        .iter()
        .map(|b| (b.reg_id, b.contact.as_str()))
        .collect();
    by_flow.sort();
    assert_eq!(by_flow, [(Some(1), moved), (Some(2), contact)]);

    // An instance without reg-id (RFC 5627) is its own binding.
    sip.save_bindings(AOR, &[flow(contact, None, 3)], T0 + 5, None)
        .await
        .unwrap();
    assert_eq!(sip.bindings(AOR, T0 + 5).await.unwrap().len(), 3);

    let key = BindingKey::Instance {
        instance: instance.into(),
        reg_id: Some(2),
    };
    let change = BindingChange::Remove {
        key,
        call_id: "c1".into(),
        cseq: 9,
    };
    let live = sip
        .save_bindings(AOR, &[change], T0 + 5, None)
        .await
        .unwrap();
    let mut left: Vec<Option<u32>> = live.iter().map(|b| b.reg_id).collect();
    left.sort();
    assert_eq!(left, [None, Some(1)]);
}

async fn max_bindings_is_enforced_atomically(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let limit = Some(2);
    sip.save_bindings(
        AOR,
        &[
            set("sip:a@h", T0 + 60, "c", 1),
            set("sip:b@h", T0 + 60, "c", 1),
        ],
        T0,
        limit,
    )
    .await
    .unwrap();
    match sip
        .save_bindings(AOR, &[set("sip:c@h", T0 + 60, "c", 2)], T0, limit)
        .await
    {
        Err(Error::QuotaExceeded {
            entity: Entity::SipBinding,
            limit: 2,
        }) => {}
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert_eq!(
        contacts(&sip.bindings(AOR, T0).await.unwrap()),
        ["sip:a@h", "sip:b@h"]
    );

    // Refreshing, or swapping one contact for another, stays within it.
    let swap = [
        BindingChange::Remove {
            key: BindingKey::Contact("sip:a@h".into()),
            call_id: "c".into(),
            cseq: 3,
        },
        set("sip:c@h", T0 + 60, "c", 3),
        set("sip:b@h", T0 + 90, "c", 3),
    ];
    let live = sip.save_bindings(AOR, &swap, T0, limit).await.unwrap();
    let mut now = contacts(&live);
    now.sort_unstable();
    assert_eq!(now, ["sip:b@h", "sip:c@h"]);

    // Expired bindings do not count against the limit.
    let live = sip
        .save_bindings(AOR, &[set("sip:d@h", T0 + 200, "c", 4)], T0 + 70, limit)
        .await
        .unwrap();
    assert_eq!(contacts(&live), ["sip:d@h", "sip:b@h"]);
}

async fn expired_bindings_are_hidden_then_purged_in_batches(fx: &Fixture) {
    let sip = open(fx).await.sip();
    for a in 0..25 {
        let changes: Vec<_> = (0..10)
            .map(|c| set(&format!("sip:{c}@192.0.2.{a}"), T0 + 100, "old", 1))
            .collect();
        sip.save_bindings(&format!("u{a}@d"), &changes, T0, None)
            .await
            .unwrap();
    }
    for a in 0..5 {
        sip.save_bindings(
            &format!("live{a}@d"),
            &[set("sip:x@h", T0 + 10_000, "new", 1)],
            T0,
            None,
        )
        .await
        .unwrap();
    }
    let later = T0 + 200;
    let counts = sip.counts(later).await.unwrap();
    assert_eq!((counts.bindings, counts.aors), (5, 5));
    assert!(sip.bindings("u0@d", later).await.unwrap().is_empty());
    assert_eq!(sip.counts(T0).await.unwrap().bindings, 255);

    // Each call removes at most one batch.
    let mut purged = Vec::new();
    loop {
        let n = sip.purge_expired(later, 100).await.unwrap();
        purged.push(n);
        if n < 100 {
            break;
        }
    }
    assert_eq!(purged, [100, 100, 50]);
    assert_eq!(sip.purge_expired(later, 100).await.unwrap(), 0);
    assert_eq!(sip.purge_expired(later, 0).await.unwrap(), 0);
    let rows = fx
        .raw_strings("SELECT CAST(COUNT(*) AS CHAR) FROM sip_location")
        .await;
    assert_eq!(rows, ["5"], "only the live bindings are left");
}

async fn listing_pages_through_2500_bindings_in_order(fx: &Fixture) {
    let db = open(fx).await;
    let sip = db.sip();
    // 833 addresses of record with 3 bindings and one with 1: pages of 100
    // end in the middle of an address of record.
    let mut expected = Vec::new();
    let mut saves = Vec::new();
    for a in 0..834u32 {
        let aor = format!("user{a:04}@sip.falcot.com");
        let n = if a == 833 { 1 } else { 3 };
        let changes: Vec<_> = (0..n)
            .map(|c| set(&format!("sip:{}@192.0.2.{c}", 9 - c), T0 + 3600, "c", 1))
            .collect();
        for change in &changes {
            if let BindingChange::Set(b) = change {
                expected.push((aor.clone(), b.contact.clone()));
            }
        }
        saves.push((aor, changes));
    }
    assert_eq!(expected.len(), 2500);
    expected.sort();
    // An expired binding is not listed.
    saves.push(("zz@d".into(), vec![set("sip:gone@h", T0 + 1, "c", 1)]));
    let mut tasks = Vec::new();
    for chunk in saves.chunks(100) {
        let sip = sip.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for (aor, changes) in chunk {
                sip.save_bindings(&aor, &changes, T0, None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let now = T0 + 10;

    let mut listed = Vec::new();
    let mut pages = 0;
    let mut cursor = None;
    loop {
        let page = sip.bindings_page(cursor.as_ref(), now, 100).await.unwrap();
        assert!(page.entries.len() <= 100);
        pages += 1;
        listed.extend(page.entries.into_iter().map(|e| (e.aor, e.binding.contact)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        listed, expected,
        "every binding once, in (aor, contact) order"
    );
    assert!(pages == 25 || pages == 26, "{pages} pages");

    let mut scan = sip.scan_bindings(now, 100);
    let mut scanned = 0;
    while let Some(page) = scan.next_page().await.unwrap() {
        assert!(!page.is_empty() && page.len() <= 100);
        scanned += page.len();
    }
    assert_eq!(scanned, 2500);
    assert!(scan.next_page().await.unwrap().is_none());

    let mut online = Vec::new();
    let mut scan = sip.scan_online(now, 100);
    while let Some(page) = scan.next_page().await.unwrap() {
        assert!(page.len() <= 100);
        online.extend(page);
    }
    let mut aors: Vec<String> = expected.iter().map(|(a, _)| a.clone()).collect();
    aors.dedup();
    assert_eq!(online, aors);
    let first = sip.online_page(None, now, 10).await.unwrap();
    assert_eq!(first.aors, aors[..10]);
    let second = sip
        .online_page(first.next.as_deref(), now, 10)
        .await
        .unwrap();
    assert_eq!(second.aors, aors[10..20]);
}

/// Two `sipd` processes sharing one database.
async fn two_handles_see_each_others_registrations(fx: &Fixture) {
    let node1 = open(fx).await.sip();
    let node2 = open(fx).await.sip();
    node1
        .save_bindings(
            AOR,
            &[set("sip:roland@192.0.2.1", T0 + 60, "c", 1)],
            T0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        contacts(&node2.bindings(AOR, T0).await.unwrap()),
        ["sip:roland@192.0.2.1"]
    );
    node2.remove_aor(AOR).await.unwrap();
    assert!(node1.bindings(AOR, T0).await.unwrap().is_empty());

    // Both nodes register contacts of one new address of record at once:
    // none is lost, whatever the interleaving.
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let node = if i % 2 == 0 {
            node1.clone()
        } else {
            node2.clone()
        };
        tasks.push(tokio::spawn(async move {
            let change = set(
                &format!("sip:dev{i:02}@192.0.2.9"),
                T0 + 60,
                &format!("c{i}"),
                1,
            );
            node.save_bindings("shared@d", &[change], T0, None)
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for node in [&node1, &node2] {
        let mut seen = contacts(&node.bindings("shared@d", T0).await.unwrap())
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        seen.sort();
        let want: Vec<String> = (0..20)
            .map(|i| format!("sip:dev{i:02}@192.0.2.9"))
            .collect();
        assert_eq!(seen, want);
    }

    // Both nodes race to create the same new binding (a phone whose
    // REGISTERs reach both, each with a fresh Call-ID): every save
    // succeeds, and one binding remains.
    let mut tasks = Vec::new();
    for i in 0..12u32 {
        let node = if i % 2 == 0 {
            node1.clone()
        } else {
            node2.clone()
        };
        tasks.push(tokio::spawn(async move {
            let change = set("sip:same@192.0.2.10", T0 + 60, &format!("r{i}"), 1);
            node.save_bindings("race@d", &[change], T0, None).await
        }));
    }
    for t in tasks {
        let live = t.await.unwrap().unwrap();
        assert_eq!(contacts(&live), ["sip:same@192.0.2.10"]);
    }
    assert_eq!(node2.bindings("race@d", T0).await.unwrap().len(), 1);
}

async fn invalid_input_changes_nothing(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let ok = Binding::new("sip:a@h", T0 + 60, "c", 1);
    let cases: Vec<(Binding, &str)> = vec![
        (
            Binding::new("sip:a@h\r\nVia: x", T0 + 60, "c", 1),
            "contact",
        ),
        (Binding::new("", T0 + 60, "c", 1), "contact"),
        (
            Binding::new(&format!("sip:{}@h", "a".repeat(1100)), T0 + 60, "c", 1),
            "contact",
        ),
        (Binding::new("sip:a@h", T0, "c", 1), "expires"),
        (Binding::new("sip:a@h", T0 + 60, "", 1), "call_id"),
        (
            Binding {
                q: Some(1001),
                ..ok.clone()
            },
            "q",
        ),
        (
            Binding {
                path: vec!["<sip:p;lr>\n".into()],
                ..ok.clone()
            },
            "path",
        ),
        (
            Binding {
                path: vec!["<sip:p;lr>".repeat(100); 10],
                ..ok.clone()
            },
            "path",
        ),
        (
            Binding {
                instance: Some(String::new()),
                ..ok.clone()
            },
            "instance",
        ),
    ];
    for (binding, field) in cases {
        let changes = [BindingChange::Set(ok.clone()), BindingChange::Set(binding)];
        match sip.save_bindings(AOR, &changes, T0, None).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidInput, got {other:?}"),
        }
    }
    let too_many: Vec<_> = (0..257)
        .map(|i| set(&format!("sip:{i}@h"), T0 + 60, "c", 1))
        .collect();
    assert!(matches!(
        sip.save_bindings(AOR, &too_many, T0, None).await,
        Err(Error::InvalidInput {
            field: "changes",
            ..
        })
    ));
    assert!(matches!(
        sip.save_bindings("", &[BindingChange::Set(ok.clone())], T0, None)
            .await,
        Err(Error::InvalidInput { field: "aor", .. })
    ));
    assert_eq!(sip.counts(T0).await.unwrap().bindings, 0);

    // Injection-looking values are stored literally.
    let hostile = "x' OR '1'='1@d";
    sip.save_bindings(hostile, &[BindingChange::Set(ok)], T0, None)
        .await
        .unwrap();
    assert!(sip.bindings("x@d", T0).await.unwrap().is_empty());
    assert_eq!(sip.bindings(hostile, T0).await.unwrap().len(), 1);
}

fn save_op(aor: &str, change: BindingChange) -> SipOp {
    SipOp::Save {
        aor: aor.into(),
        plan: Box::new(move |_stored: &[Binding]| vec![change]),
        max_bindings: None,
    }
}

fn saved(r: SipOpResult) -> rtc_userdb::Result<Vec<Binding>> {
    match r {
        SipOpResult::Saved(r) => r,
        other => panic!("not a save answer: {other:?}"),
    }
}

fn found(r: SipOpResult) -> Vec<Binding> {
    match r {
        SipOpResult::Bindings(r) => r.unwrap(),
        other => panic!("not a lookup answer: {other:?}"),
    }
}

/// Group commit: several REGISTERs in one batch; one out-of-order request
/// fails on its own and the others are stored.
async fn batched_saves_commit_together_and_fail_alone(fx: &Fixture) {
    let db = open(fx).await;
    let batch = LocationBatch::new(db.sip(), 1000);
    db.sip()
        .save_bindings("b@d", &[set("sip:b@192.0.2.2", T0 + 60, "cb", 5)], T0, None)
        .await
        .unwrap();
    let answers = batch
        .run(
            vec![
                save_op("a@d", set("sip:a@192.0.2.1", T0 + 60, "ca", 1)),
                // Same binding and Call-ID, lower CSeq than stored (RFC 3261 §10.3 step 7).
                save_op("b@d", set("sip:b@192.0.2.2", T0 + 90, "cb", 4)),
                save_op("c@d", set("sip:c@192.0.2.3", T0 + 60, "cc", 1)),
                SipOp::Bindings { aor: "b@d".into() },
            ],
            T0,
        )
        .await;
    let mut answers = answers.into_iter();
    assert_eq!(
        contacts(&saved(answers.next().unwrap()).unwrap()),
        ["sip:a@192.0.2.1"]
    );
    let refused = saved(answers.next().unwrap());
    assert!(
        matches!(refused, Err(Error::OutOfOrder { cseq: 4, stored: 5 })),
        "{refused:?}"
    );
    assert_eq!(
        contacts(&saved(answers.next().unwrap()).unwrap()),
        ["sip:c@192.0.2.3"]
    );
    assert_eq!(
        contacts(&found(answers.next().unwrap())),
        ["sip:b@192.0.2.2"]
    );
    assert_eq!(
        db.sip().bindings("b@d", T0).await.unwrap()[0].expires,
        T0 + 60
    );
    // Durable for everyone else once run() returned.
    let other = open(fx).await.sip();
    for (aor, contact) in [
        ("a@d", "sip:a@192.0.2.1"),
        ("b@d", "sip:b@192.0.2.2"),
        ("c@d", "sip:c@192.0.2.3"),
    ] {
        assert_eq!(contacts(&other.bindings(aor, T0).await.unwrap()), [contact]);
    }
}

/// The batch's lookups (cached on SQLite) follow what another process or
/// the same process's other calls wrote.
async fn batch_lookups_see_other_writers(fx: &Fixture) {
    let db = open(fx).await;
    let batch = LocationBatch::new(db.sip(), 1000);
    let lookup = || SipOp::Bindings { aor: AOR.into() };
    // Lookups of a batch are answered as of its start, before its saves.
    let first = batch
        .run(
            vec![
                save_op(AOR, set("sip:roland@192.0.2.1", T0 + 60, "c", 1)),
                lookup(),
            ],
            T0,
        )
        .await;
    assert!(found(first.into_iter().nth(1).unwrap()).is_empty());
    assert_eq!(
        contacts(&found(batch.run(vec![lookup()], T0).await.remove(0))),
        ["sip:roland@192.0.2.1"]
    );
    // Another process (sipctl, a second node) removes it.
    open(fx).await.sip().remove_aor(AOR).await.unwrap();
    assert!(found(batch.run(vec![lookup()], T0).await.remove(0)).is_empty());
    // This process's own handle adds one outside the batch.
    db.sip()
        .save_bindings(
            AOR,
            &[set("sip:roland@192.0.2.5", T0 + 60, "c2", 1)],
            T0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        contacts(&found(batch.run(vec![lookup()], T0).await.remove(0))),
        ["sip:roland@192.0.2.5"]
    );
    // Expiry needs no write to show.
    assert!(found(batch.run(vec![lookup()], T0 + 60).await.remove(0)).is_empty());
    // Digests: a password change by another process is seen at once.
    let digests = |b: &LocationBatch| {
        let b = b.clone();
        async move {
            match b
                .run(
                    vec![SipOp::Digests {
                        domain: "d.example".into(),
                        username: "u".into(),
                    }],
                    T0,
                )
                .await
                .remove(0)
            {
                SipOpResult::Digests(r) => r.unwrap().map(|d| d.ha1),
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(digests(&batch).await, None);
    open(fx)
        .await
        .sip()
        .add_subscriber("d.example", "u", "one")
        .await
        .unwrap();
    let one = digests(&batch).await.unwrap();
    open(fx)
        .await
        .sip()
        .set_password("d.example", "u", "two")
        .await
        .unwrap();
    let two = digests(&batch).await.unwrap();
    assert_ne!(one, two);
}
