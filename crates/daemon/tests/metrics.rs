//! The scrape endpoint over real loopback TCP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use rtc_daemon::metrics::{shared_registry, MetricsServer};
use rtc_daemon::{Proto, ShutdownTrigger};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(
    timeout: Duration,
) -> (
    SocketAddr,
    Counter,
    ShutdownTrigger,
    tokio::task::JoinHandle<()>,
) {
    let registry = shared_registry("turnd");
    let allocations = Counter::default();
    registry.write().unwrap().register(
        "allocations",
        "TURN allocations created",
        allocations.clone(),
    );
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), registry)
        .await
        .unwrap()
        .with_io_timeout(timeout);
    let addr = server.local_addr();
    assert_eq!(server.listener().proto, Proto::Http);
    assert_eq!(server.listener().addr, addr);
    let (trigger, token) = ShutdownTrigger::new();
    let task = tokio::spawn(server.run(token));
    (addr, allocations, trigger, task)
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(reply).unwrap()
}

#[tokio::test]
async fn scrape_returns_current_values_in_openmetrics_text() {
    let (addr, allocations, _trigger, _task) = start(Duration::from_secs(5)).await;
    allocations.inc_by(3);
    let reply = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    assert!(head.contains("Connection: close"), "{head}");
    assert!(
        body.contains("# HELP turnd_allocations TURN allocations created"),
        "{body}"
    );
    assert!(body.contains("turnd_allocations_total 3\n"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");

    allocations.inc();
    let reply = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n").await;
    assert!(reply.contains("turnd_allocations_total 4\n"), "{reply}");
}

#[tokio::test]
async fn other_paths_get_404_and_garbage_gets_400() {
    let (addr, _, _trigger, _task) = start(Duration::from_secs(5)).await;
    let reply = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
    assert!(!reply.contains("turnd_"), "{reply}");
    let reply = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
    let reply = exchange(addr, b"\x16\x03\x01 hello\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
}

#[tokio::test]
async fn oversized_request_head_gets_431() {
    let (addr, _, _trigger, _task) = start(Duration::from_secs(5)).await;
    let mut request = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    request.resize(9 * 1024, b'a');
    let reply = exchange(addr, &request).await;
    assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");
}

#[tokio::test]
async fn silent_client_is_disconnected_after_the_timeout() {
    let (addr, _, _trigger, _task) = start(Duration::from_millis(200)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap(); // never finishes the head
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "server kept a stalled connection open");
    assert!(reply.is_empty());
}

#[tokio::test]
async fn server_stops_on_shutdown() {
    let (addr, _, trigger, task) = start(Duration::from_secs(5)).await;
    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener should be closed"
    );
}
