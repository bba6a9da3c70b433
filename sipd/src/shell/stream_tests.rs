//! Stream connections against a real loopback socket and a fake driver.

use super::*;
use crate::config::ConnectionLimits;
use crate::shell::inbound::{ConnIds, FailToken};
use tokio::sync::mpsc;

struct Rig {
    net: Arc<Net>,
    rx: mpsc::Receiver<Inbound>,
    addr: SocketAddr,
    _stop: rtc_daemon::ShutdownTrigger,
}

async fn rig(limits: ConnectionLimits) -> Rig {
    let (tx, rx) = mpsc::channel(64);
    let (stop, shutdown) = rtc_daemon::ShutdownTrigger::new();
    let net = Arc::new(Net::new(vec![tx], ConnIds::new(9), limits, shutdown, None));
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = StreamListener { id: ListenerId(1), proto: ListenerProto::Tcp, tls: None, ws_path: "/".into(), socket };
    tokio::spawn(accept_loop(Arc::clone(&net), listener));
    Rig { net, rx, addr, _stop: stop }
}

const OPTIONS: &[u8] = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";

/// The registered handle of the connection from `client`.
async fn opened(net: &Net, client: &TcpStream) -> ConnHandle {
    let local = client.local_addr().unwrap();
    for _ in 0..500 {
        if let Some(h) = net.connection_to(Transport::Tcp, local) {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("connection from {local} never registered");
}

async fn next(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn messages_split_anywhere_are_framed_and_pings_get_pongs() {
    let mut r = rig(ConnectionLimits::default()).await;
    let mut c = TcpStream::connect(r.addr).await.unwrap();
    let handle = opened(&r.net, &c).await;
    assert_eq!(handle.remote, c.local_addr().unwrap());
    let mut wire = OPTIONS.to_vec();
    wire.extend_from_slice(b"\r\n\r\n");
    wire.extend_from_slice(OPTIONS);
    c.write_all(&wire[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(&wire[10..]).await.unwrap();
    for _ in 0..2 {
        match next(&mut r.rx).await {
            Inbound::Message { flow, bytes } => {
                assert_eq!(bytes, OPTIONS);
                assert_eq!(flow.connection, Some(handle.id));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut pong = [0u8; 2];
    c.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"\r\n");
    // What the driver queues reaches the peer.
    assert!(handle.send(b"SIP/2.0 200 OK\r\n\r\n".to_vec(), None));
    let mut got = [0u8; 18];
    c.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"SIP/2.0 200 OK\r\n\r\n");
    drop(c);
    assert!(matches!(next(&mut r.rx).await, Inbound::Closed(id) if id == handle.id));
    assert_eq!(r.net.open_connections(), 0);
}

#[tokio::test]
async fn unframeable_stream_is_closed() {
    let mut r = rig(ConnectionLimits::default()).await;
    let mut c = TcpStream::connect(r.addr).await.unwrap();
    opened(&r.net, &c).await;
    c.write_all(b"OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n").await.unwrap();
    assert!(matches!(next(&mut r.rx).await, Inbound::Closed(_)));
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).await.unwrap_or(0), 0);
}

#[tokio::test]
async fn slow_trickle_and_silent_connections_are_closed() {
    let limits = ConnectionLimits { message_secs: 1, handshake_secs: 1, ..ConnectionLimits::default() };
    let mut r = rig(limits).await;
    // Silent after connecting.
    let silent = TcpStream::connect(r.addr).await.unwrap();
    let h1 = opened(&r.net, &silent).await;
    // Dribbles a message one byte at a time, never finishing within a second.
    let mut slow = TcpStream::connect(r.addr).await.unwrap();
    let h2 = opened(&r.net, &slow).await;
    let started = std::time::Instant::now();
    let dribble = tokio::spawn(async move {
        for b in OPTIONS {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut closed = Vec::new();
    for _ in 0..2 {
        match next(&mut r.rx).await {
            Inbound::Closed(id) => closed.push(id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(closed.contains(&h1.id) && closed.contains(&h2.id));
    assert!(started.elapsed() < Duration::from_secs(4));
    dribble.abort();
}

#[tokio::test]
async fn per_source_limit_refuses_extra_connections() {
    let limits = ConnectionLimits { max_per_ip: 1, ..ConnectionLimits::default() };
    let r = rig(limits).await;
    let first = TcpStream::connect(r.addr).await.unwrap();
    opened(&r.net, &first).await;
    let mut second = TcpStream::connect(r.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the second connection is closed at once");
    assert_eq!(r.net.counters.refused.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn failed_outgoing_connection_reports_queued_tokens() {
    let mut r = rig(ConnectionLimits::default()).await;
    // A port with nothing listening.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let h = connect(&r.net, ListenerId(1), Transport::Tcp, dead, None).unwrap();
    assert!(h.send(b"x".to_vec(), Some(FailToken { core: 0, token: 41 })));
    assert!(matches!(next(&mut r.rx).await, Inbound::SendFailed(41)));
    assert!(matches!(next(&mut r.rx).await, Inbound::Closed(id) if id == h.id));
    assert!(connect(&r.net, ListenerId(1), Transport::Ws, dead, None).is_none());
}
