//! Stream connections over TCP and TLS (RFC 3261 §18, RFC 5626 §3.5.1):
//! accepting with admission control, framing messages by Content-Length,
//! answering CRLF keepalives, and a bounded write queue per connection.
//!
//! Timeouts, per connection:
//! - `connections.handshake_secs` for the TLS handshake and, on accepted
//!   connections, for the first byte;
//! - `connections.message_secs` for a message to arrive completely once its
//!   first byte is in (slow-trickle protection);
//! - `connections.idle_secs` of silence (keepalives count as traffic).
//!
//! A byte sequence that cannot be framed (no Content-Length, a header section
//! or message over `connections.max_message_bytes`) closes the connection.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rtc_sip::{Frame, Framer, Limits};
use rtc_tls::TlsServer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::inbound::{conn_pair, ConnHandle, ConnQueue, Inbound};
use super::net::{ConnGuard, Net};
use super::ws;
use crate::config::ListenerProto;
use crate::core::{ListenerId, Transport};

/// Read size; the buffer grows only as far as one message needs.
const READ_CHUNK: usize = 8192;
/// How long a connection attempt of ours may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// CRLF answer to a CRLFCRLF keepalive ping (RFC 5626 §3.5.1).
const PONG: &[u8] = b"\r\n";

/// A bound stream listener and what its connections need.
#[derive(Debug)]
pub(crate) struct StreamListener {
    /// The core's id of the listener.
    pub(crate) id: ListenerId,
    /// Its transport.
    pub(crate) proto: ListenerProto,
    /// Certificates for TLS and WSS.
    pub(crate) tls: Option<TlsServer>,
    /// The WebSocket path (WS, WSS).
    pub(crate) ws_path: String,
    /// The listening socket.
    pub(crate) socket: TcpListener,
}

/// The framer limits for `max_message_bytes`.
pub(crate) fn framer_limits(max_message_bytes: usize) -> Limits {
    Limits {
        max_message_bytes,
        max_header_bytes: Limits::DEFAULT.max_header_bytes.min(max_message_bytes),
        max_body_bytes: max_message_bytes,
        ..Limits::DEFAULT
    }
}

/// Accept connections until shutdown begins.
pub(crate) async fn accept_loop(net: Arc<Net>, listener: StreamListener) {
    let listener = Arc::new(listener);
    loop {
        let accepted = tokio::select! {
            () = net.shutdown.wait() => return,
            a = listener.socket.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(guard) = net.admit(remote.ip()) else {
            tracing::debug!(%remote, "connection refused by the per-source limits");
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_accepted(Arc::clone(&net), Arc::clone(&listener), stream, remote, guard));
    }
}

async fn serve_accepted(
    net: Arc<Net>,
    listener: Arc<StreamListener>,
    stream: TcpStream,
    remote: SocketAddr,
    guard: ConnGuard,
) {
    let transport = listener.proto.transport();
    let (handle, queue) = conn_pair(net.ids.next(), listener.id, transport, remote, net.limits.max_queued_bytes);
    let handshake = Duration::from_secs(net.limits.handshake_secs);
    let deadline = Instant::now() + handshake;
    match (listener.proto, &listener.tls) {
        (ListenerProto::Tcp, _) => drive(&net, stream, handle, queue, true).await,
        (ListenerProto::Ws, _) => ws::serve(&net, stream, &listener.ws_path, handle, queue, deadline).await,
        (ListenerProto::Tls | ListenerProto::Wss, Some(tls)) => {
            match tokio::time::timeout_at(deadline, tls.acceptor().accept(stream)).await {
                Ok(Ok(s)) if listener.proto == ListenerProto::Tls => drive(&net, s, handle, queue, true).await,
                Ok(Ok(s)) => ws::serve(&net, s, &listener.ws_path, handle, queue, deadline).await,
                Ok(Err(e)) => {
                    net.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, "TLS handshake failed: {e}");
                }
                Err(_) => {
                    net.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, "TLS handshake timed out");
                }
            }
        }
        (ListenerProto::Udp, _) | (_, None) => {
            tracing::error!("{} listener cannot serve streams", listener.proto.proto());
        }
    }
    drop(guard);
}

/// Open a connection to `remote` for `transport` (TCP or TLS; `server_name`
/// is checked against the certificate). Messages may be queued on the
/// returned handle at once; they are written once connected, or reported as
/// failed. `None` for transports we cannot open (WebSocket).
pub(crate) fn connect(
    net: &Arc<Net>,
    listener: ListenerId,
    transport: Transport,
    remote: SocketAddr,
    server_name: Option<String>,
) -> Option<ConnHandle> {
    if !matches!(transport, Transport::Tcp | Transport::Tls) {
        return None;
    }
    let (handle, queue) = conn_pair(net.ids.next(), listener, transport, remote, net.limits.max_queued_bytes);
    let task_handle = handle.clone();
    let net = Arc::clone(net);
    net.counters.opened.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let failed = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(remote)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                if transport == Transport::Tcp {
                    drive(&net, stream, task_handle, queue, false).await;
                    return;
                }
                match tls_connect(&net, stream, remote, server_name).await {
                    Ok(s) => {
                        drive(&net, s, task_handle, queue, false).await;
                        return;
                    }
                    Err(e) => e,
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::debug!(%remote, %transport, "cannot connect: {failed}");
        finish(&net, task_handle.id, queue).await;
    });
    Some(handle)
}

async fn tls_connect(
    net: &Net,
    stream: TcpStream,
    remote: SocketAddr,
    server_name: Option<String>,
) -> Result<rtc_tls::tokio_rustls::client::TlsStream<TcpStream>, String> {
    use rtc_tls::rustls::pki_types::ServerName;
    let config = net.client_tls.clone().ok_or("no trusted CA certificates for outgoing TLS")?;
    let name = match server_name {
        Some(n) => ServerName::try_from(n).map_err(|e| e.to_string())?,
        None => ServerName::from(remote.ip()),
    };
    let connector = rtc_tls::tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("TLS handshake timed out".to_owned()),
    }
}

/// Report every message still queued as failed, then the closing.
pub(crate) async fn finish(net: &Net, id: crate::core::ConnectionId, mut queue: ConnQueue) {
    queue.rx.close();
    while let Ok(out) = queue.rx.try_recv() {
        if let Some(token) = out.token {
            net.fail(token).await;
        }
    }
    net.closed(id).await;
}

/// Serve one connection: read and frame messages, write what is queued.
/// `accepted` connections must send something within the handshake time.
async fn drive<S>(net: &Arc<Net>, stream: S, handle: ConnHandle, mut queue: ConnQueue, accepted: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let id = handle.id;
    net.register(handle.clone());
    let (mut rd, wr) = tokio::io::split(stream);
    let end = tokio::select! {
        end = read_loop(net, &mut rd, &handle, accepted) => end,
        end = write_loop(net, wr, &mut queue) => end,
    };
    if let Err(reason) = end {
        net.counters.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(remote = %handle.remote, transport = %handle.transport, "closing connection: {reason}");
    }
    finish(net, id, queue).await;
}

/// When the current read must end, and what to call it if it does.
fn read_deadline(
    net: &Net,
    last_read: Instant,
    partial_since: Option<Instant>,
    silent: bool,
) -> (Instant, &'static str) {
    let l = &net.limits;
    let idle = last_read + Duration::from_secs(l.idle_secs);
    let mut at = (idle, "idle timeout");
    if silent {
        at = (last_read + Duration::from_secs(l.handshake_secs), "nothing sent after connecting");
    }
    if let Some(since) = partial_since {
        let limit = since + Duration::from_secs(l.message_secs);
        if limit < at.0 {
            at = (limit, "message not completed in time");
        }
    }
    at
}

async fn read_loop<R: AsyncRead + Unpin>(
    net: &Net,
    rd: &mut R,
    handle: &ConnHandle,
    accepted: bool,
) -> Result<(), &'static str> {
    let mut framer = Framer::new(framer_limits(net.limits.max_message_bytes));
    let flow = handle.flow();
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut last_read = Instant::now();
    let mut partial_since: Option<Instant> = None;
    let mut silent = accepted;
    loop {
        let mut start = 0;
        let mut consumed_message = false;
        while let Some(rest) = buf.get(start..) {
            match framer.poll(rest) {
                Frame::Incomplete => break,
                Frame::Ping { consumed } => {
                    net.counters.pings.fetch_add(1, Ordering::Relaxed);
                    handle.send(PONG.to_vec(), None);
                    start += consumed;
                }
                Frame::Pong { consumed } => start += consumed,
                Frame::Message { len } => {
                    let Some(msg) = rest.get(..len) else { return Err("framing error") };
                    let msg = Inbound::Message { flow, bytes: msg.to_vec() };
                    if !net.deliver(msg).await {
                        return Ok(());
                    }
                    start += len;
                    consumed_message = true;
                }
                Frame::Invalid(e) => {
                    tracing::debug!(remote = %handle.remote, "unframeable stream: {e}");
                    return Err("stream cannot be framed");
                }
            }
        }
        buf.drain(..start.min(buf.len()));
        let now = Instant::now();
        partial_since = match (buf.is_empty(), consumed_message, partial_since) {
            (true, _, _) => None,
            (false, true, _) | (false, false, None) => Some(now),
            (false, false, Some(t)) => Some(t),
        };
        if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
            buf = Vec::with_capacity(READ_CHUNK);
        }
        buf.reserve(READ_CHUNK);
        let (deadline, why) = read_deadline(net, last_read, partial_since, silent);
        match tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {
                last_read = Instant::now();
                silent = false;
            }
            Ok(Err(_)) => return Ok(()),
            Err(_) => return Err(why),
        }
    }
}

/// Write queued messages until the queue closes, the driver asks for a
/// close, or a write fails (then every unwritten message is reported).
async fn write_loop<W: AsyncWrite + Unpin>(net: &Net, wr: W, queue: &mut ConnQueue) -> Result<(), &'static str> {
    let mut wr = BufWriter::with_capacity(16 * 1024, wr);
    let close = Arc::clone(&queue.close);
    loop {
        let out = tokio::select! {
            out = queue.rx.recv() => out,
            () = close.notified() => {
                // Write what is already queued, then end.
                while let Ok(out) = queue.rx.try_recv() {
                    queue.done(out.bytes.len());
                    if wr.write_all(&out.bytes).await.is_err() {
                        break;
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let _ = wr.flush().await;
                    let _ = wr.shutdown().await;
                })
                .await;
                return Ok(());
            }
        };
        let Some(mut out) = out else { return Ok(()) };
        loop {
            queue.done(out.bytes.len());
            if wr.write_all(&out.bytes).await.is_err() {
                if let Some(t) = out.token {
                    net.fail(t).await;
                }
                return Err("write failed");
            }
            match queue.rx.try_recv() {
                Ok(next) => out = next,
                Err(_) => break,
            }
        }
        if wr.flush().await.is_err() {
            return Err("write failed");
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
