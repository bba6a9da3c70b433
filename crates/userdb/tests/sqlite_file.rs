//! Behaviours specific to the SQLite file: permissions, what is on disk,
//! and sharing the file with another process (the admin tool).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rtc_userdb::{DatabaseConfig, Error, SqliteConfig, TurnKeys, UserDb};

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turnd.sqlite");
    (dir, path)
}

/// Holds a write transaction on `path` from a plain SQLite connection (as
/// another process would) for `hold`, after inserting one secret.
fn hold_write_lock(path: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let path = path.to_owned();
    let (locked_tx, locked_rx) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "INSERT INTO turn_secret (realm, secret, created_at) VALUES ('r', 'from-other-process', 0)",
            [],
        )
        .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(hold);
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    holder
}

#[tokio::test]
async fn database_files_are_private() {
    let (dir, path) = temp_db();
    let db = UserDb::open(&DatabaseConfig::sqlite(&path)).await.unwrap();
    db.turn().set_user("r", "roland", "pw").await.unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&entry.metadata().unwrap().permissions());
        assert_eq!(mode & 0o077, 0, "{:?} has mode {mode:o}", entry.path());
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the database and its WAL, saw {checked} files"
    );
}

#[tokio::test]
async fn plaintext_passwords_never_reach_the_files() {
    let (dir, path) = temp_db();
    let db = UserDb::open(&DatabaseConfig::sqlite(&path)).await.unwrap();
    db.turn()
        .set_user("r", "name-marker-1b7e", "USER-PW-MARKER-7f3a")
        .await
        .unwrap();
    db.turn()
        .set_admin("admin-marker-5d2c", None, "ADMIN-PW-MARKER-91c2")
        .await
        .unwrap();
    db.sip()
        .add_subscriber("d", "sip-marker-0a4e", "SIP-PW-MARKER-6b1d")
        .await
        .unwrap();
    db.sip()
        .set_password("d", "sip-marker-0a4e", "SIP-PW-MARKER-2e9f")
        .await
        .unwrap();
    db.xmpp()
        .create_account("h", "xmpp-marker-c83a", "XMPP-PW-MARKER-4f70")
        .await
        .unwrap();
    db.xmpp()
        .set_password("h", "xmpp-marker-c83a", "XMPP-PW-MARKER-9d15")
        .await
        .unwrap();

    let scan = || {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        let has = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
        // The names are stored, so the scan does see the data...
        for name in [
            "name-marker-1b7e",
            "admin-marker-5d2c",
            "sip-marker-0a4e",
            "xmpp-marker-c83a",
        ] {
            assert!(has(name), "{name}");
        }
        // ...but the passwords are not.
        for password in [
            "USER-PW-MARKER-7f3a",
            "ADMIN-PW-MARKER-91c2",
            "SIP-PW-MARKER-6b1d",
            "SIP-PW-MARKER-2e9f",
            "XMPP-PW-MARKER-4f70",
            "XMPP-PW-MARKER-9d15",
        ] {
            assert!(!has(password), "{password}");
        }
    };
    scan(); // while open: data in the WAL
    db.close().await.unwrap();
    scan(); // after close: checkpointed into the main file
}

#[tokio::test]
async fn a_write_waits_for_another_process_lock() {
    let (_dir, path) = temp_db();
    let db = UserDb::open(&DatabaseConfig::sqlite(&path)).await.unwrap();
    let holder = hold_write_lock(&path, Duration::from_millis(600));
    let started = Instant::now();
    db.turn().set_user("r", "roland", "pw").await.unwrap();
    let waited = started.elapsed();
    holder.join().unwrap();
    assert!(
        waited >= Duration::from_millis(400),
        "write did not wait: {waited:?}"
    );
    let secrets = db.turn().list_secrets(Some("r")).await.unwrap();
    assert_eq!(secrets.len(), 1, "the other process's commit is visible");
}

#[tokio::test]
async fn lookups_do_not_wait_for_a_writer() {
    let (_dir, path) = temp_db();
    let db = UserDb::open(&DatabaseConfig::sqlite(&path)).await.unwrap();
    db.turn().set_user("r", "roland", "pw").await.unwrap();
    let holder = hold_write_lock(&path, Duration::from_secs(2));
    let started = Instant::now();
    let keys = db.turn().user_keys("r", "roland").await.unwrap().unwrap();
    let uncommitted = db.turn().list_secrets(None).await.unwrap();
    let took = started.elapsed();
    holder.join().unwrap();
    assert_eq!(keys.md5, TurnKeys::derive("roland", "r", "pw").md5);
    assert!(
        uncommitted.is_empty(),
        "saw another transaction's uncommitted row"
    );
    assert!(
        took < Duration::from_secs(1),
        "lookup waited for the writer: {took:?}"
    );
}

#[tokio::test]
async fn busy_timeout_bounds_the_wait() {
    let (_dir, path) = temp_db();
    let cfg = DatabaseConfig::Sqlite(SqliteConfig {
        busy_timeout_ms: 200,
        ..match DatabaseConfig::sqlite(&path) {
            DatabaseConfig::Sqlite(c) => c,
            other => panic!("{other:?}"),
        }
    });
    let db = UserDb::open(&cfg).await.unwrap();
    let holder = hold_write_lock(&path, Duration::from_secs(3));
    let started = Instant::now();
    let err = db.turn().set_user("r", "roland", "pw").await.unwrap_err();
    let took = started.elapsed();
    holder.join().unwrap();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(
        took < Duration::from_secs(2),
        "waited {took:?} despite a 200 ms timeout"
    );
}

#[tokio::test]
async fn missing_directory_is_a_clear_error() {
    let (dir, _) = temp_db();
    let path = dir.path().join("no-such-dir").join("turnd.sqlite");
    let err = UserDb::open(&DatabaseConfig::sqlite(&path))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[tokio::test]
async fn committed_write_survives_reopen_without_close() {
    let (_dir, path) = temp_db();
    let db = UserDb::open(&DatabaseConfig::sqlite(&path)).await.unwrap();
    db.turn().set_user("r", "roland", "pw").await.unwrap();
    drop(db);
    let db = UserDb::open(&DatabaseConfig::sqlite(&path)).await.unwrap();
    assert!(db.turn().user_keys("r", "roland").await.unwrap().is_some());
}

#[tokio::test]
async fn zero_readers_is_a_config_error() {
    let (_dir, path) = temp_db();
    let yaml = format!("sqlite:\n  path: {}\n  readers: 0\n", path.display());
    let cfg: DatabaseConfig = yaml_serde::from_str(&yaml).unwrap();
    assert!(matches!(UserDb::open(&cfg).await, Err(Error::Config(_))));
}
