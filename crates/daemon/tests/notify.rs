//! sd_notify datagrams, received on a real unix socket posing as systemd.
//!
//! One test per file: it sets NOTIFY_SOCKET for the whole process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use rtc_daemon::notify;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn notifications_reach_the_service_manager_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::env::set_var("NOTIFY_SOCKET", &path);

    notify::ready();
    assert_eq!(recv(&sock), "READY=1\n");

    notify::reloading();
    let msg = recv(&sock);
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 2, "{msg:?}");
    assert_eq!(lines[0], "RELOADING=1");
    let usec: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(usec > 0);

    notify::status("serving 3 listeners\nREADY=1");
    assert_eq!(recv(&sock), "STATUS=serving 3 listeners READY=1\n");

    notify::stopping();
    assert_eq!(recv(&sock), "STOPPING=1\n");

    std::env::remove_var("NOTIFY_SOCKET");
    notify::ready(); // no socket: nothing is sent and nothing fails
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert!(sock.recv(&mut buf).is_err());
}
