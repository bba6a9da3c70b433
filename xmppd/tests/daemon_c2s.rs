//! The real `xmppd` serving clients: SCRAM over STARTTLS and direct TLS,
//! messages between users, offline messages surviving `kill -9`, the s2s
//! refusal, SIGHUP and the `<system-shutdown/>` on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use daemon_support::{Client, Daemon};

fn started() -> Daemon {
    let mut d = Daemon::new("");
    d.register("alice", "alice-secret");
    d.register("bob", "bob-secret");
    d.start();
    d
}

#[test]
fn scram_sha256_login_over_starttls_and_message_between_two_users() {
    let mut d = started();
    let mut alice = Client::starttls(d.c2s.unwrap(), &d.cert);
    assert!(alice.login("alice", "alice-secret", "laptop", false).starts_with("alice@localhost/"));
    let mut bob = Client::starttls(d.c2s.unwrap(), &d.cert);
    bob.login("bob", "bob-secret", "phone", false);
    bob.send("<presence/>");
    // The ping's answer proves the presence before it was processed.
    bob.send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>");
    bob.read_until("id='sync'");
    alice.send("<message to='bob@localhost' type='chat' id='m1'><body>Hello Bob</body></message>");
    let got = bob.read_until("</message>");
    assert!(got.contains("Hello Bob") && got.contains("from='alice@localhost/laptop'") || got.contains("from=\"alice@localhost/laptop\""), "{got}");
    assert_eq!(d.stop(), Some(0), "log:\n{}", d.log());
}

#[test]
fn wrong_password_fails_and_is_logged_for_fail2ban() {
    let mut d = started();
    let mut c = Client::starttls(d.c2s.unwrap(), &d.cert);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.login("alice", "wrong", "x", false)));
    assert!(r.is_err(), "login with a wrong password succeeded");
    assert_eq!(d.stop(), Some(0));
    assert!(d.log().contains("authentication failed for alice"), "{}", d.log());
}

#[test]
fn scram_sha256_plus_with_tls_exporter_over_direct_tls() {
    let mut d = started();
    let mut c = Client::direct_tls(d.c2s_tls.unwrap(), &d.cert);
    c.login("alice", "alice-secret", "plus", true);
    c.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
    let got = c.read_until("id='p1'");
    assert!(got.contains("type='result'"), "{got}");
    assert_eq!(d.stop(), Some(0));
}

/// The server answers a bad first record with at most an alert and closes:
/// reading to the end returns (EOF or reset) instead of timing out.
fn assert_closed_after(addr: std::net::SocketAddr, bytes: &[u8]) {
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(bytes).unwrap();
    let mut got = Vec::new();
    match raw.read_to_end(&mut got) {
        Ok(_) => assert!(got.len() <= 7 * 2, "more than an alert: {got:?}"),
        Err(e) => assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "connection left open: {e}"
        ),
    }
}

#[test]
fn garbage_or_oversized_record_instead_of_client_hello_is_closed_while_another_client_keeps_working() {
    let mut d = started();
    let mut good = Client::direct_tls(d.c2s_tls.unwrap(), &d.cert);
    assert_closed_after(d.c2s_tls.unwrap(), b"<?xml version='1.0'?><stream:stream to='localhost'>");
    // A handshake record announcing 18,433 bytes, one more than TLS allows.
    assert_closed_after(d.c2s_tls.unwrap(), &[0x16, 0x03, 0x01, 0x48, 0x01, 0x01, 0x00, 0x00]);
    good.login("alice", "alice-secret", "good", true);
    good.send("<iq type='get' id='g1'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert!(good.read_until("id='g1'").contains("type='result'"));
    assert_eq!(d.stop(), Some(0), "log:\n{}", d.log());
}

#[test]
fn offline_message_acknowledged_with_sm_survives_kill_9_and_restart() {
    let mut d = started();
    let mut alice = Client::starttls(d.c2s.unwrap(), &d.cert);
    alice.login("alice", "alice-secret", "laptop", false);
    alice.send("<enable xmlns='urn:xmpp:sm:3'/>");
    alice.read_until("<enabled");
    alice.send("<message to='bob@localhost' type='chat' id='off1'><body>while you were out</body></message>");
    // The message counts as handled (h='1') only once storage confirmed it.
    let mut acked = false;
    for _ in 0..50 {
        alice.send("<r xmlns='urn:xmpp:sm:3'/>");
        let a = alice.read_until("/>");
        if a.contains("h='1'") {
            acked = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(acked, "never acknowledged; log:\n{}", d.log());
    d.kill9();
    d.start();
    let mut bob = Client::starttls(d.c2s.unwrap(), &d.cert);
    bob.login("bob", "bob-secret", "phone", false);
    bob.send("<presence/>");
    let got = bob.read_until("while you were out");
    assert!(got.contains("<message"), "{got}");
    assert_eq!(d.stop(), Some(0), "log:\n{}", d.log());
}

#[test]
fn sigterm_sends_system_shutdown_and_exits_cleanly() {
    let mut d = started();
    let mut c = Client::starttls(d.c2s.unwrap(), &d.cert);
    c.login("alice", "alice-secret", "x", false);
    d.signal("TERM");
    let got = c.read_until("system-shutdown");
    assert!(got.contains("stream:error") || got.contains("<error"), "{got}");
    let mut child = d.child.take().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_reloads_config_and_keeps_sessions() {
    let mut d = started();
    let mut c = Client::starttls(d.c2s.unwrap(), &d.cert);
    c.login("alice", "alice-secret", "x", false);
    let text = std::fs::read_to_string(&d.config).unwrap().replace("log: \"info,xmppd=debug\"", "log: info");
    std::fs::write(&d.config, text).unwrap();
    d.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    c.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>");
    let got = c.read_until("id='p2'");
    assert!(got.contains("type='result'"), "{got}");
    assert_eq!(d.stop(), Some(0));
    assert!(d.log().contains("configuration reloaded"), "{}", d.log());
}

#[test]
fn s2s_stream_for_a_domain_not_hosted_here_gets_host_unknown() {
    let mut d = started();
    let mut s = TcpStream::connect(d.s2s.unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
          xmlns:stream='http://etherx.jabber.org/streams' from='remote.example' \
          to='nothere.example' version='1.0'>",
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.contains("<host-unknown") && out.ends_with("</stream:stream>"), "{out}");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn silent_client_is_dropped_after_the_stream_header_timeout() {
    let mut d = Daemon::new("transport:\n  stream_header_seconds: 1\n");
    d.start();
    let mut s = TcpStream::connect(d.c2s.unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(started.elapsed() < Duration::from_secs(4), "not dropped in time");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn client_stalling_inside_its_stream_header_is_dropped_after_the_stream_header_timeout() {
    // Slowloris: a few bytes, then nothing; the 60 s negotiation timeout
    // must not be what ends it.
    let mut d = Daemon::new("transport:\n  stream_header_seconds: 1\n");
    d.start();
    let mut s = TcpStream::connect(d.c2s.unwrap()).unwrap();
    s.write_all(b"<?xml version='1.0'?><stream:str").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(started.elapsed() < Duration::from_secs(4), "not dropped in time");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn check_config_and_version_flags() {
    let d = Daemon::new("");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xmppd"))
        .args(["--check-config", "--config"])
        .arg(&d.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("configuration OK"));
    let bad = d.dir.path().join("bad.yaml");
    std::fs::write(&bad, "hosts: []\nlisteners: []\nfoo: 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xmppd")).arg("--check-config").arg("-c").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:3") && err.contains("foo"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xmppd")).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("xmppd {}", env!("CARGO_PKG_VERSION")));
}
