//! The READY line as a parent process sees it on the child's stdout, and the
//! matching sd_notify message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use rtc_daemon::{Listener, Proto};

const CHILD: &str = "RTC_DAEMON_READY_CHILD";

/// Not a test by itself: run in a child process by the test below.
#[test]
#[ignore = "helper run in a child process by the other test of this file"]
fn child_announces_ready() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "run by the other test of this file"
    );
    let listeners = [
        Listener::new("turn", Proto::Udp, "127.0.0.1:3478".parse().unwrap()),
        Listener::new("metrics", Proto::Http, "[::1]:9641".parse().unwrap()),
    ];
    for l in &listeners {
        rtc_daemon::announce(l);
    }
    // libtest has written "test child_announces_ready ... " without a newline.
    println!();
    rtc_daemon::ready("turnd", &listeners).unwrap();
}

#[test]
fn parent_reads_ready_line_and_systemd_gets_ready() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_announces_ready",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", &sock_path)
        .output()
        .unwrap();
    assert!(child.status.success(), "{child:?}");
    let stdout = String::from_utf8(child.stdout).unwrap();
    let ready: Vec<&str> = stdout.lines().filter(|l| l.starts_with("READY ")).collect();
    assert_eq!(ready.len(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&ready[0]["READY ".len()..]).unwrap();
    assert_eq!(json["daemon"], "turnd");
    assert!(json["pid"].as_u64().unwrap() > 0);
    assert_eq!(
        json["listeners"][0],
        serde_json::json!({"service": "turn", "proto": "udp", "addr": "127.0.0.1:3478"})
    );
    assert_eq!(json["listeners"][1]["addr"], "[::1]:9641");

    let mut buf = [0u8; 1024];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STATUS=turnd: 2 listener(s) up\n");
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\n");
}
