//! The real `turnd` process: `--check-config`, SIGHUP reloads, the metrics
//! endpoint, and the graceful stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use daemon_support::{add_user, config_text, echo_peer, Client, Daemon, Wire, PASSWORD, USER};
use rtc_stun::Class;

fn check_config(text: &str) -> (i32, String, String, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turnd.yaml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_turnd")).arg("--config").arg(&path).arg("--check-config").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stdout, stderr, path, dir)
}

#[test]
fn check_config_accepts_a_good_file_and_names_file_line_and_key_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _, path, _d) = check_config(&config_text(dir.path(), ""));
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("configuration OK: {}", path.display()));

    // A misspelt key: file, line, column and key.
    let (code, _, err, path, _d) = check_config(&config_text(dir.path(), "relay:\n  port_mim: 50000"));
    assert_eq!(code, 2);
    let expected = format!("{}:8:3: relay.port_mim: unknown field", path.display());
    assert!(err.starts_with(&expected), "{err:?} does not start with {expected:?}");

    // A semantic error found after parsing names the key.
    let (code, _, err, path, _d) = check_config(&config_text(dir.path(), "relay: { port_min: 60000, port_max: 50000 }"));
    assert_eq!(code, 2);
    assert!(err.starts_with(&format!("{}: relay.port_min:", path.display())), "{err}");

    // Certificates are loaded too: a missing file is named.
    let extra = "tls: { certificates: [ { cert: /nonexistent/cert.pem, key: /nonexistent/key.pem } ] }";
    let (code, _, err, path, _d) = check_config(&config_text(dir.path(), extra));
    assert_eq!(code, 2);
    assert!(err.contains(&path.display().to_string()) && err.contains("tls.certificates"), "{err}");
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn version_flag_prints_the_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_turnd")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("turnd {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn sighup_keeps_allocations_applies_the_new_config_and_forgets_cached_users() {
    let peer = echo_peer();
    let mut d = Daemon::start("peers: { allow: [127.0.0.1/32] }");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut alice = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    alice.allocate_ok();
    assert_eq!(alice.channel_bind(0x4000, peer), (Class::Success, None));
    // Bob is unknown: the answer is cached (for a minute by default).
    let mut bob = Client::new(Wire::udp(d.addr("udp")), "bob", "bob-secret");
    assert_eq!(bob.allocate(false).and_then(|p| p.error()), Some(401));
    add_user(d.dir.path(), "bob", "bob-secret");

    // New config: loopback peers no longer allowed.
    std::fs::write(&d.config, config_text(d.dir.path(), "")).unwrap();
    d.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.wait(Duration::ZERO).is_none(), "turnd exited on SIGHUP");

    // Alice's allocation and channel still work.
    alice.send_channel_data(0x4000, b"still here");
    assert_eq!(alice.expect_channel_data(), (0x4000, b"still here".to_vec()));
    assert_eq!(alice.refresh(600), (Class::Success, None));
    // ... but new permissions follow the new policy.
    assert_eq!(alice.create_permission(&[peer]), (Class::Error, Some(403)));
    // Bob works at once after the reload.
    assert_eq!(bob.allocate(false).map(|p| p.class()), Some(Class::Success));
    assert!(d.log().contains("configuration reloaded"), "{}", d.log());
}

#[test]
fn sigterm_refuses_new_allocations_drains_and_exits_zero() {
    let peer = echo_peer();
    let mut d = Daemon::start("shutdown_grace_secs: 2\npeers: { allow: [127.0.0.1/32] }");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut alice = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    alice.allocate_ok();
    assert_eq!(alice.channel_bind(0x4000, peer), (Class::Success, None));
    d.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    // Existing allocations keep relaying while they drain.
    alice.send_channel_data(0x4000, b"draining");
    assert_eq!(alice.expect_channel_data(), (0x4000, b"draining".to_vec()));
    assert_eq!(alice.refresh(600), (Class::Success, None), "Refresh works while draining");
    // New allocations are refused with 508 Insufficient Capacity (RFC 8656 §7.2),
    // unsigned before any challenge...
    let mut late = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    let answer = late.allocate(false).expect("a draining server still answers Allocate");
    assert_eq!((answer.class(), answer.error()), (Class::Error, Some(508)));
    assert!(!answer.msg().has_integrity());
    // ... and signed to a client that already holds a nonce.
    let mut again = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    assert_eq!(again.refresh(600).1, Some(437), "learns a nonce; no allocation on this 5-tuple");
    let answer = again.allocate(false).expect("answered");
    assert_eq!(answer.error(), Some(508));
    assert!(answer.msg().has_integrity(), "a 508 to a signed request is signed");
    // New TCP connections are refused.
    assert!(TcpStream::connect(d.addr("tcp")).is_err());
    assert_eq!(d.wait(Duration::from_secs(10)), Some(0), "{}", d.log());
}

#[test]
fn sigterm_without_allocations_exits_at_once() {
    let mut d = Daemon::start("shutdown_grace_secs: 30");
    d.signal("TERM");
    assert_eq!(d.wait(Duration::from_secs(5)), Some(0), "{}", d.log());
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: turnd\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

#[test]
fn metrics_count_allocations_and_relayed_packets_without_user_labels() {
    let peer = echo_peer();
    let d = Daemon::start("metrics: { listen: \"127.0.0.1:0\" }\npeers: { allow: [127.0.0.1/32] }");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut alice = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    alice.allocate_ok();
    assert_eq!(alice.channel_bind(0x4000, peer), (Class::Success, None));
    for _ in 0..5 {
        alice.send_channel_data(0x4000, b"ping");
        alice.expect_channel_data();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let body = scrape(d.addr("http"));
    assert_eq!(value(&body, "turnd_allocations_active"), Some(1.0), "{body}");
    assert_eq!(value(&body, "turnd_relayed_packets_total{direction=\"to_peer\"}"), Some(5.0), "{body}");
    assert_eq!(value(&body, "turnd_relayed_packets_total{direction=\"to_client\"}"), Some(5.0), "{body}");
    assert!(value(&body, "turnd_error_responses_total{code=\"401\"}").is_some_and(|v| v >= 1.0), "{body}");
    assert!(!body.contains(USER), "a user name leaked into the metrics");
}

#[test]
fn metrics_count_requests_by_method_and_result() {
    let d = Daemon::start("metrics: { listen: \"127.0.0.1:0\" }");
    let mut wire = Wire::udp(d.addr("udp"));
    assert!(daemon_support::binding(&mut wire).is_some());
    // An unauthenticated Allocate: one 401.
    let mut bob = Client::new(Wire::udp(d.addr("udp")), "bob", "unknown");
    assert!(bob.allocate(false).is_some_and(|p| p.error() == Some(401)));
    // Workers publish once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let body = scrape(d.addr("http"));
    assert_eq!(value(&body, "turnd_requests_by_method_total{method=\"binding\"}"), Some(1.0), "{body}");
    assert_eq!(value(&body, "turnd_request_results_total{method=\"binding\",result=\"success\"}"), Some(1.0), "{body}");
    assert_eq!(value(&body, "turnd_request_results_total{method=\"binding\",result=\"error\"}"), Some(0.0), "{body}");
    assert!(value(&body, "turnd_request_results_total{method=\"allocate\",result=\"error\"}").is_some_and(|v| v >= 1.0), "{body}");
    for method in ["refresh", "send", "create_permission", "channel_bind", "connect", "connection_bind"] {
        let series = format!("turnd_requests_by_method_total{{method=\"{method}\"}}");
        assert_eq!(value(&body, &series), Some(0.0), "{series} in {body}");
    }
}
