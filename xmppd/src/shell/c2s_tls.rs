//! Client-to-server TLS on rustls's unbuffered API.
//!
//! `tokio_rustls` drives a buffered `ServerConnection`, whose receive buffer
//! grows to 4 KiB on the first read and stays that size while the connection
//! is idle, and most client connections are idle. Here rustls only ever sees
//! caller-owned buffers:
//!
//! - Reading: the socket is read into the worker thread's shared buffer
//!   (after any bytes kept from before), rustls decrypts the records in place
//!   there, the plaintext is copied out, and only an incomplete trailing
//!   record is kept in [`TlsStream`]: an empty `Vec` without capacity when
//!   idle. What is kept is bounded (a record after the handshake, 64 KiB of
//!   handshake messages before, as rustls's own buffer is).
//! - Writing: data is encrypted into a buffer made for that write and freed
//!   after it; so is whatever rustls wants to send on its own (alerts, a
//!   KeyUpdate answer).
//! - The handshake (boxed by the caller, so it takes room only while it
//!   runs) uses its own buffer. Application data that arrives with the
//!   client's Finished is returned, not lost.
//!
//! Channel binding is captured during the handshake (see [`super::tls`]).
//! The server-to-server and HTTPS listeners keep `tokio_rustls`.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use rtc_tls::rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rtc_tls::rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rtc_tls::rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::core::TlsInfo;

use super::tls::{binding, Capture, Captured};

/// The largest TLS record on the wire: 2^14 bytes of plaintext, 2,048 of
/// expansion, the 5-byte header (RFC 8446 §5.2, RFC 5246 §6.2.3).
pub(crate) const MAX_RECORD_BYTES: usize = 16_384 + 2_048 + 5;
/// What may be kept of incomplete handshake messages (rustls allows 64 KiB).
pub(crate) const MAX_HANDSHAKE_PENDING: usize = 0xffff;
/// What may be kept after the handshake: one incomplete record, and the
/// records of a post-handshake message (KeyUpdate) still being joined.
pub(crate) const MAX_TRAFFIC_PENDING: usize = MAX_RECORD_BYTES + 1_024;
/// How much a handshake read asks for at a time.
const HANDSHAKE_READ: usize = 4_096;

/// Why TLS failed on a client connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// The peer broke the protocol, or rustls refused what it sent.
    #[error(transparent)]
    Rustls(#[from] rtc_tls::rustls::Error),
    /// More incomplete TLS data than any valid peer needs.
    #[error("more than {0} bytes of incomplete TLS data")]
    TooMuchPending(usize),
    /// The peer closed during the handshake.
    #[error("closed during the handshake")]
    Eof,
    /// rustls reported a state this server does not use (0-RTT data).
    #[error("unexpected TLS state {0}")]
    Unexpected(&'static str),
    /// A write buffer was too small twice, or the keys are used up.
    #[error("cannot encrypt: {0}")]
    Encrypt(&'static str),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> Self {
        match e {
            TlsError::Io(e) => e,
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// What one read of the socket gave.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Decrypted application data (possibly none: an incomplete record).
    pub data: Vec<u8>,
    /// TLS data rustls wants sent now (alerts, handshake answers).
    pub reply: Vec<u8>,
    /// The peer closed (EOF or close_notify); `data` is its last.
    pub closed: bool,
    /// The peer broke TLS: send `reply` (the alert), then close with this.
    pub error: Option<io::Error>,
}

/// Where [`pump`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The handshake needs more bytes from the peer.
    Handshaking,
    /// Established; every complete record has been processed.
    Traffic,
    /// close_notify received.
    PeerClosed,
}

/// An established client TLS connection.
pub(crate) struct TlsStream {
    stream: TcpStream,
    conn: UnbufferedServerConnection,
    /// Received bytes rustls has not consumed yet: an incomplete record.
    pending: Vec<u8>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Feed `buf` to rustls until it needs more bytes; decrypted data and TLS
/// data to send are added to `got`. Returns how many bytes of `buf` were
/// consumed and why it stopped.
fn pump(
    conn: &mut UnbufferedServerConnection,
    buf: &mut [u8],
    got: &mut Received,
) -> Result<(usize, Stop), TlsError> {
    let mut at = 0usize;
    loop {
        let rest = buf.get_mut(at..).unwrap_or_default();
        let UnbufferedStatus { mut discard, state } = conn.process_tls_records(rest);
        let stop = match state? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let record = record?;
                    discard += record.discard;
                    got.data.extend_from_slice(record.payload);
                }
                None
            }
            ConnectionState::EncodeTlsData(mut encode) => {
                encode_into(&mut encode, &mut got.reply)?;
                None
            }
            // The caller sends `got.reply` before it reads or writes again.
            ConnectionState::TransmitTlsData(transmit) => {
                transmit.done();
                None
            }
            ConnectionState::BlockedHandshake => Some(Stop::Handshaking),
            ConnectionState::WriteTraffic(_) => Some(Stop::Traffic),
            ConnectionState::PeerClosed | ConnectionState::Closed => Some(Stop::PeerClosed),
            _ => return Err(TlsError::Unexpected("early data")),
        };
        at = at.saturating_add(discard);
        if let Some(stop) = stop {
            return Ok((at.min(buf.len()), stop));
        }
    }
}

/// Append one handshake or alert record to `out`.
fn encode_into(encode: &mut EncodeTlsData<'_, ServerConnectionData>, out: &mut Vec<u8>) -> Result<(), TlsError> {
    grow_and_retry(out, 512, |room| match encode.encode(room) {
        Ok(n) => Ok(Ok(n)),
        Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => Ok(Err(required_size)),
        Err(EncodeError::AlreadyEncoded) => Ok(Ok(0)),
    })
}

/// Append to `out` what `f` writes into the room it is given: `f` answers
/// `Ok(Ok(written))` or `Ok(Err(room needed))`; it is called at most twice.
fn grow_and_retry(
    out: &mut Vec<u8>,
    guess: usize,
    mut f: impl FnMut(&mut [u8]) -> Result<Result<usize, usize>, TlsError>,
) -> Result<(), TlsError> {
    let start = out.len();
    let mut room = guess;
    for _ in 0..2 {
        out.resize(start.saturating_add(room), 0);
        match f(out.get_mut(start..).unwrap_or_default())? {
            Ok(n) => {
                out.truncate(start.saturating_add(n));
                return Ok(());
            }
            Err(needed) => room = needed,
        }
    }
    out.truncate(start);
    Err(TlsError::Encrypt("buffer too small"))
}

/// Room for `len` bytes of application data once encrypted: every record
/// of up to 2^14 bytes gains a header, a content type and a tag.
fn sealed_len(len: usize) -> usize {
    len.saturating_add((len / 16_384 + 1).saturating_mul(64))
}

/// The alert rustls queued after an error, ready to send.
fn alerts(conn: &mut UnbufferedServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut none: [u8; 0] = [];
    for _ in 0..4 {
        match conn.process_tls_records(&mut none).state {
            Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                if encode_into(&mut encode, &mut out).is_err() {
                    break;
                }
            }
            Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
            _ => break,
        }
    }
    out
}

/// Exactly `rest`, or nothing without capacity; error beyond `max` bytes.
fn keep(rest: &[u8], max: usize) -> Result<Vec<u8>, TlsError> {
    if rest.len() > max {
        return Err(TlsError::TooMuchPending(max));
    }
    Ok(if rest.is_empty() { Vec::new() } else { rest.to_vec() })
}

/// Run the server side of a handshake on `stream`. Returns the connection,
/// its channel-binding data and any application data that came with the
/// client's Finished.
pub(crate) async fn accept(
    mut stream: TcpStream,
    config: Arc<ServerConfig>,
) -> Result<(TlsStream, TlsInfo, Vec<u8>), TlsError> {
    let mut conn = UnbufferedServerConnection::new(config)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut captured = Captured::default();
    let mut got = Received::default();
    loop {
        let step = {
            let capture = Capture::arm();
            let step = pump(&mut conn, &mut buf, &mut got);
            capture.finish(&mut captured);
            step
        };
        let (consumed, stop) = match step {
            Ok(s) => s,
            Err(e) => {
                let alert = alerts(&mut conn);
                if !alert.is_empty() {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.write_all(&alert)).await;
                }
                return Err(e);
            }
        };
        buf.drain(..consumed);
        if !got.reply.is_empty() {
            stream.write_all(&got.reply).await?;
            got.reply = Vec::new();
        }
        match stop {
            Stop::Traffic => break,
            Stop::PeerClosed => return Err(TlsError::Eof),
            Stop::Handshaking => {}
        }
        if buf.len() >= MAX_HANDSHAKE_PENDING {
            return Err(TlsError::TooMuchPending(MAX_HANDSHAKE_PENDING));
        }
        let want = HANDSHAKE_READ.min(MAX_HANDSHAKE_PENDING - buf.len());
        buf.reserve(want);
        let n = (&mut stream).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(TlsError::Eof);
        }
    }
    let info = binding(&conn, &captured);
    drop(captured);
    let pending = keep(&buf, MAX_TRAFFIC_PENDING)?;
    Ok((TlsStream { stream, conn, pending }, info, got.data))
}

impl TlsStream {
    /// Read from the socket into `scratch` (shared, after the bytes kept
    /// from before) and decrypt what came; keep only an incomplete record.
    pub(crate) fn poll_receive(
        &mut self,
        cx: &mut Context<'_>,
        scratch: &mut Vec<u8>,
        max: usize,
    ) -> Poll<io::Result<Received>> {
        let kept = self.pending.len();
        let end = kept.saturating_add(max.max(1));
        if scratch.len() < end {
            scratch.resize(end, 0);
        }
        let Some(buf) = scratch.get_mut(..end) else {
            return Poll::Ready(Err(io::ErrorKind::OutOfMemory.into()));
        };
        let (old, fresh) = buf.split_at_mut(kept);
        old.copy_from_slice(&self.pending);
        let mut rb = ReadBuf::new(fresh);
        match std::pin::Pin::new(&mut self.stream).poll_read(cx, &mut rb) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Ok(Received { closed: true, ..Received::default() }));
        }
        let filled = buf.get_mut(..kept + n).unwrap_or_default();
        Poll::Ready(self.receive(filled).map_err(io::Error::from))
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Received, TlsError> {
        let mut got = Received::default();
        let (consumed, stop) = match pump(&mut self.conn, buf, &mut got) {
            Ok(s) => s,
            Err(e) => {
                self.pending = Vec::new();
                got.reply = alerts(&mut self.conn);
                got.error = Some(e.into());
                return Ok(got);
            }
        };
        got.closed = stop == Stop::PeerClosed;
        self.pending = keep(buf.get(consumed..).unwrap_or_default(), MAX_TRAFFIC_PENDING)?;
        Ok(got)
    }

    /// Encrypt `data` (or, for `None`, a close_notify alert) after whatever
    /// rustls has queued, into a buffer made for it.
    fn seal(&mut self, data: Option<&[u8]>) -> Result<Vec<u8>, TlsError> {
        let mut out = Vec::new();
        loop {
            let UnbufferedStatus { discard, state } = self.conn.process_tls_records(&mut self.pending);
            let done = match state? {
                ConnectionState::EncodeTlsData(mut encode) => {
                    encode_into(&mut encode, &mut out)?;
                    false
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    false
                }
                ConnectionState::WriteTraffic(mut traffic) => {
                    match data {
                        Some(data) => grow_and_retry(&mut out, sealed_len(data.len()), |room| {
                            match traffic.encrypt(data, room) {
                                Ok(n) => Ok(Ok(n)),
                                Err(EncryptError::InsufficientSize(s)) => Ok(Err(s.required_size)),
                                Err(EncryptError::EncryptExhausted) => Err(TlsError::Encrypt("keys used up")),
                            }
                        })?,
                        None => grow_and_retry(&mut out, 64, |room| match traffic.queue_close_notify(room) {
                            Ok(n) => Ok(Ok(n)),
                            Err(EncryptError::InsufficientSize(s)) => Ok(Err(s.required_size)),
                            Err(EncryptError::EncryptExhausted) => Err(TlsError::Encrypt("keys used up")),
                        })?,
                    }
                    true
                }
                // Already closed: nothing more to say.
                ConnectionState::PeerClosed | ConnectionState::Closed if data.is_none() => true,
                ConnectionState::ReadTraffic(_) => return Err(TlsError::Unexpected("unread data")),
                _ => return Err(TlsError::Unexpected("not established")),
            };
            if discard > 0 {
                self.pending.drain(..discard.min(self.pending.len()));
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// Encrypt and send `data`.
    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let out = self.seal(Some(data))?;
        self.send(&out).await
    }

    /// Send TLS data rustls produced while reading.
    pub(crate) async fn send(&mut self, tls: &[u8]) -> io::Result<()> {
        if !tls.is_empty() {
            self.stream.write_all(tls).await?;
        }
        Ok(())
    }

    /// Send close_notify and close the socket.
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        let out = self.seal(None)?;
        self.send(&out).await?;
        self.stream.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::time::Duration;

    use rtc_tls::rustls::pki_types::{CertificateDer, ServerName};
    use rtc_tls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, SupportedProtocolVersion};
    use rtc_tls::TlsServer;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::shell::tls::{C2sConfigs, ALPN_XMPP_CLIENT};

    struct Setup {
        _dir: tempfile::TempDir,
        server: TlsServer,
        der: Vec<u8>,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = rtc_tls::ensure_self_signed(dir.path(), &["localhost".into()]).unwrap();
        let der = rtc_tls::load_certificates(&cert).unwrap().remove(0).as_ref().to_vec();
        let server = TlsServer::new(&rtc_tls::TlsConfig::single(cert, key), &[]).unwrap();
        Setup { _dir: dir, server, der }
    }

    fn client_config(der: &[u8], version: &'static SupportedProtocolVersion) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(der.to_vec())).unwrap();
        let mut config = ClientConfig::builder_with_provider(rtc_tls::provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
        Arc::new(config)
    }

    /// What the client saw.
    struct ClientSide {
        exporter: Option<Vec<u8>>,
        alpn: Option<Vec<u8>>,
        answer: Vec<u8>,
    }

    /// A blocking rustls client: queues `first` before the handshake (so
    /// it leaves with the client's Finished), reads a 4-byte answer, then
    /// sends close_notify.
    fn client(addr: SocketAddr, config: Arc<ClientConfig>, first: &'static [u8]) -> std::thread::JoinHandle<ClientSide> {
        std::thread::spawn(move || {
            let tcp = std::net::TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
            conn.writer().write_all(first).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            while s.conn.is_handshaking() {
                s.conn.complete_io(&mut s.sock).unwrap();
            }
            while s.conn.wants_write() {
                s.conn.write_tls(&mut s.sock).unwrap();
            }
            let exporter = s
                .conn
                .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
                .map(|b| b.to_vec());
            let alpn = s.conn.alpn_protocol().map(<[u8]>::to_vec);
            let mut answer = [0u8; 4];
            s.read_exact(&mut answer).unwrap();
            s.conn.send_close_notify();
            while s.conn.wants_write() {
                s.conn.write_tls(&mut s.sock).unwrap();
            }
            ClientSide { exporter, alpn, answer: answer.to_vec() }
        })
    }

    async fn receive(tls: &mut TlsStream) -> Received {
        let mut scratch = Vec::new();
        std::future::poll_fn(|cx| tls.poll_receive(cx, &mut scratch, 4096)).await.unwrap()
    }

    /// Handshake with a real rustls client; returns what the server
    /// reported and what the client saw.
    async fn exchange(version: &'static SupportedProtocolVersion) -> (TlsInfo, ClientSide, Vec<u8>) {
        let s = setup();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let first: &'static [u8] = b"<stream:stream to='localhost'>";
        let peer = client(listener.local_addr().unwrap(), client_config(&s.der, version), first);
        let (tcp, _) = listener.accept().await.unwrap();
        let config = C2sConfigs::default().config(&s.server, true);
        let (mut tls, info, mut data) = accept(tcp, config).await.unwrap();
        while data.len() < first.len() {
            let got = receive(&mut tls).await;
            assert!(!got.closed);
            data.extend(got.data);
        }
        assert_eq!(data, first);
        assert_eq!(tls.pending.capacity(), 0, "nothing kept while idle");
        tls.write_all(b"pong").await.unwrap();
        let got = receive(&mut tls).await;
        assert!(got.closed && got.data.is_empty(), "close_notify ends the stream");
        tls.shutdown().await.unwrap();
        (info, peer.join().unwrap(), s.der)
    }

    #[tokio::test]
    async fn tls13_exporter_and_end_point_match_what_the_client_computes() {
        let (info, client, der) = exchange(&rustls::version::TLS13).await;
        let exporter = client.exporter.expect("client exports over TLS 1.3");
        assert_eq!(exporter.len(), 32);
        assert_eq!(info.exporter, Some(exporter));
        assert_eq!(info.server_end_point, Some(Sha256::digest(&der).to_vec()));
        assert_eq!(client.alpn.as_deref(), Some(ALPN_XMPP_CLIENT));
        assert_eq!(client.answer, b"pong");
    }

    #[tokio::test]
    async fn tls12_has_end_point_but_no_exporter() {
        let (info, client, der) = exchange(&rustls::version::TLS12).await;
        assert_eq!(info.exporter, None);
        assert_eq!(info.server_end_point, Some(Sha256::digest(&der).to_vec()));
        assert_eq!(client.answer, b"pong");
    }

    #[tokio::test]
    async fn oversized_record_header_fails_the_handshake() {
        let s = setup();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut raw = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        // A handshake record announcing 18,433 bytes: one more than allowed.
        raw.write_all(&[0x16, 0x03, 0x01, 0x48, 0x01, 0x01, 0x00]).await.unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let config = C2sConfigs::default().config(&s.server, false);
        let r = accept(tcp, config).await;
        assert!(matches!(r, Err(TlsError::Rustls(_))), "{r:?}");
    }

    #[tokio::test]
    async fn oversized_record_after_the_handshake_is_answered_with_an_alert_and_an_error() {
        let s = setup();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = client_config(&s.der, &rustls::version::TLS13);
        let peer = std::thread::spawn(move || {
            let tcp = std::net::TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            while s.conn.is_handshaking() {
                s.conn.complete_io(&mut s.sock).unwrap();
            }
            while s.conn.wants_write() {
                s.conn.write_tls(&mut s.sock).unwrap();
            }
            // An application-data record announcing 18,433 bytes.
            s.sock.write_all(&[0x17, 0x03, 0x03, 0x48, 0x01, 0, 0, 0, 0]).unwrap();
            let mut rest = Vec::new();
            let _ = s.sock.read_to_end(&mut rest);
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut tls, _, _) = accept(tcp, C2sConfigs::default().config(&s.server, true)).await.unwrap();
        let got = receive(&mut tls).await;
        assert!(got.error.is_some(), "{got:?}");
        assert!(!got.reply.is_empty(), "an alert is sent");
        tls.send(&got.reply).await.unwrap();
        drop(tls);
        peer.join().unwrap();
    }

    #[tokio::test]
    async fn record_split_across_reads_is_kept_until_complete_then_released() {
        let s = setup();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = client_config(&s.der, &rustls::version::TLS13);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut tcp = std::net::TcpStream::connect(addr).unwrap();
            let mut conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).unwrap();
            }
            while conn.wants_write() {
                conn.write_tls(&mut tcp).unwrap();
            }
            conn.writer().write_all(b"<presence/>").unwrap();
            let mut record = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut record).unwrap();
            }
            let (head, tail) = record.split_at(record.len() / 2);
            tcp.write_all(head).unwrap();
            wait.recv().unwrap();
            tcp.write_all(tail).unwrap();
            wait.recv().unwrap();
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut tls, _, early) = accept(tcp, C2sConfigs::default().config(&s.server, false)).await.unwrap();
        assert!(early.is_empty());
        let got = receive(&mut tls).await;
        assert!(got.data.is_empty() && !got.closed && got.error.is_none(), "{got:?}");
        assert!(!tls.pending.is_empty(), "the first half is kept");
        go.send(()).unwrap();
        let got = receive(&mut tls).await;
        assert_eq!(got.data, b"<presence/>");
        assert_eq!(tls.pending.capacity(), 0, "released once complete");
        go.send(()).unwrap();
        peer.join().unwrap();
    }

    #[test]
    fn kept_bytes_are_exact_and_bounded() {
        assert_eq!(keep(&[], MAX_TRAFFIC_PENDING).unwrap().capacity(), 0);
        assert_eq!(keep(&[1, 2, 3], MAX_TRAFFIC_PENDING).unwrap(), vec![1, 2, 3]);
        let big = vec![0u8; MAX_TRAFFIC_PENDING + 1];
        assert!(matches!(keep(&big, MAX_TRAFFIC_PENDING), Err(TlsError::TooMuchPending(_))));
    }
}
