//! MUC room and archive storage, run against both backends: every
//! behaviour becomes `sqlite::<name>` and `mysql::<name>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use common::Fixture;
use rtc_userdb::{Error, MucArchived, UserDb, XmppStore};

on_both_backends!(
    rooms_are_saved_replaced_listed_and_deleted,
    the_archive_keeps_the_most_recent_messages_in_order,
    muc_input_is_checked,
);

const SERVICE: &str = "conference.falcot.com";

async fn store(fx: &Fixture) -> XmppStore {
    UserDb::open(&fx.config()).await.unwrap().xmpp()
}

fn msg(i: i64) -> MucArchived {
    MucArchived {
        stanza_id: format!("id-{i}"),
        stamp: 1_700_000_000 + i,
        stanza: format!(
            "<message xmlns='jabber:client' type='groupchat'><body>m{i}</body></message>"
        ),
    }
}

async fn rooms_are_saved_replaced_listed_and_deleted(fx: &Fixture) {
    let s = store(fx).await;
    s.save_muc_room(SERVICE, "plans", "<room v='1'/>")
        .await
        .unwrap();
    s.save_muc_room(SERVICE, "plans", "<room v='2'/>")
        .await
        .unwrap();
    s.save_muc_room(SERVICE, "chat", "<room v='3'/>")
        .await
        .unwrap();
    s.save_muc_room("conference.other.org", "plans", "<room v='4'/>")
        .await
        .unwrap();
    let rooms = s.muc_rooms(SERVICE).await.unwrap();
    let names: Vec<(&str, &str)> = rooms
        .iter()
        .map(|r| (r.room.as_str(), r.state.as_str()))
        .collect();
    assert_eq!(
        names,
        [("chat", "<room v='3'/>"), ("plans", "<room v='2'/>")]
    );
    s.push_muc_archive(SERVICE, "plans", &msg(1), 10)
        .await
        .unwrap();
    assert!(s.delete_muc_room(SERVICE, "plans").await.unwrap());
    assert!(!s.delete_muc_room(SERVICE, "plans").await.unwrap());
    assert!(
        s.muc_archive(SERVICE, "plans", 10)
            .await
            .unwrap()
            .is_empty(),
        "archive deleted with the room"
    );
    assert_eq!(s.muc_rooms(SERVICE).await.unwrap().len(), 1);
    assert_eq!(s.muc_rooms("conference.other.org").await.unwrap().len(), 1);
}

async fn the_archive_keeps_the_most_recent_messages_in_order(fx: &Fixture) {
    let s = store(fx).await;
    for i in 1..=7 {
        s.push_muc_archive(SERVICE, "r", &msg(i), 5).await.unwrap();
    }
    s.push_muc_archive(SERVICE, "other", &msg(100), 5)
        .await
        .unwrap();
    let all = s.muc_archive(SERVICE, "r", 100).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|m| m.stanza_id.as_str()).collect();
    assert_eq!(ids, ["id-3", "id-4", "id-5", "id-6", "id-7"]);
    assert_eq!(all[0], msg(3));
    let last2 = s.muc_archive(SERVICE, "r", 2).await.unwrap();
    assert_eq!(
        last2
            .iter()
            .map(|m| m.stanza_id.as_str())
            .collect::<Vec<_>>(),
        ["id-6", "id-7"]
    );
    assert_eq!(s.muc_archive(SERVICE, "other", 100).await.unwrap().len(), 1);
}

async fn muc_input_is_checked(fx: &Fixture) {
    let s = store(fx).await;
    assert!(matches!(
        s.save_muc_room(SERVICE, "", "<room/>").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        s.save_muc_room(SERVICE, "r", "").await,
        Err(Error::InvalidInput { .. })
    ));
    let mut bad = msg(1);
    bad.stanza = "x".repeat(rtc_userdb::MAX_XML_LEN + 1);
    assert!(matches!(
        s.push_muc_archive(SERVICE, "r", &bad, 5).await,
        Err(Error::InvalidInput { .. })
    ));
}
