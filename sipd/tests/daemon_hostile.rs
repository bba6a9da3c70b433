//! Hostile input against the real `sipd`: malformed and oversized messages
//! get 400/513 or are dropped, unframeable streams are closed, a REGISTER
//! flood gets its source banned, and other clients keep being served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use daemon_common::{status, unique, Daemon, Site, Ua, DOMAIN};

/// OPTIONS from a well-behaved client at `ip` is answered with 200.
fn options_work(server: SocketAddr, ip: &str) {
    let mut ua = Ua::udp("carol", server, ip);
    let ruri = format!("sip:{server}");
    let req = ua.request("OPTIONS", &ruri, &format!("<{ruri}>"), &unique("ok"), "", "");
    ua.send(req.as_bytes());
    let resp = ua.recv();
    assert_eq!(status(&resp), 200, "{resp}");
}

/// Send `bytes` from `ip` and return the answer, if any, within a second.
fn exchange(server: SocketAddr, ip: &str, bytes: &[u8]) -> Option<String> {
    let s = UdpSocket::bind(format!("{ip}:0")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.send_to(bytes, server).unwrap();
    let mut buf = vec![0u8; 65536];
    s.recv_from(&mut buf).ok().map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn malformed_and_oversized_messages_are_answered_or_dropped_while_others_are_served() {
    let site = Site::new("");
    let d = Daemon::start(&site);
    let udp = d.addr("udp");

    // A request whose CSeq is garbage: 400, built from the salvaged headers.
    let bad = format!(
        "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5099;branch=z9hG4bKbad1\r\nFrom: <sip:x@{DOMAIN}>;tag=1\r\n\
         To: <sip:{DOMAIN}>\r\nCall-ID: bad1\r\nCSeq: banana OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let r = exchange(udp, "127.0.0.3", bad.as_bytes()).expect("no answer to a malformed request");
    assert_eq!(status(&r), 400, "{r}");
    // Binary garbage: dropped.
    let garbage: Vec<u8> = (0..1200u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert_eq!(exchange(udp, "127.0.0.3", &garbage), None);
    // 30 KB body, over limits.max_request_bytes (16 KiB): 513.
    let body = "x".repeat(30_000);
    let big = format!(
        "MESSAGE sip:bob@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5099;branch=z9hG4bKbig1\r\nFrom: <sip:x@{DOMAIN}>;tag=1\r\n\
         To: <sip:bob@{DOMAIN}>\r\nCall-ID: big1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = exchange(udp, "127.0.0.3", big.as_bytes()).expect("no answer to an oversized request");
    assert_eq!(status(&r), 513, "{r}");
    options_work(udp, "127.0.0.2");

    // A TCP stream that cannot be framed (no Content-Length) is closed...
    let mut t = TcpStream::connect(d.addr("tcp")).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    t.write_all(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKq\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    assert_eq!(t.read(&mut buf).unwrap_or(0), 0, "connection should be closed");
    // ...while a new TCP client is served.
    let mut ok = Ua::tcp("dave", d.addr("tcp"));
    let ruri = format!("sip:{}", ok.server);
    let req = ok.request("OPTIONS", &ruri, &format!("<{ruri}>"), &unique("t"), "", "");
    ok.send(req.as_bytes());
    assert_eq!(status(&ok.recv()), 200);
}

#[test]
fn register_flood_gets_the_source_banned_and_others_still_served() {
    let site = Site::new("");
    let d = Daemon::start(&site);
    let udp = d.addr("udp");
    let s = UdpSocket::bind("127.0.0.4:0").unwrap();
    let local = s.local_addr().unwrap();
    let register = |n: u32| {
        format!(
            "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfl{n};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:u{n}@{DOMAIN}>;tag=f{n}\r\nTo: <sip:u{n}@{DOMAIN}>\r\nCall-ID: flood-{n}\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:u{n}@{local}>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    for n in 0..100 {
        s.send_to(register(n).as_bytes(), udp).unwrap();
    }
    s.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut answered = 0;
    let mut buf = vec![0u8; 65536];
    while s.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    // 16 per 2 s per worker core (2 here), then a ban.
    assert!(answered > 0 && answered <= 40, "{answered} answers to a flood of 100");
    s.send_to(register(1000).as_bytes(), udp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert!(s.recv_from(&mut buf).is_err(), "a banned source must be ignored");
    options_work(udp, "127.0.0.2");
    assert!(d.log().contains("banned"), "{}", d.log());
}
