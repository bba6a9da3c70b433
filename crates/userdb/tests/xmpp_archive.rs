//! XMPP message archive (XEP-0313) and push registration (XEP-0357)
//! behaviours, run against both backends.
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
    ArchiveAppend, ArchiveEntry, ArchiveQuery, Entity, Error, PepItem, PepNode, PushRegistration, UserDb,
    XmppStore,
};

on_both_backends!(
    archive_pages_in_archive_order_with_filters,
    archive_per_account_cap_drops_the_oldest,
    archive_batch_stores_what_it_can_and_answers_each_message,
    archive_expiry_deletes_old_messages_in_batches,
    unknown_paging_ids_are_not_found,
    push_registrations_persist_and_are_capped,
    deleting_an_account_deletes_its_archive_and_push_registrations,
    pep_items_keep_publish_order_and_max_items,
    pep_nodes_are_capped_and_deleted_with_their_items,
);

const HOST: &str = "falcot.com";

async fn store(fx: &Fixture) -> XmppStore {
    let xmpp = UserDb::open(&fx.config())
        .await
        .unwrap()
        .xmpp()
        .with_scram_iterations(4096)
        .unwrap();
    xmpp.create_account(HOST, "roland", "pencil").await.unwrap();
    xmpp
}

async fn append(x: &XmppStore, id: &str, with: &str, at: i64, max: u32) {
    let stanza = format!("<message xmlns='jabber:client' id='{id}'><body>{id}</body></message>");
    let entry = ArchiveEntry {
        archive_id: id,
        with,
        stored_at: at,
        stanza: &stanza,
    };
    x.archive_append(HOST, "roland", &entry, max).await.unwrap();
}

fn ids(page: &rtc_userdb::ArchivePage) -> Vec<&str> {
    page.messages
        .iter()
        .map(|m| m.archive_id.as_str())
        .collect()
}

async fn archive_pages_in_archive_order_with_filters(fx: &Fixture) {
    let x = store(fx).await;
    for (i, with) in ["a@x", "b@x", "a@x", "a@x", "b@x"].iter().enumerate() {
        append(&x, &format!("m{i}"), with, 100 + i as i64, 100).await;
    }
    let q = |f: fn(&mut ArchiveQuery)| {
        let mut q = ArchiveQuery {
            max: 2,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let first = x.archive_query(HOST, "roland", &q(|_| {})).await.unwrap();
    assert_eq!(ids(&first), ["m0", "m1"]);
    assert_eq!(first.count, 5);
    assert!(!first.complete);
    let next = x
        .archive_query(
            HOST,
            "roland",
            &ArchiveQuery {
                after: Some("m1".into()),
                max: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&next), ["m2", "m3", "m4"]);
    assert!(next.complete);
    let last = x
        .archive_query(HOST, "roland", &q(|q| q.last_page = true))
        .await
        .unwrap();
    assert_eq!(ids(&last), ["m3", "m4"]);
    let before = x
        .archive_query(HOST, "roland", &q(|q| q.before = Some("m3".into())))
        .await
        .unwrap();
    assert_eq!(ids(&before), ["m1", "m2"]);
    assert!(!before.complete);
    let with_a = x
        .archive_query(
            HOST,
            "roland",
            &ArchiveQuery {
                with: Some("a@x".into()),
                max: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&with_a), ["m0", "m2", "m3"]);
    assert_eq!(with_a.count, 3);
    let window = x
        .archive_query(
            HOST,
            "roland",
            &ArchiveQuery {
                start: Some(101),
                end: Some(103),
                max: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&window), ["m1", "m2", "m3"]);
    assert!(window.messages[0].stanza.contains("<body>m1</body>"));
    assert_eq!(window.messages[0].stored_at, 101);
    // Archive ids are unique per account.
    let dup = ArchiveEntry {
        archive_id: "m0",
        with: "a@x",
        stored_at: 1,
        stanza: "<m/>",
    };
    assert!(matches!(
        x.archive_append(HOST, "roland", &dup, 100).await,
        Err(Error::AlreadyExists(Entity::XmppArchivedMessage))
    ));
}

async fn archive_per_account_cap_drops_the_oldest(fx: &Fixture) {
    let x = store(fx).await;
    for i in 0..5 {
        append(&x, &format!("m{i}"), "a@x", 100, 3).await;
    }
    let all = x
        .archive_query(
            HOST,
            "roland",
            &ArchiveQuery {
                max: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&all), ["m2", "m3", "m4"]);
}

async fn archive_expiry_deletes_old_messages_in_batches(fx: &Fixture) {
    let x = store(fx).await;
    for i in 0..5 {
        append(&x, &format!("m{i}"), "a@x", 100 + i, 100).await;
    }
    assert_eq!(x.archive_expire(103, 2).await.unwrap(), 2);
    assert_eq!(x.archive_expire(103, 2).await.unwrap(), 1);
    assert_eq!(x.archive_expire(103, 2).await.unwrap(), 0);
    let left = x
        .archive_query(
            HOST,
            "roland",
            &ArchiveQuery {
                max: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&left), ["m3", "m4"]);
    assert_eq!(x.archive_clear(HOST, "roland").await.unwrap(), 2);
}

async fn unknown_paging_ids_are_not_found(fx: &Fixture) {
    let x = store(fx).await;
    append(&x, "m0", "a@x", 100, 10).await;
    let q = ArchiveQuery {
        after: Some("nope".into()),
        max: 10,
        ..Default::default()
    };
    assert!(matches!(
        x.archive_query(HOST, "roland", &q).await,
        Err(Error::NotFound(Entity::XmppArchivedMessage))
    ));
}

async fn push_registrations_persist_and_are_capped(fx: &Fixture) {
    let x = store(fx).await;
    let reg = |node: &str| PushRegistration {
        service: "push.example.org".into(),
        node: node.into(),
        options: Some("<x xmlns='jabber:x:data' type='submit'/>".into()),
    };
    x.push_register(HOST, "roland", &reg("n1"), 2)
        .await
        .unwrap();
    x.push_register(HOST, "roland", &reg("n1"), 2)
        .await
        .unwrap();
    x.push_register(HOST, "roland", &reg("n2"), 2)
        .await
        .unwrap();
    assert!(matches!(
        x.push_register(HOST, "roland", &reg("n3"), 2).await,
        Err(Error::QuotaExceeded {
            entity: Entity::XmppPushRegistration,
            limit: 2
        })
    ));
    let list = x.push_registrations(HOST, "roland").await.unwrap();
    assert_eq!(list, vec![reg("n1"), reg("n2")]);
    assert_eq!(
        x.push_unregister(HOST, "roland", "push.example.org", Some("n1"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        x.push_unregister(HOST, "roland", "push.example.org", None)
            .await
            .unwrap(),
        1
    );
    assert!(x
        .push_registrations(HOST, "roland")
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        x.push_register(HOST, "nobody", &reg("n1"), 2).await,
        Err(Error::NotFound(Entity::XmppAccount))
    ));
}

async fn deleting_an_account_deletes_its_archive_and_push_registrations(fx: &Fixture) {
    let x = store(fx).await;
    append(&x, "m0", "a@x", 100, 10).await;
    let reg = PushRegistration {
        service: "p@x".into(),
        node: "n".into(),
        options: None,
    };
    x.push_register(HOST, "roland", &reg, 5).await.unwrap();
    x.delete_account(HOST, "roland").await.unwrap();
    x.create_account(HOST, "roland", "pencil").await.unwrap();
    let page = x
        .archive_query(
            HOST,
            "roland",
            &ArchiveQuery {
                max: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(page.messages.is_empty());
    assert!(x
        .push_registrations(HOST, "roland")
        .await
        .unwrap()
        .is_empty());
}

fn node(name: &str, max_items: u32) -> PepNode {
    PepNode {
        node: name.into(),
        access_model: "whitelist".into(),
        max_items,
        persist: true,
    }
}

fn item(id: &str) -> PepItem {
    PepItem {
        id: id.into(),
        payload: format!("<conference xmlns='urn:xmpp:bookmarks:1' name='{id}'/>"),
    }
}

async fn pep_items_keep_publish_order_and_max_items(fx: &Fixture) {
    let x = store(fx).await;
    let n = "urn:xmpp:bookmarks:1";
    assert!(matches!(
        x.pep_publish(HOST, "roland", n, &item("a"), 10).await,
        Err(Error::NotFound(Entity::XmppPepNode))
    ));
    x.pep_configure(HOST, "roland", &node(n, 3), 10)
        .await
        .unwrap();
    for id in ["a", "b", "c", "a", "d"] {
        x.pep_publish(HOST, "roland", n, &item(id), 3)
            .await
            .unwrap();
    }
    let ids: Vec<String> = x
        .pep_items(HOST, "roland", n, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        ids,
        ["c", "a", "d"],
        "republishing moves an item to the end; the oldest go"
    );
    let last = x.pep_items(HOST, "roland", n, 1).await.unwrap();
    assert_eq!(last, vec![item("d")]);
    assert!(x.pep_retract(HOST, "roland", n, "a").await.unwrap());
    assert!(!x.pep_retract(HOST, "roland", n, "a").await.unwrap());
    x.pep_configure(HOST, "roland", &node(n, 1), 10)
        .await
        .unwrap();
    assert_eq!(
        x.pep_items(HOST, "roland", n, 100).await.unwrap(),
        vec![item("d")]
    );
    assert_eq!(x.pep_nodes(HOST, "roland").await.unwrap(), vec![node(n, 1)]);
}

async fn pep_nodes_are_capped_and_deleted_with_their_items(fx: &Fixture) {
    let x = store(fx).await;
    x.pep_configure(HOST, "roland", &node("n1", 5), 2)
        .await
        .unwrap();
    x.pep_configure(HOST, "roland", &node("n2", 5), 2)
        .await
        .unwrap();
    assert!(matches!(
        x.pep_configure(HOST, "roland", &node("n3", 5), 2).await,
        Err(Error::QuotaExceeded {
            entity: Entity::XmppPepNode,
            limit: 2
        })
    ));
    x.pep_publish(HOST, "roland", "n1", &item("a"), 5)
        .await
        .unwrap();
    assert!(x.pep_delete_node(HOST, "roland", "n1").await.unwrap());
    assert!(x
        .pep_items(HOST, "roland", "n1", 10)
        .await
        .unwrap()
        .is_empty());
    x.pep_configure(HOST, "roland", &node("n3", 5), 2)
        .await
        .unwrap();
    x.pep_publish(HOST, "roland", "n3", &item("b"), 5)
        .await
        .unwrap();
    x.delete_account(HOST, "roland").await.unwrap();
    assert!(x.pep_nodes(HOST, "roland").await.unwrap().is_empty());
}

/// A batch spanning accounts: each message is stored or refused on its own
/// (unknown account, reused id, invalid text), and each account's cap holds.
async fn archive_batch_stores_what_it_can_and_answers_each_message(fx: &Fixture) {
    let x = store(fx).await;
    x.create_account(HOST, "lolita", "pencil").await.unwrap();
    append(&x, "old", "a@x", 1, 3).await;
    let stanzas: Vec<String> = (0..6).map(|i| format!("<message xmlns='jabber:client'><body>{i}</body></message>")).collect();
    let e = |id: &'static str, i: usize| ArchiveEntry { archive_id: id, with: "a@x", stored_at: 10 + i as i64, stanza: &stanzas[i] };
    let batch = vec![
        ArchiveAppend { host: HOST, username: "roland", entry: e("r1", 0), max_messages: 3 },
        ArchiveAppend { host: HOST, username: "lolita", entry: e("l1", 1), max_messages: 3 },
        ArchiveAppend { host: HOST, username: "nobody", entry: e("n1", 2), max_messages: 3 },
        ArchiveAppend { host: HOST, username: "roland", entry: e("old", 3), max_messages: 3 },
        ArchiveAppend { host: HOST, username: "roland", entry: e("r2", 4), max_messages: 3 },
        ArchiveAppend { host: HOST, username: "roland", entry: e("r3", 5), max_messages: 3 },
        ArchiveAppend { host: HOST, username: "bad name", entry: e("b1", 5), max_messages: 3 },
    ];
    let got = x.archive_append_batch(&batch).await.unwrap();
    assert_eq!(got.len(), batch.len());
    assert!(got[0].is_ok() && got[1].is_ok() && got[4].is_ok() && got[5].is_ok(), "{got:?}");
    assert!(matches!(got[2], Err(Error::NotFound(Entity::XmppAccount))), "{got:?}");
    assert!(matches!(got[3], Err(Error::AlreadyExists(Entity::XmppArchivedMessage))), "{got:?}");
    assert!(got[6].is_err(), "{got:?}");
    let all = ArchiveQuery { max: 100, ..Default::default() };
    let roland = x.archive_query(HOST, "roland", &all).await.unwrap();
    assert_eq!(ids(&roland), ["r1", "r2", "r3"], "capped at 3: the oldest went");
    let lolita = x.archive_query(HOST, "lolita", &all).await.unwrap();
    assert_eq!(ids(&lolita), ["l1"]);
    assert!(x.archive_append_batch(&[]).await.unwrap().is_empty());
}
