//! Shared harness of the `daemon_*` integration tests: start the real `turnd`
//! binary on 127.0.0.1 port 0 with a temporary config and SQLite database,
//! wait for its READY line, and talk to it with a small TURN client built on
//! `rtc-stun`.
#![allow(dead_code)]

mod client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rtc_userdb::{DatabaseConfig, UserDb};
use tempfile::TempDir;

#[allow(unused_imports)]
pub use client::{binding, echo_peer, Client, Packet, Wire};

/// The realm every test config uses.
pub const REALM: &str = "test.example";
/// A user that `with_user` adds.
pub const USER: &str = "alice";
/// Her password.
pub const PASSWORD: &str = "alice-secret";

/// A running `turnd` and the directory holding its config and database.
pub struct Daemon {
    child: Option<Child>,
    pub dir: TempDir,
    pub config: PathBuf,
    pub listeners: Vec<(String, SocketAddr)>,
}

/// The config file for `dir`: UDP and TCP on 127.0.0.1 port 0, two workers,
/// the test realm, then `extra` YAML lines.
pub fn config_text(dir: &Path, extra: &str) -> String {
    format!(
        "workers: 2\nrealm: {REALM}\ndatabase: {{ sqlite: {{ path: {} }} }}\n\
         listeners:\n  - {{ proto: udp, addr: \"127.0.0.1:0\" }}\n  - {{ proto: tcp, addr: \"127.0.0.1:0\" }}\n{extra}\n",
        dir.join("turnd.sqlite").display()
    )
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Add (or update) a TURN user directly in the database, as `turnadmin -a` does.
pub fn add_user(dir: &Path, name: &str, password: &str) {
    run(async {
        let db = UserDb::open(&DatabaseConfig::sqlite(dir.join("turnd.sqlite"))).await.unwrap();
        db.turn().set_user(REALM, name, password).await.unwrap();
        db.close().await.unwrap();
    });
}

/// Add a TURN REST shared secret to the database, as `turnadmin -s` does.
pub fn add_secret(dir: &Path, secret: &str) {
    run(async {
        let db = UserDb::open(&DatabaseConfig::sqlite(dir.join("turnd.sqlite"))).await.unwrap();
        db.turn().add_secret(REALM, secret).await.unwrap();
        db.close().await.unwrap();
    });
}

fn parse_ready(line: &str) -> Vec<(String, SocketAddr)> {
    let mut out = Vec::new();
    for part in line.split("\"proto\":\"").skip(1) {
        let proto = part.split('"').next().unwrap().to_owned();
        let addr = part.split("\"addr\":\"").nth(1).unwrap().split('"').next().unwrap();
        out.push((proto, addr.parse().unwrap()));
    }
    out
}

impl Daemon {
    /// Start turnd with `extra` config lines in a fresh directory.
    pub fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra)
    }

    /// Start turnd with `extra` config lines in `dir` (which may hold a database).
    pub fn start_in(dir: TempDir, extra: &str) -> Self {
        let config = dir.path().join("turnd.yaml");
        std::fs::write(&config, config_text(dir.path(), extra)).unwrap();
        Self::start_with(dir, config)
    }

    /// Start turnd on an existing config file.
    pub fn start_with(dir: TempDir, config: PathBuf) -> Self {
        let log = std::fs::File::create(dir.path().join("turnd.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_turnd"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "turnd=debug,info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let mut daemon = Self { child: Some(child), dir, config, listeners: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("READY ") => {
                    assert!(line.contains("\"daemon\":\"turnd\""), "{line}");
                    daemon.listeners = parse_ready(&line);
                    return daemon;
                }
                Ok(_) => {}
                Err(_) => panic!("turnd did not print READY; its log:\n{}", daemon.log()),
            }
        }
    }

    /// The address of the first listener of `proto` (`udp`, `tcp`, `tls`, `http`).
    pub fn addr(&self, proto: &str) -> SocketAddr {
        self.listeners.iter().find(|(p, _)| p == proto).map(|(_, a)| *a).unwrap()
    }

    /// What turnd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("turnd.log")).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Send a signal by name (`HUP`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// Wait for the process to exit; its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` the daemon and keep its directory.
    pub fn kill9(mut self) -> TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

