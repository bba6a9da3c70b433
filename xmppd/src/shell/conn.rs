//! One task per client connection: reads and writes the socket (plain, after
//! STARTTLS, or direct TLS), enforces the shell's timers, and relays bytes to
//! and orders from the core task.
//!
//! Reading stops while the core says so (byte-rate limit exceeded, or it
//! waits for storage); TCP backpressure then slows the client down. A client
//! must send its whole stream header within `stream_header_seconds` of
//! connecting (or of finishing TLS: the core's first write answers it) and finish a TLS handshake within
//! `tls_handshake_seconds`; the core bounds the rest of the negotiation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc_daemon::Shutdown;
use rtc_tls::tokio_rustls::server::TlsStream;
use rtc_tls::TlsServer;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::TransportConfig;
use crate::core::{ConnId, Listener};

use super::driver::{ToConn, ToCore};
use super::tls::ConnAcceptor;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct ConnContext {
    pub core: mpsc::UnboundedSender<ToCore>,
    pub tls: Option<TlsServer>,
    pub transport: TransportConfig,
    /// Triggered when the daemon stops: a task still waiting for its TLS
    /// handshake or first bytes gives up at once.
    pub shutdown: Shutdown,
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => write_flush(s, data).await,
            Self::Tls(s) => write_flush(s.as_mut(), data).await,
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Self::Plain(s) => s.shutdown().await,
            Self::Tls(s) => s.shutdown().await,
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
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (reply, id) = oneshot::channel();
    let opened = ToCore::Opened { peer, listener, tx, reply };
    if ctx.core.send(opened).is_err() {
        return;
    }
    let Ok(Some(conn)) = id.await else { return };
    let mut run = Conn { conn, peer, ctx: Arc::clone(&ctx), paused: false, header_by: None };
    let end = run.drive(stream, listener, &mut rx).await;
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
}

impl Conn {
    fn secs(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    async fn drive(
        &mut self,
        stream: TcpStream,
        listener: Listener,
        rx: &mut mpsc::UnboundedReceiver<Vec<ToConn>>,
    ) -> End {
        let mut io = match listener {
            Listener::Starttls | Listener::Component => Transport::Plain(stream),
            Listener::DirectTls => match self.handshake(stream, true).await {
                Ok(s) => Transport::Tls(Box::new(s)),
                Err(e) => return e,
            },
        };
        self.expect_header();
        let mut buf = vec![0u8; self.ctx.transport.read_chunk_bytes];
        loop {
            let header_by = self.header_by;
            tokio::select! {
                biased;
                cmds = rx.recv() => {
                    let Some(cmds) = cmds else { return End::Core };
                    for cmd in cmds {
                        match self.apply(cmd, io).await {
                            Ok(next) => io = next,
                            Err(end) => return end,
                        }
                    }
                }
                r = io.read(&mut buf), if !self.paused => {
                    let n = match r {
                        Ok(0) => return End::Eof,
                        Ok(n) => n,
                        Err(e) => return End::Io(e),
                    };
                    let data = buf.get(..n).unwrap_or_default().to_vec();
                    if self.ctx.core.send(ToCore::Bytes { conn: self.conn, data }).is_err() {
                        return End::Core;
                    }
                }
                () = sleep_until_opt(header_by) => {
                    return End::HeaderTimeout(self.ctx.transport.stream_header_seconds);
                }
            }
        }
    }

    fn expect_header(&mut self) {
        self.header_by = Some(Instant::now() + Self::secs(self.ctx.transport.stream_header_seconds));
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
                let tls = self.handshake(stream, false).await?;
                self.expect_header();
                Ok(Transport::Tls(Box::new(tls)))
            }
        }
    }

    /// Run the TLS server handshake and report the channel-binding data.
    async fn handshake(&mut self, stream: TcpStream, alpn: bool) -> Result<TlsStream<TcpStream>, End> {
        let Some(server) = &self.ctx.tls else {
            return Err(End::Handshake("no certificate configured".into()));
        };
        let acceptor = ConnAcceptor::new(server, alpn);
        let limit = self.ctx.transport.tls_handshake_seconds;
        let accept = tokio::time::timeout(Self::secs(limit), acceptor.acceptor.accept(stream));
        let tls = tokio::select! {
            r = accept => match r {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(End::Handshake(e.to_string())),
                Err(_) => return Err(End::Handshake(format!("not finished within {limit}s"))),
            },
            () = self.ctx.shutdown.wait() => return Err(End::Handshake("server stopping".into())),
        };
        let info = acceptor.binding(tls.get_ref().1);
        tracing::debug!(conn = self.conn.as_u64(), peer = %self.peer, ?info, "TLS established");
        if self.ctx.core.send(ToCore::Tls { conn: self.conn, info }).is_err() {
            return Err(End::Core);
        }
        Ok(tls)
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
