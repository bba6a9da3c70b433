//! One task per client connection: reads and writes the socket (plain, after
//! STARTTLS, or direct TLS), enforces the shell's timers, and relays bytes to
//! and orders from the core task.
//!
//! Reading stops while the core says so (byte-rate limit exceeded, or it
//! waits for storage), and on every connection while the storage backlog is
//! over its limit (`storage::BACKLOG_PAUSE`: archive and offline writes must
//! not pile up in memory faster than the database takes them); TCP
//! backpressure then slows the clients down. A client
//! must send its whole stream header within `stream_header_seconds` of
//! connecting (or of finishing TLS: the core's first write answers it) and finish a TLS handshake within
//! `tls_handshake_seconds`; the core bounds the rest of the negotiation.
//!
//! # Memory
//!
//! Most connections are idle most of the time, so what an idle task holds
//! is multiplied by the connection count. Reads go through one buffer per
//! worker thread (filled and copied out within a single poll), not one per
//! connection, and the TLS handshake futures are boxed, so they take room
//! only while a handshake runs instead of enlarging every task.
//!
//! Client TLS (direct and STARTTLS) therefore runs on rustls's unbuffered
//! API ([`super::c2s_tls`]): records are decrypted in that shared buffer and
//! only an incomplete record is kept per connection, where `tokio_rustls`'s
//! buffered connection keeps a 4 KiB receive buffer for its whole life. All
//! client connections share one rustls config per ALPN choice
//! ([`super::tls`]). The s2s listener keeps `tokio_rustls`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rtc_daemon::Shutdown;
use rtc_tls::TlsServer;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::TransportConfig;
use crate::core::{ConnId, Listener};

use super::c2s_tls::{self, Received, TlsStream};
use super::driver::{ToConn, ToCore};
use super::mailbox;
use super::tls::C2sConfigs;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct ConnContext {
    pub core: mpsc::UnboundedSender<ToCore>,
    pub tls: Option<TlsServer>,
    /// The client configs derived from `tls`, shared by every connection.
    pub c2s_configs: C2sConfigs,
    pub transport: TransportConfig,
    /// Triggered when the daemon stops: a task still waiting for its TLS
    /// handshake or first bytes gives up at once.
    pub shutdown: Shutdown,
    /// Certificate validation for server-to-server listeners.
    pub s2s_tls: Option<super::s2s_tls::S2sTls>,
    /// Storage requests in flight: reading waits while there are too many.
    pub backlog: Arc<super::storage::Backlog>,
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// The s2s listener's TLS (kept on `tokio_rustls`).
    S2s(Box<rtc_tls::tokio_rustls::server::TlsStream<TcpStream>>),
}

thread_local! {
    /// The read buffer of every connection task polled on this thread.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Transport {
    fn poll_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        let r = match self {
            Self::Plain(s) => Pin::new(s).poll_read(cx, &mut rb),
            Self::S2s(s) => Pin::new(s.as_mut()).poll_read(cx, &mut rb),
            Self::Tls(_) => return Poll::Ready(Err(std::io::ErrorKind::Unsupported.into())),
        };
        r.map_ok(|()| rb.filled().len())
    }

    /// Read up to `max` bytes (empty at EOF) through the thread's shared
    /// buffer; only what was read (or, with TLS, decrypted) is copied out.
    fn poll_read_chunk(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<std::io::Result<Received>> {
        READ_BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut shared) => self.poll_read_with(cx, &mut shared, max),
            // Not reachable (nothing polled from inside a read touches the
            // buffer), but a private buffer is a safe answer.
            Err(_) => self.poll_read_with(cx, &mut Vec::new(), max),
        })
    }

    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        shared: &mut Vec<u8>,
        max: usize,
    ) -> Poll<std::io::Result<Received>> {
        if let Self::Tls(tls) = self {
            return tls.poll_receive(cx, shared, max);
        }
        if shared.len() < max {
            shared.resize(max, 0);
        }
        let buf = shared.get_mut(..max).unwrap_or_default();
        self.poll_into(cx, buf).map_ok(|n| {
            let data = buf.get(..n).unwrap_or_default().to_vec();
            Received { closed: data.is_empty(), data, ..Received::default() }
        })
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => write_flush(s, data).await,
            Self::Tls(s) => s.write_all(data).await,
            Self::S2s(s) => write_flush(s.as_mut(), data).await,
        }
    }

    /// Send what TLS produced while reading (alerts, a KeyUpdate answer).
    async fn send_reply(&mut self, tls: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Tls(s) => s.send(tls).await,
            Self::Plain(_) | Self::S2s(_) => Ok(()),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Self::Plain(s) => s.shutdown().await,
            Self::Tls(s) => s.shutdown().await,
            Self::S2s(s) => s.shutdown().await,
        };
    }
}

async fn write_flush<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8]) -> std::io::Result<()> {
    s.write_all(data).await?;
    s.flush().await
}

/// Why a connection ended without the core closing it.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("closed by the client")]
    Eof,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no stream header within {0}s")]
    HeaderTimeout(u64),
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("write blocked for {0}s")]
    WriteTimeout(u64),
    #[error("core stopped")]
    Core,
    #[error("closed by the server")]
    Closed,
}

/// Serve one accepted client connection until it closes.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, listener: Listener, ctx: Arc<ConnContext>) {
    let _ = stream.set_nodelay(true);
    let (tx, rx) = mailbox::mailbox();
    let (reply, id) = oneshot::channel();
    let opened = ToCore::Opened { peer, listener, tx, reply };
    if ctx.core.send(opened).is_err() {
        return;
    }
    let Ok(Some(conn)) = id.await else { return };
    let mut run = Conn { conn, peer, ctx: Arc::clone(&ctx), paused: false, header_by: None, listener };
    let end = run.drive(stream, listener, &rx).await;
    match &end {
        End::Closed | End::Eof => tracing::debug!(conn = conn.as_u64(), %peer, "connection ended: {end}"),
        _ => tracing::info!(conn = conn.as_u64(), %peer, "connection ended: {end}"),
    }
    if !matches!(end, End::Closed) {
        let _ = ctx.core.send(ToCore::Closed { conn });
    }
}

struct Conn {
    conn: ConnId,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    paused: bool,
    /// The client's whole stream header is due by then (slowloris); the
    /// core's first write answers it and disarms this.
    header_by: Option<Instant>,
    listener: Listener,
}

impl Conn {
    fn secs(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    async fn drive(
        &mut self,
        stream: TcpStream,
        listener: Listener,
        rx: &mailbox::Receiver,
    ) -> End {
        let mut io = if listener.is_direct_tls() {
            match Box::pin(self.handshake(stream, true)).await {
                Ok(io) => io,
                Err(e) => return e,
            }
        } else {
            Transport::Plain(stream)
        };
        self.expect_header();
        let max = self.ctx.transport.read_chunk_bytes;
        // Boxed and only while armed: an idle task keeps no timer entry.
        let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
        loop {
            match self.header_by {
                Some(at) if timer.as_ref().is_none_or(|t| t.deadline() != at) => {
                    timer = Some(Box::pin(tokio::time::sleep_until(at)));
                }
                None => timer = None,
                Some(_) => {}
            }
            if self.ctx.backlog.is_over() {
                // Storage is behind: read nothing more until it catches up
                // (boxed: the wait takes room only while it lasts).
                Box::pin(self.ctx.backlog.wait()).await;
            }
            tokio::select! {
                biased;
                cmds = rx.recv() => {
                    let Some(cmds) = cmds else { return End::Core };
                    for cmd in cmds {
                        // Boxed: its write timer takes room only while writing.
                        match Box::pin(self.apply(cmd, io)).await {
                            Ok(next) => io = next,
                            Err(end) => return end,
                        }
                    }
                }
                r = std::future::poll_fn(|cx| io.poll_read_chunk(cx, max)), if !self.paused => {
                    let got = match r {
                        Ok(got) => got,
                        Err(e) => return End::Io(e),
                    };
                    if !got.reply.is_empty() {
                        // Boxed: its write timer takes room only while writing.
                        if let Err(end) = Box::pin(self.send_reply(&mut io, &got.reply)).await {
                            return end;
                        }
                    }
                    if !got.data.is_empty()
                        && self.ctx.core.send(ToCore::Bytes { conn: self.conn, data: got.data }).is_err()
                    {
                        return End::Core;
                    }
                    if let Some(e) = got.error {
                        return End::Io(e);
                    }
                    if got.closed {
                        return End::Eof;
                    }
                }
                () = wait_armed(&mut timer) => {
                    return End::HeaderTimeout(self.ctx.transport.stream_header_seconds);
                }
            }
        }
    }

    fn expect_header(&mut self) {
        self.header_by = Some(Instant::now() + Self::secs(self.ctx.transport.stream_header_seconds));
    }

    async fn send_reply(&self, io: &mut Transport, tls: &[u8]) -> Result<(), End> {
        let wt = self.ctx.transport.write_timeout_seconds;
        match tokio::time::timeout(Self::secs(wt), io.send_reply(tls)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::WriteTimeout(wt)),
        }
    }

    /// Carry out one order of the core; the transport may be replaced (STARTTLS).
    async fn apply(&mut self, cmd: ToConn, mut io: Transport) -> Result<Transport, End> {
        let wt = self.ctx.transport.write_timeout_seconds;
        match cmd {
            ToConn::Write(data) => {
                self.header_by = None;
                match tokio::time::timeout(Self::secs(wt), io.write_all(&data)).await {
                    Ok(Ok(())) => Ok(io),
                    Ok(Err(e)) => Err(End::Io(e)),
                    Err(_) => Err(End::WriteTimeout(wt)),
                }
            }
            ToConn::Pause => {
                self.paused = true;
                Ok(io)
            }
            ToConn::Resume => {
                self.paused = false;
                Ok(io)
            }
            ToConn::Close => {
                let _ = tokio::time::timeout(Self::secs(wt.min(5)), io.shutdown()).await;
                Err(End::Closed)
            }
            ToConn::StartTls => {
                let Transport::Plain(stream) = io else {
                    return Err(End::Handshake("STARTTLS on an encrypted stream".into()));
                };
                let tls = Box::pin(self.handshake(stream, false)).await?;
                self.expect_header();
                Ok(tls)
            }
        }
    }

    /// Run the TLS server handshake and report the channel-binding data,
    /// then any application data the client sent with its Finished.
    async fn handshake(&mut self, stream: TcpStream, alpn: bool) -> Result<Transport, End> {
        let Some(server) = &self.ctx.tls else {
            return Err(End::Handshake("no certificate configured".into()));
        };
        if self.listener.is_s2s() {
            let tls = self.handshake_s2s(server, stream, alpn).await?;
            return Ok(Transport::S2s(Box::new(tls)));
        }
        let config = self.ctx.c2s_configs.config(server, alpn);
        let limit = self.ctx.transport.tls_handshake_seconds;
        let accept = tokio::time::timeout(Self::secs(limit), c2s_tls::accept(stream, config));
        let (tls, info, early) = tokio::select! {
            r = accept => match r {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(End::Handshake(e.to_string())),
                Err(_) => return Err(End::Handshake(format!("not finished within {limit}s"))),
            },
            () = self.ctx.shutdown.wait() => return Err(End::Handshake("server stopping".into())),
        };
        tracing::debug!(conn = self.conn.as_u64(), peer = %self.peer, ?info, "TLS established");
        if self.ctx.core.send(ToCore::Tls { conn: self.conn, info }).is_err() {
            return Err(End::Core);
        }
        if !early.is_empty() && self.ctx.core.send(ToCore::Bytes { conn: self.conn, data: early }).is_err() {
            return Err(End::Core);
        }
        Ok(Transport::Tls(Box::new(tls)))
    }
}

impl Conn {
    /// The server side of an s2s handshake; the peer's certificate, if any,
    /// is validated afterwards and reported to the core.
    async fn handshake_s2s(
        &self,
        server: &TlsServer,
        stream: TcpStream,
        alpn: bool,
    ) -> Result<rtc_tls::tokio_rustls::server::TlsStream<TcpStream>, End> {
        let Some(s2s) = &self.ctx.s2s_tls else {
            return Err(End::Handshake("no s2s TLS configuration".into()));
        };
        let config = super::s2s_tls::S2sTls::server(server, alpn).map_err(|e| End::Handshake(e.to_string()))?;
        let acceptor = rtc_tls::tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let limit = self.ctx.transport.tls_handshake_seconds;
        let tls = match tokio::time::timeout(Self::secs(limit), acceptor.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(End::Handshake(e.to_string())),
            Err(_) => return Err(End::Handshake(format!("not finished within {limit}s"))),
        };
        let info = s2s.info(tls.get_ref().1.peer_certificates(), None);
        tracing::debug!(conn = self.conn.as_u64(), peer = %self.peer, ?info, "s2s TLS established");
        if self.ctx.core.send(ToCore::Tls { conn: self.conn, info }).is_err() {
            return Err(End::Core);
        }
        Ok(tls)
    }
}

async fn wait_armed(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection task is a heap allocation of this future's size, so
    /// its size is paid once per connection, idle or not.
    #[tokio::test]
    async fn connection_task_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let (core, _core_rx) = mpsc::unbounded_channel();
        let (_trigger, shutdown) = rtc_daemon::ShutdownTrigger::new();
        let ctx = Arc::new(ConnContext {
            core,
            tls: None,
            c2s_configs: C2sConfigs::default(),
            s2s_tls: None,
            transport: TransportConfig::default(),
            shutdown,
            backlog: Arc::default(),
        });
        let task = serve(stream, peer, Listener::DirectTls, ctx);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 640, "a connection task's future is {size} bytes");
        drop((task, client));
    }
}
