//! One behaviour suite, run against both backends: every behaviour below
//! becomes `sqlite::<name>` and `mysql::<name>`. This file covers the TURN
//! store and the shared machinery; `sip.rs` and `xmpp.rs` cover the others.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use common::Fixture;
use rtc_userdb::{Change, Entity, Error, TurnAdmin, TurnKeys, TurnUser, UserDb, MAX_NAME_LEN};

on_both_backends!(
    reopening_keeps_schema_and_data,
    concurrent_first_opens_migrate_once,
    newer_schema_is_refused,
    user_add_update_delete,
    stored_keys_match_independently_computed_values,
    realms_are_separate,
    names_compare_as_exact_bytes,
    injection_looking_names_are_stored_literally,
    invalid_input_is_rejected_before_the_database,
    admins_verify_with_argon2,
    secrets_add_list_delete,
    counts_track_contents,
    two_handles_write_concurrently,
);

async fn open(fx: &Fixture) -> UserDb {
    UserDb::open(&fx.config()).await.unwrap()
}

async fn reopening_keeps_schema_and_data(fx: &Fixture) {
    let db = open(fx).await;
    let latest = UserDb::latest_schema_version();
    assert!(latest >= 1);
    assert_eq!(db.schema_version().await.unwrap(), latest);
    db.turn()
        .set_user("falcot.com", "roland", "secret_password")
        .await
        .unwrap();
    db.close().await.unwrap();

    // Re-applying a migration would fail (SQLite: table exists) or add a
    // second schema_version row.
    let db = open(fx).await;
    assert_eq!(db.schema_version().await.unwrap(), latest);
    assert!(db
        .turn()
        .user_keys("falcot.com", "roland")
        .await
        .unwrap()
        .is_some());
    let recorded = fx
        .raw_strings("SELECT CAST(COUNT(*) AS CHAR) FROM schema_version")
        .await;
    assert_eq!(recorded, vec![latest.to_string()]);
    db.close().await.unwrap();
}

async fn concurrent_first_opens_migrate_once(fx: &Fixture) {
    let cfg = fx.config();
    let opens = (0..4).map(|_| {
        let cfg = cfg.clone();
        tokio::spawn(async move { UserDb::open(&cfg).await })
    });
    for handle in opens.collect::<Vec<_>>() {
        let db = handle.await.unwrap().unwrap();
        assert_eq!(
            db.schema_version().await.unwrap(),
            UserDb::latest_schema_version()
        );
    }
    let recorded = fx
        .raw_strings("SELECT CAST(COUNT(*) AS CHAR) FROM schema_version")
        .await;
    assert_eq!(recorded, vec![UserDb::latest_schema_version().to_string()]);
}

async fn newer_schema_is_refused(fx: &Fixture) {
    open(fx).await.close().await.unwrap();
    fx.raw_exec(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (9999, 'future', 0)",
    )
    .await;
    let err = UserDb::open(&fx.config()).await.unwrap_err();
    match err {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!(found, 9999);
            assert_eq!(supported, UserDb::latest_schema_version());
        }
        other => panic!("expected SchemaTooNew, got {other}"),
    }
}

async fn user_add_update_delete(fx: &Fixture) {
    let turn = open(fx).await.turn();
    assert_eq!(
        turn.set_user("r", "alice", "one").await.unwrap(),
        Change::Created
    );
    let keys = turn.user_keys("r", "alice").await.unwrap().unwrap();
    assert_eq!(keys.md5, TurnKeys::derive("alice", "r", "one").md5);

    assert_eq!(
        turn.set_user("r", "alice", "two").await.unwrap(),
        Change::Updated
    );
    let keys = turn.user_keys("r", "alice").await.unwrap().unwrap();
    let expected = TurnKeys::derive("alice", "r", "two");
    assert_eq!((keys.md5, keys.sha256), (expected.md5, expected.sha256));
    // Setting the same password again is still an update, not an error.
    assert_eq!(
        turn.set_user("r", "alice", "two").await.unwrap(),
        Change::Updated
    );

    turn.delete_user("r", "alice").await.unwrap();
    assert!(turn.user_keys("r", "alice").await.unwrap().is_none());
    assert!(matches!(
        turn.delete_user("r", "alice").await,
        Err(Error::NotFound(Entity::TurnUser))
    ));
    assert!(turn.list_users(None).await.unwrap().is_empty());
}

async fn stored_keys_match_independently_computed_values(fx: &Fixture) {
    // printf '%s' 'roland:falcot.com:secret_password' | md5sum / sha256sum
    let turn = open(fx).await.turn();
    turn.set_user("falcot.com", "roland", "secret_password")
        .await
        .unwrap();
    let keys = turn
        .user_keys("falcot.com", "roland")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hex::encode(keys.md5), "3ac669c26660af60c9cb71dedf72d807");
    assert_eq!(
        hex::encode(keys.sha256),
        "45c3ea3206c7cc7134790b2f3d2ee6456dd0ba956cc208f597971590b6f3ddd9"
    );
}

async fn realms_are_separate(fx: &Fixture) {
    let turn = open(fx).await.turn();
    turn.set_user("falcot.com", "roland", "pw-a").await.unwrap();
    turn.set_user("example.org", "roland", "pw-b")
        .await
        .unwrap();
    turn.set_user("example.org", "zoe", "pw-c").await.unwrap();

    let a = turn
        .user_keys("falcot.com", "roland")
        .await
        .unwrap()
        .unwrap();
    let b = turn
        .user_keys("example.org", "roland")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.md5, TurnKeys::derive("roland", "falcot.com", "pw-a").md5);
    assert_eq!(b.md5, TurnKeys::derive("roland", "example.org", "pw-b").md5);
    assert!(turn.user_keys("falcot.com", "zoe").await.unwrap().is_none());

    let names = |v: Vec<TurnUser>| v.into_iter().map(|u| (u.realm, u.name)).collect::<Vec<_>>();
    assert_eq!(
        names(turn.list_users(Some("example.org")).await.unwrap()),
        [
            ("example.org".into(), "roland".into()),
            ("example.org".into(), "zoe".into())
        ]
    );
    assert_eq!(turn.list_users(None).await.unwrap().len(), 3);

    turn.delete_user("example.org", "roland").await.unwrap();
    assert!(turn
        .user_keys("falcot.com", "roland")
        .await
        .unwrap()
        .is_some());
    assert!(matches!(
        turn.delete_user("nowhere", "roland").await,
        Err(Error::NotFound(_))
    ));
}

async fn names_compare_as_exact_bytes(fx: &Fixture) {
    let turn = open(fx).await.turn();
    let variants = ["roland", "Roland", "roland ", "rolánd", "rola\u{301}nd"];
    for (i, name) in variants.iter().enumerate() {
        let change = turn.set_user("r", name, &format!("pw{i}")).await.unwrap();
        assert_eq!(
            change,
            Change::Created,
            "{name:?} collided with another name"
        );
    }
    for (i, name) in variants.iter().enumerate() {
        let keys = turn.user_keys("r", name).await.unwrap().unwrap();
        assert_eq!(
            keys.md5,
            TurnKeys::derive(name, "r", &format!("pw{i}")).md5,
            "{name:?}"
        );
    }
    assert!(turn.user_keys("R", "roland").await.unwrap().is_none());
    assert!(turn.user_keys("r ", "roland").await.unwrap().is_none());
    assert_eq!(
        turn.list_users(Some("r")).await.unwrap().len(),
        variants.len()
    );
}

async fn injection_looking_names_are_stored_literally(fx: &Fixture) {
    let turn = open(fx).await.turn();
    let hostile = [
        "x' OR '1'='1",
        "'; DROP TABLE turn_user; --",
        "\\'; DELETE FROM turn_admin; #",
        "roland\" OR \"\"=\"",
        "%",
        "_",
        "%n%s%x",
    ];
    for name in hostile {
        turn.set_user(name, name, name).await.unwrap();
        turn.add_secret(name, name).await.unwrap();
    }
    turn.set_user("falcot.com", "x", "pw").await.unwrap();

    for name in hostile {
        let keys = turn.user_keys(name, name).await.unwrap().unwrap();
        assert_eq!(keys.md5, TurnKeys::derive(name, name, name).md5, "{name:?}");
    }
    assert!(turn
        .user_keys("falcot.com", "x' OR '1'='1")
        .await
        .unwrap()
        .is_none());
    assert!(turn.user_keys("%", "x").await.unwrap().is_none());

    let mut listed: Vec<String> = turn
        .list_users(None)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();
    expected.push("x".into());
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(turn.list_secrets(Some("%")).await.unwrap().len(), 1);
    let counts = turn.counts().await.unwrap();
    assert_eq!(
        (counts.users, counts.secrets),
        (hostile.len() as u64 + 1, hostile.len() as u64)
    );
}

async fn invalid_input_is_rejected_before_the_database(fx: &Fixture) {
    let turn = open(fx).await.turn();
    let longest = "n".repeat(MAX_NAME_LEN);
    let too_long = "n".repeat(MAX_NAME_LEN + 1);
    let wide = "é".repeat(MAX_NAME_LEN / 2); // 254 bytes of 2-byte characters
    turn.set_user(&longest, &longest, "pw").await.unwrap();
    turn.set_user("r", &wide, "pw").await.unwrap();
    assert!(turn.user_keys(&longest, &longest).await.unwrap().is_some());
    assert!(turn.user_keys("r", &wide).await.unwrap().is_some());

    let cases: [(&str, &str, &str, &str); 6] = [
        ("r", "", "pw", "name"),
        ("", "n", "pw", "realm"),
        ("r", &too_long, "pw", "name"),
        ("r", "a\0b", "pw", "name"),
        ("r\n", "n", "pw", "realm"),
        ("r", "n", "", "password"),
    ];
    for (realm, name, password, field) in cases {
        match turn.set_user(realm, name, password).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{realm:?}/{name:?}: expected InvalidInput, got {other:?}"),
        }
    }
    // Lookups driven by network input simply find nothing.
    assert!(turn.user_keys("r", &too_long).await.unwrap().is_none());
    assert!(turn.user_keys("r", "a\0b").await.unwrap().is_none());
    assert!(turn.user_keys("", "").await.unwrap().is_none());
    assert!(matches!(
        turn.add_secret("r", "").await,
        Err(Error::InvalidInput {
            field: "secret",
            ..
        })
    ));
    assert_eq!(turn.counts().await.unwrap().users, 2);
}

async fn admins_verify_with_argon2(fx: &Fixture) {
    let turn = open(fx).await.turn();
    assert_eq!(
        turn.set_admin("boss", None, "first pw").await.unwrap(),
        Change::Created
    );
    let boss = TurnAdmin {
        name: "boss".into(),
        realm: None,
    };
    assert_eq!(
        turn.verify_admin("boss", "first pw").await.unwrap(),
        Some(boss.clone())
    );
    assert_eq!(turn.verify_admin("boss", "first pW").await.unwrap(), None);
    assert_eq!(turn.verify_admin("boss", "").await.unwrap(), None);
    assert_eq!(turn.verify_admin("nobody", "first pw").await.unwrap(), None);

    let hashes = fx.raw_strings("SELECT password_hash FROM turn_admin").await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$"), "{}", hashes[0]);
    assert!(!hashes[0].contains("first pw"));

    assert_eq!(
        turn.set_admin("boss", Some("falcot.com"), "second pw")
            .await
            .unwrap(),
        Change::Updated
    );
    assert_eq!(turn.verify_admin("boss", "first pw").await.unwrap(), None);
    let scoped = turn
        .verify_admin("boss", "second pw")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scoped.realm.as_deref(), Some("falcot.com"));

    turn.set_admin("aide", None, "x").await.unwrap();
    let names: Vec<String> = turn
        .list_admins()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["aide", "boss"]);

    turn.delete_admin("boss").await.unwrap();
    assert_eq!(turn.verify_admin("boss", "second pw").await.unwrap(), None);
    assert!(matches!(
        turn.delete_admin("boss").await,
        Err(Error::NotFound(Entity::TurnAdmin))
    ));
}

async fn secrets_add_list_delete(fx: &Fixture) {
    let turn = open(fx).await.turn();
    turn.add_secret("a.example", "old-secret").await.unwrap();
    turn.add_secret("a.example", "new-secret").await.unwrap();
    turn.add_secret("b.example", "old-secret").await.unwrap();
    assert!(matches!(
        turn.add_secret("a.example", "old-secret").await,
        Err(Error::AlreadyExists(Entity::TurnSecret))
    ));

    let mut in_a: Vec<String> = turn
        .list_secrets(Some("a.example"))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.secret)
        .collect();
    in_a.sort();
    assert_eq!(in_a, ["new-secret", "old-secret"]);
    assert_eq!(turn.list_secrets(None).await.unwrap().len(), 3);

    turn.delete_secret("a.example", "old-secret").await.unwrap();
    assert!(matches!(
        turn.delete_secret("a.example", "old-secret").await,
        Err(Error::NotFound(Entity::TurnSecret))
    ));
    // The same secret in another realm is untouched.
    assert_eq!(turn.list_secrets(Some("b.example")).await.unwrap().len(), 1);
    assert_eq!(turn.delete_secrets("b.example").await.unwrap(), 1);
    assert_eq!(turn.delete_secrets("b.example").await.unwrap(), 0);

    let left = turn.list_secrets(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].realm.as_str(), left[0].secret.as_str()),
        ("a.example", "new-secret")
    );
    assert!(
        !format!("{left:?}").contains("new-secret"),
        "Debug must redact secrets"
    );
}

async fn counts_track_contents(fx: &Fixture) {
    let turn = open(fx).await.turn();
    assert_eq!(turn.counts().await.unwrap(), Default::default());
    for i in 0..3 {
        turn.set_user("r", &format!("u{i}"), "pw").await.unwrap();
    }
    turn.set_user("r", "u0", "again").await.unwrap();
    turn.set_admin("boss", None, "pw").await.unwrap();
    turn.add_secret("r", "s1").await.unwrap();
    turn.add_secret("r", "s2").await.unwrap();
    let c = turn.counts().await.unwrap();
    assert_eq!((c.users, c.admins, c.secrets), (3, 1, 2));
    turn.delete_user("r", "u1").await.unwrap();
    assert_eq!(turn.counts().await.unwrap().users, 2);
}

/// Like `turnadmin` adding users while `turnd` authenticates.
async fn two_handles_write_concurrently(fx: &Fixture) {
    let daemon = open(fx).await;
    let admin = open(fx).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let db = if i % 2 == 0 {
            daemon.clone()
        } else {
            admin.clone()
        };
        tasks.push(tokio::spawn(async move {
            let name = format!("user{i}");
            db.turn().set_user("r", &name, &name).await.unwrap();
            // Read back immediately, half of the time through the other handle.
            db.turn().user_keys("r", "user0").await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for db in [&daemon, &admin] {
        let users = db.turn().list_users(Some("r")).await.unwrap();
        assert_eq!(users.len(), 40);
        let keys = db.turn().user_keys("r", "user39").await.unwrap().unwrap();
        assert_eq!(
            keys.sha256,
            TurnKeys::derive("user39", "r", "user39").sha256
        );
    }
}
