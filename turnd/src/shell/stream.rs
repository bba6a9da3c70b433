//! Client connections over TCP and TLS (RFC 8656 §3.1, RFC 7443): accepting
//! with per-source limits, framing STUN and ChannelData out of the byte
//! stream, and a bounded write queue per connection.
//!
//! Limits (the `tcp_*` keys of `limits:`, [`StreamLimits`]), all per
//! connection unless said otherwise, read when a connection is accepted:
//! - `tcp_first_message_secs` for the TLS handshake and the first whole frame;
//! - frames longer than `tcp_max_frame_bytes` close the connection, as does any
//!   byte sequence that is neither STUN nor ChannelData (other connections are
//!   not disturbed);
//! - `tcp_max_queued_bytes` waiting to be written; relayed data beyond it is dropped;
//! - `tcp_max_connections_per_ip` open connections per source IP and
//!   `tcp_connection_rate` new ones per source IP and worker.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_stun::{Framing, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::common::{lock, Common};
use super::tcp_relay;
use super::worker::Worker;
use crate::config::StreamLimits;
use crate::core::{ConnectionId, FiveTuple, Transport};

/// Read size; the buffer grows only as far as one frame needs.
const READ_CHUNK: usize = 4096;
/// Seconds of silence allowed after the longest allocation lifetime.
const IDLE_MARGIN: Duration = Duration::from_secs(60);

/// The shell's side of one client connection, reachable from the core's
/// transmits by 5-tuple.
#[derive(Debug)]
pub(crate) struct StreamConn {
    /// Most bytes `out` may hold.
    max_queued: usize,
    out: RefCell<Vec<u8>>,
    wake: Notify,
    closed: Cell<bool>,
    splice: Cell<Option<ConnectionId>>,
    /// Wakes the reader when a splice was decided outside its own frame
    /// handling (the ConnectionBind waited for a key lookup).
    splice_wake: Notify,
}

impl StreamConn {
    fn new(max_queued: usize) -> Self {
        Self {
            max_queued,
            out: RefCell::default(),
            wake: Notify::new(),
            closed: Cell::new(false),
            splice: Cell::new(None),
            splice_wake: Notify::new(),
        }
    }

    /// Queue bytes; `false` if they were dropped (closed, or queue full).
    fn push(&self, bytes: &[u8]) -> bool {
        if self.closed.get() {
            return false;
        }
        let mut out = self.out.borrow_mut();
        if out.len() + bytes.len() > self.max_queued {
            return false;
        }
        out.extend_from_slice(bytes);
        drop(out);
        self.wake.notify_one();
        true
    }

    /// Queue a message the core composed; `false` if dropped.
    pub(crate) fn push_control(&self, bytes: &[u8]) -> bool {
        self.push(bytes)
    }

    /// Queue relayed data (hot path); `false` if dropped.
    pub(crate) fn push_data(&self, bytes: &[u8]) -> bool {
        self.push(bytes)
    }

    /// RFC 6062 §5.4: after the queued ConnectionBind response, this
    /// connection carries raw bytes for `connection`.
    pub(crate) fn start_splice(&self, connection: ConnectionId) {
        self.splice.set(Some(connection));
        self.splice_wake.notify_one();
    }

    fn close(&self) {
        self.closed.set(true);
        self.wake.notify_one();
    }
}

/// Keeps one connection counted against its source IP.
#[derive(Debug)]
struct ConnGuard {
    common: Arc<Common>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut map = lock(&self.common.per_ip);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

fn admit(worker: &Worker, ip: IpAddr, limits: &StreamLimits) -> Option<ConnGuard> {
    let counters = &worker.common.stream_counters;
    let allowed = {
        let mut rate = worker.accept_rate.borrow_mut();
        rate.set_limit(limits.tcp_connection_rate);
        rate.check(&ip, Instant::now())
    };
    if !allowed {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let mut map = lock(&worker.common.per_ip);
    let n = map.entry(ip).or_insert(0);
    if *n >= limits.tcp_max_connections_per_ip {
        drop(map);
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    *n += 1;
    drop(map);
    counters.accepted.fetch_add(1, Ordering::Relaxed);
    Some(ConnGuard { common: Arc::clone(&worker.common), ip })
}

/// Accept connections on `listener` until shutdown begins.
pub(crate) async fn accept_loop(worker: Rc<Worker>, listener: TcpListener, transport: Transport) {
    let shutdown = worker.common.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            () = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        let (stream, client) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let limits = worker.common.stream_limits();
        let Some(guard) = admit(&worker, client.ip(), &limits) else { continue };
        let Ok(server) = stream.local_addr() else { continue };
        let _ = stream.set_nodelay(true);
        let from = FiveTuple { transport, client, server };
        tokio::task::spawn_local(serve(Rc::clone(&worker), stream, from, guard, limits));
    }
}

async fn serve(worker: Rc<Worker>, stream: tokio::net::TcpStream, from: FiveTuple, guard: ConnGuard, limits: StreamLimits) {
    let deadline = tokio::time::Instant::now() + limits.first_message_timeout();
    if from.transport == Transport::Tls {
        let Some(tls) = worker.common.tls.as_ref() else { return };
        match tokio::time::timeout_at(deadline, tls.acceptor().accept(stream)).await {
            Ok(Ok(s)) => drive(worker, s, from, deadline, &limits).await,
            Ok(Err(e)) => tracing::debug!(client = %from.client, "TLS handshake failed: {e}"),
            Err(_) => tracing::debug!(client = %from.client, "TLS handshake timed out"),
        }
    } else {
        drive(worker, stream, from, deadline, &limits).await;
    }
    drop(guard);
}

/// How reading a connection ended.
enum End {
    /// Closed, broken, malformed or idle.
    Closed,
    /// RFC 6062 ConnectionBind succeeded: hand the stream over, with the bytes
    /// already read past the ConnectionBind request.
    Splice(ConnectionId, Vec<u8>),
}

async fn drive<S>(worker: Rc<Worker>, stream: S, from: FiveTuple, first_deadline: tokio::time::Instant, limits: &StreamLimits)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let conn = Rc::new(StreamConn::new(limits.tcp_max_queued_bytes));
    worker.streams.borrow_mut().insert(from, Rc::clone(&conn));
    // Over TLS each STUN/ChannelData frame goes in its own TLS record: some clients
    // (coturn's uclient among them) take one TLS read as one message.
    let per_record = from.transport == Transport::Tls;
    let writer = tokio::task::spawn_local(write_loop(Rc::clone(&conn), wr, per_record));
    let idle = Duration::from_secs(u64::from(worker.common.core_config().allocation.max_lifetime_secs)) + IDLE_MARGIN;
    let framer = StreamFramer::new(limits.tcp_max_frame_bytes);
    let end = read_loop(&worker, &conn, &mut rd, from, (first_deadline, idle), framer).await;
    worker.streams.borrow_mut().remove(&from);
    // The allocation made over this connection goes with it (RFC 8656 §3.1).
    worker.core.borrow_mut().handle_client_closed(from, Instant::now());
    worker.pump();
    conn.close();
    let Ok((mut wr, healthy)) = writer.await else { return };
    match end {
        End::Splice(connection, leftover) if healthy => {
            tcp_relay::splice(&worker, rd.unsplit(wr), connection, leftover).await;
        }
        End::Splice(connection, _) => tcp_relay::splice_failed(&worker, connection),
        End::Closed => {
            let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    worker: &Rc<Worker>,
    conn: &StreamConn,
    rd: &mut R,
    from: FiveTuple,
    (first_deadline, idle): (tokio::time::Instant, Duration),
    framer: StreamFramer,
) -> End {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut framed = false;
    loop {
        let mut start = 0;
        while let Some(rest) = buf.get(start..) {
            match framer.next_frame(rest) {
                Framing::Complete { len, .. } => {
                    let Some(frame) = rest.get(..len) else { return End::Closed };
                    framed = true;
                    on_frame(worker, from, frame);
                    start += len;
                    if let Some(c) = conn.splice.take() {
                        return End::Splice(c, buf.get(start..).unwrap_or_default().to_vec());
                    }
                }
                Framing::Incomplete => break,
                Framing::Invalid(e) => {
                    tracing::debug!(client = %from.client, "closing a stream that is not STUN/TURN: {e}");
                    worker.common.stream_counters.malformed.fetch_add(1, Ordering::Relaxed);
                    return End::Closed;
                }
            }
        }
        buf.drain(..start.min(buf.len()));
        if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
            buf = Vec::with_capacity(READ_CHUNK);
        }
        buf.reserve(READ_CHUNK);
        let deadline = if framed { tokio::time::Instant::now() + idle } else { first_deadline };
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)) => r,
            () = conn.splice_wake.notified() => {
                match conn.splice.take() {
                    Some(c) => return End::Splice(c, buf),
                    None => continue,
                }
            }
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return End::Closed,
            Err(_) => {
                if !framed {
                    worker.common.stream_counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(client = %from.client, "closing an idle connection");
                return End::Closed;
            }
        }
    }
}

fn on_frame(worker: &Rc<Worker>, from: FiveTuple, frame: &[u8]) {
    let forward = worker.core.borrow_mut().handle_client_packet(from, frame, Instant::now());
    if let Some(f) = forward {
        let mut gso = worker.gso.borrow_mut();
        worker.forward(&mut gso, &f, frame);
        gso.flush();
    }
    worker.pump();
}

/// Write whatever is queued until the connection closes; returns the writer
/// and whether every write succeeded.
/// Write queued frames one `write_all` each, so a TLS stream puts each in its own record.
async fn write_frames<W: AsyncWrite + Unpin>(wr: &mut W, chunk: &[u8], framer: &StreamFramer) -> std::io::Result<()> {
    let mut rest = chunk;
    while !rest.is_empty() {
        let len = match framer.next_frame(rest) {
            Framing::Complete { len, .. } => len.min(rest.len()),
            // Cannot happen for frames the core encoded; never lose bytes over it.
            _ => rest.len(),
        };
        let (frame, tail) = rest.split_at(len);
        wr.write_all(frame).await?;
        rest = tail;
    }
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(conn: Rc<StreamConn>, mut wr: W, per_record: bool) -> (W, bool) {
    let mut chunk: Vec<u8> = Vec::new();
    // Frames we queued ourselves; the bound only has to exceed the largest one.
    let framer = StreamFramer::new(usize::MAX);
    loop {
        {
            let mut out = conn.out.borrow_mut();
            if out.is_empty() && conn.closed.get() {
                break;
            }
            std::mem::swap(&mut *out, &mut chunk);
        }
        if chunk.is_empty() {
            conn.wake.notified().await;
            continue;
        }
        let written = if per_record {
            write_frames(&mut wr, &chunk, &framer).await
        } else {
            wr.write_all(&chunk).await
        };
        if written.is_err() || wr.flush().await.is_err() {
            conn.closed.set(true);
            return (wr, false);
        }
        chunk.clear();
        if chunk.capacity() > conn.max_queued / 4 {
            chunk = Vec::new();
        }
    }
    (wr, true)
}
