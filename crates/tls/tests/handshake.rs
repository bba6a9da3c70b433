//! Real TLS handshakes over loopback TCP against a `TlsServer`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rtc_tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use rtc_tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rtc_tls::rustls::{
    self, ClientConfig, DigitallySignedStruct, ProtocolVersion, SignatureScheme,
};
use rtc_tls::tokio_rustls::client::TlsStream;
use rtc_tls::tokio_rustls::TlsConnector;
use rtc_tls::{CertificateConfig, Roots, TlsConfig, TlsError, TlsServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Write a fresh self-signed cert for `sans` as `<stem>.pem` / `<stem>.key`; return its DER.
fn write_cert(dir: &Path, stem: &str, sans: &[&str]) -> (CertificateConfig, Vec<u8>) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(sans).unwrap();
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (CertificateConfig::new(cert, key), ck.cert.der().to_vec())
}

/// Accept TLS connections and echo whatever each client sends.
async fn serve(server: &TlsServer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = server.acceptor();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 || tls.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    let _ = tls.flush().await;
                }
            });
        }
    });
    addr
}

/// Accepts any certificate but still checks handshake signatures, so tests can
/// see which certificate the server chose.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        msg: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            msg,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        msg: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            msg,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn any_cert_client(versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let provider = rtc_tls::provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// Connect; `name` is sent as SNI unless it is an IP address (rustls never sends IPs).
async fn connect(addr: SocketAddr, config: Arc<ClientConfig>, name: &str) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    TlsConnector::from(config).connect(name, tcp).await.unwrap()
}

fn leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

async fn served_leaf(addr: SocketAddr, name: &str) -> Vec<u8> {
    let client = any_cert_client(rtc_tls::PROTOCOL_VERSIONS);
    leaf(&connect(addr, client, name).await)
}

async fn echo(stream: &mut TlsStream<TcpStream>, msg: &[u8]) {
    stream.write_all(msg).await.unwrap();
    stream.flush().await.unwrap();
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(back, msg);
}

#[tokio::test]
async fn sni_selects_the_certificate_of_each_virtual_host() {
    let dir = tempfile::tempdir().unwrap();
    let (a, a_der) = write_cert(dir.path(), "a", &["a.example"]);
    let (b, b_der) = write_cert(dir.path(), "b", &["b.example", "*.b.example"]);
    let (c, c_der) = write_cert(dir.path(), "c", &["c-san.example"]);
    let c = c.with_names(["C.Example."]);
    let server = TlsServer::new(
        &TlsConfig {
            certificates: vec![a, b, c],
        },
        &[],
    )
    .unwrap();
    assert_eq!(server.names()[2], vec!["c.example"]);
    let addr = serve(&server).await;

    assert_eq!(served_leaf(addr, "a.example").await, a_der);
    assert_eq!(served_leaf(addr, "b.example").await, b_der);
    assert_eq!(served_leaf(addr, "muc.b.example").await, b_der);
    assert_eq!(served_leaf(addr, "c.example").await, c_der);
    // `names:` replaces the SANs, so the SAN name no longer selects C.
    assert_eq!(served_leaf(addr, "c-san.example").await, a_der);
    // Unknown name and no SNI at all: the first certificate is the default.
    assert_eq!(served_leaf(addr, "unknown.example").await, a_der);
    assert_eq!(served_leaf(addr, "127.0.0.1").await, a_der);
}

#[tokio::test]
async fn verifying_client_reaches_wildcard_host_and_negotiates_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = write_cert(dir.path(), "a", &["a.example"]);
    let (b, _) = write_cert(dir.path(), "b", &["b.example", "*.b.example"]);
    let b_pem = b.cert.clone();
    let cfg = TlsConfig {
        certificates: vec![a, b],
    };
    let server = TlsServer::new(&cfg, &[b"xmpp-client", b"xmpp-server"]).unwrap();
    let addr = serve(&server).await;

    let client = rtc_tls::client_config(&Roots::PemFile(b_pem), &[b"xmpp-client"]).unwrap();
    let mut stream = connect(addr, client, "chat.b.example").await;
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"xmpp-client"[..])
    );
    echo(&mut stream, b"<stream:stream>").await;
}

#[tokio::test]
async fn tls13_is_preferred_and_tls12_is_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = write_cert(dir.path(), "a", &["a.example"]);
    let server = TlsServer::new(
        &TlsConfig {
            certificates: vec![a],
        },
        &[],
    )
    .unwrap();
    let addr = serve(&server).await;

    let modern = connect(
        addr,
        any_cert_client(rtc_tls::PROTOCOL_VERSIONS),
        "a.example",
    )
    .await;
    assert_eq!(
        modern.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    let old = connect(
        addr,
        any_cert_client(&[&rustls::version::TLS12]),
        "a.example",
    )
    .await;
    assert_eq!(
        old.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );

    // A hand-written TLS 1.1 ClientHello (no supported_versions extension).
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // empty session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // two CBC suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
                                           // signature_algorithms, so that rustls gets as far as the version check.
    body.extend_from_slice(&[0x00, 0x08, 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03]);
    let mut hello = vec![
        0x16,
        0x03,
        0x01,
        0x00,
        body.len() as u8 + 4,
        0x01,
        0x00,
        0x00,
        body.len() as u8,
    ];
    hello.extend_from_slice(&body);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&hello).await.unwrap();
    let mut reply = Vec::new();
    tcp.read_to_end(&mut reply).await.unwrap();
    // One fatal alert record: protocol_version (70).
    assert_eq!(reply.len(), 7, "{reply:02x?}");
    assert_eq!(reply[0], 0x15, "{reply:02x?}");
    assert_eq!(&reply[5..], &[0x02, 70], "{reply:02x?}");
}

#[tokio::test]
async fn reload_serves_new_certificate_to_new_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let (a, old_der) = write_cert(dir.path(), "a", &["a.example"]);
    let server = TlsServer::new(
        &TlsConfig {
            certificates: vec![a],
        },
        &[],
    )
    .unwrap();
    let addr = serve(&server).await;

    let mut live = connect(
        addr,
        any_cert_client(rtc_tls::PROTOCOL_VERSIONS),
        "a.example",
    )
    .await;
    assert_eq!(leaf(&live), old_der);
    echo(&mut live, b"before").await;

    let (_, new_der) = write_cert(dir.path(), "a", &["a.example"]);
    assert_ne!(new_der, old_der);
    server.reload().unwrap();

    assert_eq!(served_leaf(addr, "a.example").await, new_der);
    echo(&mut live, b"after reload the old connection still works").await;
}

#[tokio::test]
async fn failed_reload_names_the_file_and_keeps_the_old_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, der) = write_cert(dir.path(), "a", &["a.example"]);
    let key_path = a.key.clone();
    let server = TlsServer::new(
        &TlsConfig {
            certificates: vec![a],
        },
        &[],
    )
    .unwrap();
    let addr = serve(&server).await;

    std::fs::write(&key_path, "not a key\n").unwrap();
    let err = server.reload().unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&*key_path.to_string_lossy()),
        "{err}"
    );

    assert_eq!(served_leaf(addr, "a.example").await, der);

    // A new configuration that fails to load does not replace the old one either.
    let missing = TlsConfig::single(dir.path().join("gone.pem"), dir.path().join("gone.key"));
    assert!(server.reload_from(&missing).is_err());
    assert_eq!(served_leaf(addr, "a.example").await, der);
}
