//! XMPP behaviours, run against both backends: every behaviour becomes
//! `sqlite::<name>` and `mysql::<name>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use common::Fixture;
use rtc_userdb::credentials::{
    scram_client_key, scram_derive, scram_hmac, scram_salted_password, scram_verify_client_proof,
    DEFAULT_SCRAM_ITERATIONS,
};
use rtc_userdb::{Entity, Error, RosterItem, ScramAlgorithm, Subscription, UserDb, XmppStore};

on_both_backends!(
    stored_scram_keys_authenticate_the_password,
    account_register_passwd_delete,
    roster_changes_bump_the_version,
    roster_size_is_capped,
    offline_queue_keeps_order_and_quota,
    offline_quota_holds_under_concurrent_writers,
    vcard_private_storage_and_blocklist,
    deleting_an_account_cascades_to_its_data,
    per_user_data_needs_an_account,
    invalid_input_is_rejected,
);

const HOST: &str = "falcot.com";

async fn open(fx: &Fixture) -> UserDb {
    UserDb::open(&fx.config()).await.unwrap()
}

/// The store with the minimum iteration count, to keep debug builds quick;
/// the default count is checked in `stored_scram_keys_...`.
async fn store(fx: &Fixture) -> XmppStore {
    open(fx).await.xmpp().with_scram_iterations(4096).unwrap()
}

fn item(jid: &str) -> RosterItem {
    RosterItem {
        jid: jid.into(),
        name: None,
        subscription: Subscription::None,
        ask: false,
        approved: false,
        pending_in: None,
        groups: Vec::new(),
    }
}

/// Runs the client side of SCRAM (RFC 5802 §3) with `password` against the
/// stored credentials, and checks the server side accepts the proof.
fn client_proves(
    alg: ScramAlgorithm,
    creds: &rtc_userdb::ScramCredentials,
    password: &str,
) -> bool {
    let auth = b"n=roland,r=abc,r=abcdef,s=c2FsdA==,i=4096,c=biws,r=abcdef";
    let salted = scram_salted_password(alg, password, &creds.salt, creds.iterations);
    let client_key = scram_client_key(alg, &salted);
    let stored = creds.keys(alg).stored_key.clone();
    let signature = scram_hmac(alg, &stored, auth);
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    scram_verify_client_proof(alg, &stored, auth, &proof)
}

async fn stored_scram_keys_authenticate_the_password(fx: &Fixture) {
    let xmpp = open(fx).await.xmpp();
    xmpp.create_account(HOST, "roland", "pencil").await.unwrap();
    let creds = xmpp.credentials(HOST, "roland").await.unwrap().unwrap();
    assert_eq!(creds.iterations, DEFAULT_SCRAM_ITERATIONS);
    assert_eq!(creds.iterations, 10_000);
    assert_eq!(creds.salt.len(), 16);
    for alg in [ScramAlgorithm::Sha1, ScramAlgorithm::Sha256] {
        let (stored, server) = scram_derive(alg, "pencil", &creds.salt, creds.iterations);
        assert_eq!(creds.keys(alg).stored_key, stored, "{alg:?}");
        assert_eq!(creds.keys(alg).server_key, server, "{alg:?}");
        assert!(client_proves(alg, &creds, "pencil"), "{alg:?}");
        assert!(!client_proves(alg, &creds, "pencil "), "{alg:?}");
    }
    assert!(!format!("{creds:?}").contains(&format!("{:?}", creds.sha1.stored_key)));
    assert_eq!(xmpp.credentials(HOST, "nobody").await.unwrap(), None);
    assert_eq!(xmpp.credentials("", "roland").await.unwrap(), None);
}

async fn account_register_passwd_delete(fx: &Fixture) {
    let xmpp = store(fx).await;
    xmpp.create_account(HOST, "roland", "one").await.unwrap();
    assert!(matches!(
        xmpp.create_account(HOST, "roland", "two").await,
        Err(Error::AlreadyExists(Entity::XmppAccount))
    ));
    let before = xmpp.credentials(HOST, "roland").await.unwrap().unwrap();
    assert!(client_proves(ScramAlgorithm::Sha256, &before, "one"));

    xmpp.set_password(HOST, "roland", "two").await.unwrap();
    let after = xmpp.credentials(HOST, "roland").await.unwrap().unwrap();
    assert_ne!(before.salt, after.salt, "a new password gets a new salt");
    assert!(client_proves(ScramAlgorithm::Sha256, &after, "two"));
    assert!(!client_proves(ScramAlgorithm::Sha1, &after, "one"));
    assert!(matches!(
        xmpp.set_password(HOST, "nobody", "x").await,
        Err(Error::NotFound(Entity::XmppAccount))
    ));

    xmpp.create_account(HOST, "aline", "pw").await.unwrap();
    xmpp.create_account("example.org", "roland", "pw")
        .await
        .unwrap();
    assert_eq!(xmpp.accounts(HOST).await.unwrap(), ["aline", "roland"]);
    assert_eq!(xmpp.account_count(Some(HOST)).await.unwrap(), 2);
    assert_eq!(xmpp.account_count(None).await.unwrap(), 3);
    assert!(xmpp.account_exists(HOST, "roland").await.unwrap());
    assert!(!xmpp.account_exists(HOST, "Roland").await.unwrap());

    xmpp.delete_account(HOST, "roland").await.unwrap();
    assert!(!xmpp.account_exists(HOST, "roland").await.unwrap());
    assert!(xmpp.account_exists("example.org", "roland").await.unwrap());
    assert!(matches!(
        xmpp.delete_account(HOST, "roland").await,
        Err(Error::NotFound(Entity::XmppAccount))
    ));
}

async fn roster_changes_bump_the_version(fx: &Fixture) {
    let xmpp = store(fx).await;
    assert_eq!(xmpp.roster(HOST, "roland").await.unwrap(), None);
    xmpp.create_account(HOST, "roland", "pw").await.unwrap();
    let empty = xmpp.roster(HOST, "roland").await.unwrap().unwrap();
    assert_eq!((empty.version, empty.items.len()), (0, 0));

    let raphael = RosterItem {
        name: Some("Raphaël".into()),
        subscription: Subscription::To,
        ask: true,
        groups: vec!["Falcot".into(), "Friends & family".into()],
        ..item("raphael@falcot.com")
    };
    assert_eq!(
        xmpp.set_roster_item(HOST, "roland", &raphael, 100)
            .await
            .unwrap(),
        1
    );
    let request = RosterItem {
        pending_in: Some(
            "<presence from='zoe@example.org' type='subscribe'><status>hi</status></presence>"
                .into(),
        ),
        ..item("zoe@example.org")
    };
    assert_eq!(
        xmpp.set_roster_item(HOST, "roland", &request, 100)
            .await
            .unwrap(),
        2
    );
    let roster = xmpp.roster(HOST, "roland").await.unwrap().unwrap();
    assert_eq!(roster.version, 2);
    assert_eq!(roster.items, [raphael.clone(), request.clone()]);

    // Approving the request: one more version, state replaced.
    let approved = RosterItem {
        subscription: Subscription::From,
        approved: true,
        pending_in: None,
        ..request
    };
    assert_eq!(
        xmpp.set_roster_item(HOST, "roland", &approved, 100)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        xmpp.roster_item(HOST, "roland", "zoe@example.org")
            .await
            .unwrap(),
        Some(approved)
    );
    assert_eq!(
        xmpp.remove_roster_item(HOST, "roland", "raphael@falcot.com")
            .await
            .unwrap(),
        4
    );
    assert!(matches!(
        xmpp.remove_roster_item(HOST, "roland", "raphael@falcot.com")
            .await,
        Err(Error::NotFound(Entity::XmppRosterItem))
    ));
    let roster = xmpp.roster(HOST, "roland").await.unwrap().unwrap();
    assert_eq!(
        roster.version, 4,
        "a failed removal does not bump the version"
    );
    assert_eq!(roster.items.len(), 1);
    assert_eq!(
        xmpp.roster_item(HOST, "roland", "raphael@falcot.com")
            .await
            .unwrap(),
        None
    );

    // Versions are per user.
    xmpp.create_account(HOST, "aline", "pw").await.unwrap();
    assert_eq!(
        xmpp.set_roster_item(HOST, "aline", &raphael, 100)
            .await
            .unwrap(),
        1
    );
}

async fn roster_size_is_capped(fx: &Fixture) {
    let xmpp = store(fx).await;
    xmpp.create_account(HOST, "roland", "pw").await.unwrap();
    for i in 0..3 {
        xmpp.set_roster_item(HOST, "roland", &item(&format!("c{i}@h")), 3)
            .await
            .unwrap();
    }
    assert!(matches!(
        xmpp.set_roster_item(HOST, "roland", &item("c3@h"), 3).await,
        Err(Error::QuotaExceeded {
            entity: Entity::XmppRosterItem,
            limit: 3
        })
    ));
    // Updating an existing item is not growth.
    let renamed = RosterItem {
        name: Some("zero".into()),
        ..item("c0@h")
    };
    assert_eq!(
        xmpp.set_roster_item(HOST, "roland", &renamed, 3)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        xmpp.roster(HOST, "roland")
            .await
            .unwrap()
            .unwrap()
            .items
            .len(),
        3
    );
}

async fn offline_queue_keeps_order_and_quota(fx: &Fixture) {
    let xmpp = store(fx).await;
    xmpp.create_account(HOST, "roland", "pw").await.unwrap();
    let msg = |i: u32| format!("<message to='roland@falcot.com'><body>m{i}</body></message>");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(xmpp.push_offline(HOST, "roland", &msg(i), 5).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    match xmpp.push_offline(HOST, "roland", &msg(5), 5).await {
        Err(Error::QuotaExceeded {
            entity: Entity::XmppOfflineMessage,
            limit: 5,
        }) => {}
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    let stored = xmpp.offline_messages(HOST, "roland").await.unwrap();
    let bodies: Vec<&str> = stored.iter().map(|m| m.stanza.as_str()).collect();
    assert_eq!(bodies, (0..5).map(msg).collect::<Vec<_>>());
    assert_eq!(stored.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert!(stored.iter().all(|m| m.stored_at > 1_600_000_000));

    // Delivered up to the third; a message arriving meanwhile stays.
    assert_eq!(
        xmpp.delete_offline_through(HOST, "roland", ids[2])
            .await
            .unwrap(),
        3
    );
    let late = xmpp.push_offline(HOST, "roland", &msg(9), 5).await.unwrap();
    assert!(late > ids[4]);
    assert_eq!(xmpp.offline_count(HOST, "roland").await.unwrap(), 3);
    let left: Vec<i64> = xmpp
        .offline_messages(HOST, "roland")
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, [ids[3], ids[4], late]);
    assert_eq!(
        xmpp.delete_offline_through(HOST, "roland", i64::MAX)
            .await
            .unwrap(),
        3
    );
    assert_eq!(xmpp.offline_count(HOST, "roland").await.unwrap(), 0);
}

/// Two `xmppd` nodes storing messages for one user at once never exceed
/// the quota.
async fn offline_quota_holds_under_concurrent_writers(fx: &Fixture) {
    let node1 = store(fx).await;
    let node2 = store(fx).await;
    node1.create_account(HOST, "roland", "pw").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 {
            node1.clone()
        } else {
            node2.clone()
        };
        tasks.push(tokio::spawn(async move {
            node.push_offline(
                HOST,
                "roland",
                &format!("<message><body>{i}</body></message>"),
                25,
            )
            .await
        }));
    }
    let (mut stored, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => stored += 1,
            Err(Error::QuotaExceeded { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((stored, refused), (25, 15));
    assert_eq!(node2.offline_count(HOST, "roland").await.unwrap(), 25);
}

async fn vcard_private_storage_and_blocklist(fx: &Fixture) {
    let xmpp = store(fx).await;
    xmpp.create_account(HOST, "roland", "pw").await.unwrap();

    assert_eq!(xmpp.vcard(HOST, "roland").await.unwrap(), None);
    let v1 = "<vCard xmlns='vcard-temp'><FN>Roland Mas</FN></vCard>";
    let v2 = "<vCard xmlns='vcard-temp'><FN>Roland</FN>\n<NICKNAME>rol</NICKNAME></vCard>";
    xmpp.set_vcard(HOST, "roland", v1).await.unwrap();
    xmpp.set_vcard(HOST, "roland", v2).await.unwrap();
    assert_eq!(
        xmpp.vcard(HOST, "roland").await.unwrap().as_deref(),
        Some(v2)
    );
    assert!(xmpp.delete_vcard(HOST, "roland").await.unwrap());
    assert!(!xmpp.delete_vcard(HOST, "roland").await.unwrap());

    let key = "{storage:bookmarks}storage";
    let doc = "<storage xmlns='storage:bookmarks'><conference jid='debian@conference.falcot.com'/></storage>";
    xmpp.set_private(HOST, "roland", key, doc, 2).await.unwrap();
    xmpp.set_private(HOST, "roland", key, doc, 2).await.unwrap();
    xmpp.set_private(
        HOST,
        "roland",
        "{exodus:prefs}prefs",
        "<prefs xmlns='exodus:prefs'/>",
        2,
    )
    .await
    .unwrap();
    assert!(matches!(
        xmpp.set_private(HOST, "roland", "{a:b}c", "<c xmlns='a:b'/>", 2)
            .await,
        Err(Error::QuotaExceeded { .. })
    ));
    assert_eq!(
        xmpp.private(HOST, "roland", key).await.unwrap().as_deref(),
        Some(doc)
    );
    assert_eq!(xmpp.private(HOST, "roland", "{a:b}c").await.unwrap(), None);
    assert!(xmpp.delete_private(HOST, "roland", key).await.unwrap());
    assert_eq!(xmpp.private(HOST, "roland", key).await.unwrap(), None);

    assert!(xmpp
        .block(HOST, "roland", "spam@example.net", 2)
        .await
        .unwrap());
    assert!(!xmpp
        .block(HOST, "roland", "spam@example.net", 2)
        .await
        .unwrap());
    assert!(xmpp.block(HOST, "roland", "example.com", 2).await.unwrap());
    assert!(matches!(
        xmpp.block(HOST, "roland", "third@example.net", 2).await,
        Err(Error::QuotaExceeded {
            entity: Entity::XmppBlockedJid,
            limit: 2
        })
    ));
    assert_eq!(
        xmpp.blocklist(HOST, "roland").await.unwrap(),
        ["example.com", "spam@example.net"]
    );
    assert!(xmpp
        .is_blocked(HOST, "roland", "example.com")
        .await
        .unwrap());
    assert!(!xmpp
        .is_blocked(HOST, "roland", "third@example.net")
        .await
        .unwrap());
    assert!(xmpp.unblock(HOST, "roland", "example.com").await.unwrap());
    assert!(!xmpp.unblock(HOST, "roland", "example.com").await.unwrap());
    assert_eq!(xmpp.clear_blocklist(HOST, "roland").await.unwrap(), 1);
    assert!(xmpp.blocklist(HOST, "roland").await.unwrap().is_empty());
}

async fn deleting_an_account_cascades_to_its_data(fx: &Fixture) {
    let xmpp = store(fx).await;
    for user in ["roland", "aline"] {
        xmpp.create_account(HOST, user, "pw").await.unwrap();
        xmpp.set_roster_item(HOST, user, &item("x@h"), 10)
            .await
            .unwrap();
        xmpp.push_offline(HOST, user, "<message/>", 10)
            .await
            .unwrap();
        xmpp.set_vcard(HOST, user, "<vCard xmlns='vcard-temp'/>")
            .await
            .unwrap();
        xmpp.set_private(HOST, user, "k", "<k xmlns='k'/>", 10)
            .await
            .unwrap();
        xmpp.block(HOST, user, "spam@h", 10).await.unwrap();
    }
    xmpp.delete_account(HOST, "roland").await.unwrap();
    for table in [
        "xmpp_roster",
        "xmpp_offline",
        "xmpp_vcard",
        "xmpp_private",
        "xmpp_blocklist",
    ] {
        let users = fx
            .raw_strings(&format!("SELECT username FROM {table} ORDER BY username"))
            .await;
        assert_eq!(users, ["aline"], "{table}");
    }
    // Re-registering the name starts from nothing.
    xmpp.create_account(HOST, "roland", "pw").await.unwrap();
    let roster = xmpp.roster(HOST, "roland").await.unwrap().unwrap();
    assert_eq!((roster.version, roster.items.len()), (0, 0));
    assert_eq!(xmpp.offline_count(HOST, "roland").await.unwrap(), 0);
    assert_eq!(xmpp.vcard(HOST, "roland").await.unwrap(), None);
}

async fn per_user_data_needs_an_account(fx: &Fixture) {
    let xmpp = store(fx).await;
    let missing = |r: Result<(), Error>| {
        assert!(
            matches!(r, Err(Error::NotFound(Entity::XmppAccount))),
            "{r:?}"
        );
    };
    missing(
        xmpp.push_offline(HOST, "ghost", "<message/>", 10)
            .await
            .map(drop),
    );
    missing(
        xmpp.set_roster_item(HOST, "ghost", &item("x@h"), 10)
            .await
            .map(drop),
    );
    missing(
        xmpp.remove_roster_item(HOST, "ghost", "x@h")
            .await
            .map(drop),
    );
    missing(xmpp.set_vcard(HOST, "ghost", "<vCard/>").await);
    missing(xmpp.set_private(HOST, "ghost", "k", "<k/>", 10).await);
    missing(xmpp.block(HOST, "ghost", "x@h", 10).await.map(drop));
    assert!(xmpp
        .offline_messages(HOST, "ghost")
        .await
        .unwrap()
        .is_empty());
    assert!(xmpp.blocklist(HOST, "ghost").await.unwrap().is_empty());
}

async fn invalid_input_is_rejected(fx: &Fixture) {
    let db = open(fx).await;
    for n in [0, 4095, 1_000_001] {
        assert!(matches!(
            db.xmpp().with_scram_iterations(n),
            Err(Error::InvalidInput {
                field: "iterations",
                ..
            })
        ));
    }
    let xmpp = db.xmpp().with_scram_iterations(4096).unwrap();
    xmpp.create_account(HOST, "roland", "pw").await.unwrap();
    let field = |r: Result<(), Error>| match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(field(xmpp.create_account(HOST, "", "pw").await), "username");
    assert_eq!(field(xmpp.create_account("", "x", "pw").await), "host");
    assert_eq!(field(xmpp.create_account(HOST, "x", "").await), "password");
    assert_eq!(
        field(
            xmpp.push_offline(HOST, "roland", "<a>\u{0}</a>", 10)
                .await
                .map(drop)
        ),
        "stanza"
    );
    let huge = format!("<message><body>{}</body></message>", "x".repeat(256 * 1024));
    assert_eq!(
        field(xmpp.push_offline(HOST, "roland", &huge, 10).await.map(drop)),
        "stanza"
    );
    let long_jid = format!("{}@h", "a".repeat(1100));
    assert_eq!(
        field(
            xmpp.set_roster_item(HOST, "roland", &item(&long_jid), 10)
                .await
                .map(drop)
        ),
        "jid"
    );
    let bad_group = RosterItem {
        groups: vec!["a\nb".into()],
        ..item("x@h")
    };
    assert_eq!(
        field(
            xmpp.set_roster_item(HOST, "roland", &bad_group, 10)
                .await
                .map(drop)
        ),
        "group"
    );
    assert_eq!(
        field(xmpp.block(HOST, "roland", "", 10).await.map(drop)),
        "jid"
    );
    assert_eq!(xmpp.offline_count(HOST, "roland").await.unwrap(), 0);
    assert_eq!(
        xmpp.roster(HOST, "roland").await.unwrap().unwrap().version,
        0
    );
}
