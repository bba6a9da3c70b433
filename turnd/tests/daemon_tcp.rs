//! Client connections over TCP and TLS, and TURN-TCP relaying (RFC 6062),
//! against the real `turnd`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use daemon_support::{add_user, binding, Client, Daemon, Packet, Wire, PASSWORD, USER};
use rtc_stun::attr::{ConnectionId, RequestedTransport, XorPeerAddress, XorRelayedAddress};
use rtc_stun::{Class, Method};

const ALLOW_LOOPBACK: &str = "peers: { allow: [127.0.0.1/32] }";

#[test]
fn a_stream_that_is_not_stun_is_closed_without_disturbing_others() {
    let d = Daemon::start("");
    let mut good = Wire::tcp(d.addr("tcp"));
    assert!(binding(&mut good).is_some());
    let mut bad = TcpStream::connect(d.addr("tcp")).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(bad.read(&mut buf).unwrap_or(0), 0, "the server should close the connection");
    // An oversized frame announcement is refused too.
    let mut big = TcpStream::connect(d.addr("tcp")).unwrap();
    big.write_all(&[0x00, 0x01, 0xff, 0xfe, 0x21, 0x12, 0xa4, 0x42]).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(big.read(&mut buf).unwrap_or(0), 0);
    assert!(binding(&mut good).is_some(), "a healthy connection was disturbed");
}

#[test]
fn a_silent_connection_is_closed_after_the_first_message_timeout() {
    let d = Daemon::start("");
    let mut s = TcpStream::connect(d.addr("tcp")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(15), "{waited:?}");
}

/// Whether the server closes `s` within `within`, and how long it took.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    s.set_read_timeout(Some(within)).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => Some(start.elapsed()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(start.elapsed()),
        _ => None,
    }
}

#[test]
fn configured_tcp_limits_apply_to_client_connections() {
    let d = Daemon::start("limits:\n  tcp_first_message_secs: 1\n  tcp_max_connections_per_ip: 2\n  tcp_max_frame_bytes: 576");
    let mut a = Wire::tcp(d.addr("tcp"));
    let mut b = Wire::tcp(d.addr("tcp"));
    assert!(binding(&mut a).is_some() && binding(&mut b).is_some());
    // A third connection from the same IP is closed at once.
    let mut c = TcpStream::connect(d.addr("tcp")).unwrap();
    let t = closed_within(&mut c, Duration::from_secs(5)).expect("third connection not refused");
    assert!(t < Duration::from_millis(800), "refused only after {t:?}");
    assert!(binding(&mut a).is_some(), "open connections are not disturbed");
    drop((a, b));
    std::thread::sleep(Duration::from_millis(300));
    // A frame announcing 600 bytes of body exceeds tcp_max_frame_bytes.
    let mut big = TcpStream::connect(d.addr("tcp")).unwrap();
    big.write_all(&[0x00, 0x01, 0x02, 0x58, 0x21, 0x12, 0xa4, 0x42]).unwrap();
    let t = closed_within(&mut big, Duration::from_secs(5)).expect("oversized frame not refused");
    assert!(t < Duration::from_millis(800), "closed only after {t:?}");
    // A silent connection is closed after tcp_first_message_secs.
    let mut silent = TcpStream::connect(d.addr("tcp")).unwrap();
    let t = closed_within(&mut silent, Duration::from_secs(8)).expect("silent connection kept open");
    assert!(t >= Duration::from_millis(800) && t < Duration::from_secs(4), "{t:?}");
    let mut again = Wire::tcp(d.addr("tcp"));
    assert!(binding(&mut again).is_some());
}

/// Read what the server relays on a spliced data connection.
fn read_exact_from(wire: Wire, n: usize, d: &Daemon) -> (TcpStream, Vec<u8>) {
    let Wire::Tcp(mut s, mut pending) = wire else { panic!("not TCP") };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while pending.len() < n {
        let mut buf = [0u8; 1024];
        let k = s.read(&mut buf).unwrap_or_else(|e| panic!("nothing relayed on the data connection ({e}); log:\n{}", d.log()));
        assert!(k > 0, "data connection closed early");
        pending.extend_from_slice(&buf[..k]);
    }
    (s, pending)
}

fn connection_bind(d: &Daemon, realm_client: &Client, id: u32) -> Wire {
    let mut data = Client::new(Wire::tcp(d.addr("tcp")), &realm_client.username, PASSWORD);
    let p = data.request(Method::CONNECTION_BIND, &|e| e.add(&ConnectionId(id)).map(drop)).expect("no answer");
    assert_eq!(p.class(), Class::Success, "ConnectionBind failed: {:?}", p.error());
    data.wire
}

#[test]
fn rfc6062_connect_and_incoming_connections_are_spliced_with_early_data_kept() {
    let d = Daemon::start(ALLOW_LOOPBACK);
    add_user(d.dir.path(), USER, PASSWORD);
    let mut control = Client::new(Wire::tcp(d.addr("tcp")), USER, PASSWORD);
    let p = control.request(Method::ALLOCATE, &|e| e.add(&RequestedTransport::TCP).map(drop)).expect("no answer");
    assert_eq!(p.class(), Class::Success, "{:?}", p.error());
    let relay = p.attr::<XorRelayedAddress>().unwrap().0;
    // Several Connects (one per peer: RFC 6062 §5.2 refuses a second one to
    // the same peer with 446), so that data connections land on both workers.
    for round in 0..4u8 {
        let peer = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer_addr = peer.local_addr().unwrap();
        let p = control.request(Method::CONNECT, &|e| e.add(&XorPeerAddress(peer_addr)).map(drop)).expect("no answer");
        assert_eq!(p.class(), Class::Success, "Connect failed: {:?}", p.error());
        let id = p.attr::<ConnectionId>().unwrap().0;
        let (mut at_peer, from) = peer.accept().unwrap();
        assert_eq!(from, relay, "the connection must come from the relayed address");
        // The peer speaks before the client's ConnectionBind: nothing may be lost.
        at_peer.write_all(&[b'e', round]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let data = connection_bind(&d, &control, id);
        let (mut raw, early) = read_exact_from(data, 2, &d);
        assert_eq!(early, vec![b'e', round]);
        raw.write_all(b"to the peer").unwrap();
        let mut got = [0u8; 11];
        at_peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        at_peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"to the peer");
        at_peer.write_all(b"back").unwrap();
        let mut back = [0u8; 4];
        raw.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"back");
    }

    // A peer connecting to the relayed address is announced with ConnectionAttempt.
    let mut incoming = TcpStream::connect(relay).unwrap();
    incoming.write_all(b"hi").unwrap();
    let attempt: Packet = control.next_packet(Duration::from_secs(5)).expect("no ConnectionAttempt");
    let msg = attempt.msg();
    assert_eq!((msg.method(), msg.class()), (Method::CONNECTION_ATTEMPT, Class::Indication));
    assert_eq!(msg.attr::<XorPeerAddress>().unwrap().unwrap().0, incoming.local_addr().unwrap());
    let id = msg.attr::<ConnectionId>().unwrap().unwrap().0;
    let data = connection_bind(&d, &control, id);
    let (mut raw, early) = read_exact_from(data, 2, &d);
    assert_eq!(early, b"hi");
    raw.write_all(b"ok").unwrap();
    let mut got = [0u8; 2];
    incoming.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    incoming.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ok");
}

#[test]
fn tls_listener_serves_stun_with_alpn_stun_turn() {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    let extra = format!(
        "tls: {{ self_signed: {{ dir: {}, names: [localhost] }} }}\nlisteners:\n  - {{ proto: tls, addr: \"127.0.0.1:0\" }}\n",
        tls_dir.display()
    );
    // The harness' listeners are replaced by a TLS-only list.
    let config = dir.path().join("turnd.yaml");
    let text = daemon_support::config_text(dir.path(), "").replace(
        "listeners:\n  - { proto: udp, addr: \"127.0.0.1:0\" }\n  - { proto: tcp, addr: \"127.0.0.1:0\" }\n",
        "",
    ) + &extra;
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start_with(dir, config);
    let addr: SocketAddr = d.addr("tls");
    let roots = rtc_tls::Roots::PemFile(tls_dir.join(rtc_tls::SELF_SIGNED_CERT));
    let client = rtc_tls::client_config(&roots, &[b"stun.turn"]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rtc_tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = rtc_tls::tokio_rustls::TlsConnector::from(client).connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"stun.turn"[..]));
        let mut req = Vec::new();
        let tid = rtc_stun::TransactionId::new([9; 12]);
        rtc_stun::MessageEncoder::new(&mut req, rtc_stun::MessageType::new(Method::BINDING, Class::Request), tid)
            .fingerprint()
            .unwrap();
        tls.write_all(&req).await.unwrap();
        let mut head = [0u8; 20];
        tls.read_exact(&mut head).await.unwrap();
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let mut body = vec![0u8; len];
        tls.read_exact(&mut body).await.unwrap();
        let mut whole = head.to_vec();
        whole.extend_from_slice(&body);
        let msg = rtc_stun::Message::parse(&whole).unwrap();
        assert_eq!((msg.class(), msg.transaction_id()), (Class::Success, tid));
    });
}
