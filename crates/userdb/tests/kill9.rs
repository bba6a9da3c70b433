//! Durability: a child process writes as fast as it can — per round a TURN
//! user, a SIP registration and an XMPP offline message — and reports each
//! committed round; it is killed with SIGKILL mid-stream; every write it
//! reported must then be in the database, on both backends.
//!
//! Runs without libtest (`harness = false`) because it re-executes its own
//! binary as the child.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Fixture;
use rtc_userdb::{Binding, BindingChange, DatabaseConfig, TurnKeys, UserDb};

const CHILD_SQLITE: &str = "USERDB_KILL9_CHILD_SQLITE";
const CHILD_MYSQL: &str = "USERDB_KILL9_CHILD_MYSQL";
const REALM: &str = "kill9";
/// The XMPP account (on host [`REALM`]) receiving the offline messages.
const XMPP_USER: &str = "inbox";
/// "Now" for the registrations, which expire long after it.
const T0: i64 = 1_700_000_000;
/// Writes to see reported before pulling the plug.
const BEFORE_KILL: usize = 25;
/// Upper bound on the child's writes, in case the parent dies first.
const CHILD_MAX_WRITES: usize = 20_000;

fn main() {
    let child_cfg = match (std::env::var(CHILD_SQLITE), std::env::var(CHILD_MYSQL)) {
        (Ok(path), _) => Some(DatabaseConfig::sqlite(path)),
        (_, Ok(url)) => Some(DatabaseConfig::mysql(url)),
        _ => None,
    };
    if let Some(cfg) = child_cfg {
        child(&cfg);
        return;
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut failures = 0;
    for name in ["sqlite", "mysql"] {
        print!("test {name}::committed_writes_survive_sigkill ... ");
        let outcome = std::panic::catch_unwind(|| {
            rt.block_on(async {
                let fx = match name {
                    "sqlite" => Fixture::sqlite(),
                    _ => Fixture::mysql().await,
                };
                committed_writes_survive_sigkill(&fx).await;
            })
        });
        if outcome.is_ok() {
            println!("ok");
        } else {
            println!("FAILED");
            failures += 1;
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failures} failed",
        if failures == 0 { "ok" } else { "FAILED" },
        2 - failures
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

fn aor(i: usize) -> String {
    format!("u{i}@{REALM}")
}

fn contact(i: usize) -> String {
    format!("sip:u{i}@192.0.2.1:{}", 1024 + i)
}

fn stanza(i: usize) -> String {
    format!("<message to='inbox@kill9'><body>{i}</body></message>")
}

/// The child: write one round, print "committed N" once all three writes
/// have returned, repeat.
fn child(cfg: &DatabaseConfig) {
    use std::io::Write as _;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = UserDb::open(cfg).await.unwrap();
        let mut out = std::io::stdout().lock();
        for i in 0..CHILD_MAX_WRITES {
            db.turn()
                .set_user(REALM, &format!("u{i}"), &format!("pw{i}"))
                .await
                .unwrap();
            let binding = Binding::new(&contact(i), T0 + 1_000_000, "kill9", 1);
            db.sip()
                .save_bindings(&aor(i), &[BindingChange::Set(binding)], T0, None)
                .await
                .unwrap();
            db.xmpp()
                .push_offline(REALM, XMPP_USER, &stanza(i), CHILD_MAX_WRITES as u32)
                .await
                .unwrap();
            writeln!(out, "committed {i}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// Kills the child on every exit path, including a failed assertion.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn committed_writes_survive_sigkill(fx: &Fixture) {
    // Create the schema and the XMPP account first so the child only does
    // data writes.
    let db = UserDb::open(&fx.config()).await.unwrap();
    db.xmpp()
        .with_scram_iterations(4096)
        .unwrap()
        .create_account(REALM, XMPP_USER, "pw")
        .await
        .unwrap();
    db.close().await.unwrap();

    let mut cmd = Command::new(std::env::current_exe().unwrap());
    match fx.config() {
        DatabaseConfig::Sqlite(c) => cmd.env(CHILD_SQLITE, c.path),
        DatabaseConfig::Mysql(c) => cmd.env(CHILD_MYSQL, c.url),
    };
    let mut child = KillOnDrop(cmd.stdout(Stdio::piped()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();

    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("committed ") {
                if lines_tx.send(n.parse::<usize>().unwrap()).is_err() {
                    break;
                }
            }
        }
    });

    for _ in 0..BEFORE_KILL {
        lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child stopped reporting writes");
    }
    // SIGKILL: no destructors, no checkpoint, no clean disconnect.
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "child was not killed by SIGKILL: {status:?}"
    );
    reader.join().unwrap();
    let reported: Vec<usize> = lines_rx.try_iter().collect();
    let last = reported
        .last()
        .copied()
        .unwrap_or(BEFORE_KILL - 1)
        .max(BEFORE_KILL - 1);

    let db = UserDb::open(&fx.config()).await.unwrap();
    for i in 0..=last {
        let keys = db
            .turn()
            .user_keys(REALM, &format!("u{i}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("write {i} was reported committed but is gone"));
        assert_eq!(
            keys.md5,
            TurnKeys::derive(&format!("u{i}"), REALM, &format!("pw{i}")).md5
        );
    }
    let offline = db.xmpp().offline_messages(REALM, XMPP_USER).await.unwrap();
    for i in 0..=last {
        let bindings = db.sip().bindings(&aor(i), T0).await.unwrap();
        assert_eq!(
            bindings.first().map(|b| b.contact.clone()),
            Some(contact(i)),
            "registration {i} was reported committed but is gone"
        );
        assert_eq!(
            offline.get(i).map(|m| m.stanza.clone()),
            Some(stanza(i)),
            "offline message {i} was reported committed but is gone or out of order"
        );
    }
    // At most the one round in flight at the kill may also have landed.
    let users = db.turn().counts().await.unwrap().users as usize;
    let bindings = db.sip().counts(T0).await.unwrap().bindings as usize;
    for (what, n) in [
        ("users", users),
        ("bindings", bindings),
        ("offline messages", offline.len()),
    ] {
        assert!(
            n == last + 1 || n == last + 2,
            "{n} {what} after {} reported rounds",
            last + 1
        );
    }
    db.close().await.unwrap();

    if let DatabaseConfig::Sqlite(c) = fx.config() {
        let conn = rusqlite::Connection::open(c.path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
