//! SIP over secure WebSocket (RFC 7118) against the real `sipd`: a
//! tungstenite client registers with digest authentication and receives a
//! MESSAGE routed to its connection; upgrades without the `sip`
//! subprotocol or on the wrong path are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::sync::Arc;
use std::time::Duration;

use daemon_common::{authorization, status, unique, Daemon, Site, Ua, DOMAIN};
use futures_util::{SinkExt, StreamExt};
use rtc_tls::rustls;
use rtc_tls::tokio_rustls::client::TlsStream;
use rtc_tls::tokio_rustls::TlsConnector;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// A site with a WSS listener on a self-signed certificate for `localhost`.
fn wss_site() -> (Site, std::path::PathBuf) {
    let mut cert_path = std::path::PathBuf::new();
    let site = Site::with(|dir| {
        let (cert, key) = rtc_tls::ensure_self_signed(&dir.join("tls"), &["localhost".to_owned()]).unwrap();
        cert_path = cert.clone();
        format!(
            "listeners:\n  - {{ proto: udp, addr: \"127.0.0.1:0\" }}\n  - proto: wss\n    addr: \"127.0.0.1:0\"\n    \
             ws_path: /sip\n    tls: {{ certificates: [ {{ cert: {}, key: {} }} ] }}\n",
            cert.display(),
            key.display()
        )
    });
    (site, cert_path)
}

async fn tls(addr: std::net::SocketAddr, cert: &std::path::Path) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rtc_tls::load_certificates(cert).unwrap() {
        roots.add(c).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(rtc_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap()
}

async fn connect(addr: std::net::SocketAddr, cert: &std::path::Path, path: &str, protocol: Option<&str>) -> Result<Ws, String> {
    let mut req = format!("wss://localhost:{}{path}", addr.port()).into_client_request().unwrap();
    if let Some(p) = protocol {
        req.headers_mut().insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let stream = tls(addr, cert).await;
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, resp)) => {
            assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), "sip");
            Ok(ws)
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn recv(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("nothing received").unwrap().unwrap();
        if let Message::Text(t) = m {
            let t = t.to_string();
            if !t.starts_with("SIP/2.0 100 ") {
                return t;
            }
        }
    }
}

fn ws_request(method: &str, ruri: &str, to: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\n\
         From: <sip:bob@{DOMAIN}>;tag=wsbob\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:bob@df7jal23ls0d.invalid;transport=ws>\r\n{extra}Content-Length: 0\r\n\r\n",
        b = unique("ws")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_client_registers_with_digest_and_receives_requests_on_its_connection() {
    let (site, cert) = wss_site();
    site.add_user("bob", "builder");
    site.add_user("alice", "wonderland");
    let d = Daemon::start(&site);
    let wss = d.addr("wss");

    let e = connect(wss, &cert, "/sip", None).await.unwrap_err();
    assert!(e.contains("400"), "no subprotocol: {e}");
    let e = connect(wss, &cert, "/", Some("sip")).await.unwrap_err();
    assert!(e.contains("404"), "wrong path: {e}");

    let mut ws = connect(wss, &cert, "/sip", Some("sip")).await.unwrap();
    let aor = format!("<sip:bob@{DOMAIN}>");
    let ruri = format!("sip:{DOMAIN}");
    let call_id = unique("wsreg");
    ws.send(Message::text(ws_request("REGISTER", &ruri, &aor, &call_id, 1, ""))).await.unwrap();
    let challenge = recv(&mut ws).await;
    assert_eq!(status(&challenge), 401, "{challenge}");
    let auth = authorization(&challenge, "WWW-Authenticate", "bob", "builder", "REGISTER", &ruri);
    ws.send(Message::text(ws_request("REGISTER", &ruri, &aor, &call_id, 2, &format!("Authorization: {auth}\r\n")))).await.unwrap();
    let ok = recv(&mut ws).await;
    assert_eq!(status(&ok), 200, "{ok}");

    // Alice, over UDP, sends Bob a MESSAGE: it can only reach him through his WebSocket.
    let udp = d.addr("udp");
    let sender = tokio::task::spawn_blocking(move || {
        let mut alice = Ua::udp("alice", udp, "127.0.0.1");
        let target = format!("sip:bob@{DOMAIN}");
        let call_id = unique("m");
        let ct = "Content-Type: text/plain\r\n";
        let m = alice.request("MESSAGE", &target, &format!("<{target}>"), &call_id, ct, "hello");
        alice.send(m.as_bytes());
        let challenge = alice.recv();
        assert_eq!(status(&challenge), 407, "{challenge}");
        let auth = authorization(&challenge, "Proxy-Authenticate", "alice", "wonderland", "MESSAGE", &target);
        let m = alice.request("MESSAGE", &target, &format!("<{target}>"), &call_id, &format!("{ct}Proxy-Authorization: {auth}\r\n"), "hello");
        alice.send(m.as_bytes());
        alice.recv()
    });
    let incoming = recv(&mut ws).await;
    assert!(incoming.starts_with("MESSAGE "), "{incoming}");
    assert!(incoming.ends_with("hello"), "{incoming}");
    ws.send(Message::text(daemon_common::reply(&incoming, 200, "OK", "wsbob-t", ""))).await.unwrap();
    let answer = sender.await.unwrap();
    assert_eq!(status(&answer), 200, "{answer}");
}
