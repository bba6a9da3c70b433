//! Outgoing server-to-server connections: resolve the domain, connect,
//! TLS (direct or on the core's STARTTLS order), then shuttle bytes between
//! the socket and the core like a client connection task.
//!
//! Resolution order (RFC 6120 §3.2, XEP-0368): a static route from
//! `s2s.hosts` (`host:port`, or `tls://host:port` for direct TLS); `_xmpps-server._tcp` (TLS at once, ALPN `xmpp-server`) when
//! `s2s.direct_tls`; `_xmpp-server._tcp`; the domain's A/AAAA on 5269.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use rtc_tls::rustls::pki_types::ServerName;
use rtc_tls::tokio_rustls::client::TlsStream;
use rtc_tls::tokio_rustls::TlsConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::driver::{ToConn, ToCore};
use super::s2s_tls::S2sTls;
use crate::config::TransportConfig;
use crate::core::ConnId;

/// The default s2s port (RFC 6120 §14.7).
const DEFAULT_PORT: u16 = 5269;
/// Seconds to establish one TCP connection.
const CONNECT_SECONDS: u64 = 10;

/// What outgoing connection tasks share.
#[derive(Debug)]
pub(crate) struct S2sContext {
    pub(crate) core: mpsc::UnboundedSender<ToCore>,
    pub(crate) tls: S2sTls,
    pub(crate) hosts: HashMap<String, String>,
    pub(crate) direct_tls: bool,
    pub(crate) transport: TransportConfig,
    pub(crate) resolver: Option<TokioResolver>,
}

/// One place to try: host, port, TLS from the first byte.
type Target = (String, u16, bool);

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Io {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf).await,
            Io::Tls(s) => s.read(buf).await,
        }
    }
    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.write_all(data).await,
            Io::Tls(s) => s.write_all(data).await,
        }
    }
    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.shutdown().await,
            Io::Tls(s) => s.shutdown().await,
        }
    }
}

async fn targets(ctx: &S2sContext, remote: &str) -> Vec<Target> {
    if let Some(route) = ctx.hosts.get(remote) {
        let (direct, route) = match route.strip_prefix("tls://") {
            Some(rest) => (true, rest),
            None => (false, route.as_str()),
        };
        return match route
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse().ok()?)))
        {
            Some((h, p)) => vec![(h.to_owned(), p, direct)],
            None => vec![(route.to_owned(), DEFAULT_PORT, direct)],
        };
    }
    let mut out = Vec::new();
    if let Some(resolver) = &ctx.resolver {
        let services: &[(&str, bool)] = if ctx.direct_tls {
            &[("_xmpps-server._tcp", true), ("_xmpp-server._tcp", false)]
        } else {
            &[("_xmpp-server._tcp", false)]
        };
        for (service, direct) in services {
            let name = format!("{service}.{remote}.");
            if let Ok(l) = resolver.srv_lookup(name.as_str()).await {
                let mut recs: Vec<_> = l
                    .iter()
                    .map(|s| (s.priority(), s.target().to_utf8(), s.port()))
                    .collect();
                recs.sort();
                for (_, target, port) in recs {
                    let target = target.trim_end_matches('.').to_owned();
                    if !target.is_empty() {
                        out.push((target, port, *direct));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        out.push((remote.to_owned(), DEFAULT_PORT, false));
    }
    out
}

async fn connect(target: &Target) -> Option<TcpStream> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.0.as_str(), target.1))
        .await
        .ok()?
        .collect();
    for addr in addrs {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_secs(CONNECT_SECONDS),
            TcpStream::connect(addr),
        )
        .await
        {
            let _ = s.set_nodelay(true);
            return Some(s);
        }
    }
    None
}

async fn handshake(
    ctx: &S2sContext,
    local: &str,
    remote: &str,
    stream: TcpStream,
    direct: bool,
) -> Option<TlsStream<TcpStream>> {
    let name = ServerName::try_from(remote.to_owned()).ok()?;
    let connector = TlsConnector::from(ctx.tls.client(local, direct));
    let limit = Duration::from_secs(ctx.transport.tls_handshake_seconds);
    match tokio::time::timeout(limit, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::info!(remote, direct, "s2s TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(
                remote,
                direct,
                "s2s TLS handshake not finished within {}s",
                limit.as_secs()
            );
            None
        }
    }
}

fn report_tls(ctx: &S2sContext, conn: ConnId, remote: &str, tls: &TlsStream<TcpStream>) -> bool {
    let info = ctx
        .tls
        .info(tls.get_ref().1.peer_certificates(), Some(remote));
    tracing::debug!(conn = conn.as_u64(), remote, ?info, "s2s TLS established");
    ctx.core.send(ToCore::Tls { conn, info }).is_ok()
}

/// Connect `conn` to `remote` for `local` and serve it until it closes.
pub(crate) async fn run(
    conn: ConnId,
    local: String,
    remote: String,
    rx: crate::shell::mailbox::Receiver,
    ctx: Arc<S2sContext>,
) {
    let end = drive(conn, &local, &remote, &rx, &ctx).await;
    tracing::info!(conn = conn.as_u64(), remote, "s2s connection ended: {end}");
    let _ = ctx.core.send(ToCore::Closed { conn });
}

async fn drive(
    conn: ConnId,
    local: &str,
    remote: &str,
    rx: &crate::shell::mailbox::Receiver,
    ctx: &S2sContext,
) -> String {
    let mut io = None;
    for target in targets(ctx, remote).await {
        let Some(stream) = connect(&target).await else {
            continue;
        };
        if target.2 {
            let Some(tls) = handshake(ctx, local, remote, stream, true).await else {
                continue;
            };
            if !report_tls(ctx, conn, remote, &tls) {
                return "core stopped".into();
            }
            io = Some(Io::Tls(Box::new(tls)));
        } else {
            io = Some(Io::Plain(stream));
        }
        tracing::info!(
            conn = conn.as_u64(),
            remote,
            host = target.0,
            port = target.1,
            direct_tls = target.2,
            "s2s connected"
        );
        break;
    }
    let Some(mut io) = io else {
        return "no address of the domain answered".into();
    };
    if ctx.core.send(ToCore::S2sConnected { conn }).is_err() {
        return "core stopped".into();
    }
    let wt = Duration::from_secs(ctx.transport.write_timeout_seconds);
    let mut buf = vec![0u8; ctx.transport.read_chunk_bytes];
    let mut paused = false;
    loop {
        tokio::select! {
            biased;
            cmds = rx.recv() => {
                let Some(cmds) = cmds else { return "core stopped".into() };
                for cmd in cmds {
                    match cmd {
                        ToConn::Write(data) => match tokio::time::timeout(wt, io.write_all(&data)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return format!("write: {e}"),
                            Err(_) => return "write blocked".into(),
                        },
                        ToConn::Pause => paused = true,
                        ToConn::Resume => paused = false,
                        ToConn::Close => {
                            let _ = tokio::time::timeout(wt.min(Duration::from_secs(5)), io.shutdown()).await;
                            return "closed".into();
                        }
                        ToConn::StartTls => {
                            let Io::Plain(stream) = io else { return "STARTTLS on an encrypted stream".into() };
                            let Some(tls) = handshake(ctx, local, remote, stream, false).await else {
                                return "TLS handshake failed".into();
                            };
                            if !report_tls(ctx, conn, remote, &tls) {
                                return "core stopped".into();
                            }
                            io = Io::Tls(Box::new(tls));
                        }
                    }
                }
            }
            r = io.read(&mut buf), if !paused => {
                let n = match r {
                    Ok(0) => return "EOF".into(),
                    Ok(n) => n,
                    Err(e) => return format!("read: {e}"),
                };
                let data = buf.get(..n).unwrap_or_default().to_vec();
                if ctx.core.send(ToCore::Bytes { conn, data }).is_err() {
                    return "core stopped".into();
                }
            }
        }
    }
}
