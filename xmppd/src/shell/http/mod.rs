//! The web listeners (`https` and `http` kinds): a small HTTP/1.1 server
//! for XMPP over WebSocket (RFC 7395, `ws.rs`), BOSH (XEP-0124/0206,
//! `bosh.rs`), host-meta (XEP-0156, `hostmeta.rs`) and HTTP upload
//! (XEP-0363, `upload.rs`).
//!
//! One task per TCP connection. Requests are read with a bounded head
//! (`web.max_header_bytes`) within `web.request_seconds`; only
//! `Content-Length` bodies are accepted (no chunked uploads); connections
//! are kept alive between requests. The number of concurrent web
//! connections is capped (`web.max_connections`). HTTPS uses the hosts'
//! certificates (SNI) with ALPN `http/1.1`.
//!
//! Deliberately not here: HTTP/2, and any protocol decision about XMPP
//! itself (the WebSocket and BOSH bridges feed the core).

mod bosh;
pub(crate) mod framing;
mod hostmeta;
pub(crate) mod upload;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc_daemon::Shutdown;
use rtc_tls::tokio_rustls::TlsAcceptor;
use rtc_tls::TlsServer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use super::driver::ToCore;
use crate::config::WebConfig;
use crate::core::UploadConfig;

/// ALPN of the HTTPS listener.
const ALPN_HTTP11: &[u8] = b"http/1.1";
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

/// A byte stream (TCP or TLS over TCP).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What every web connection shares.
#[derive(Debug)]
pub(crate) struct WebContext {
    pub core: mpsc::UnboundedSender<ToCore>,
    pub tls: Option<TlsServer>,
    pub web: WebConfig,
    pub upload: UploadConfig,
    /// The enabled hosts (host-meta answers only for them).
    pub hosts: Vec<String>,
    pub connections: Arc<Semaphore>,
    pub shutdown: Shutdown,
    /// Seconds allowed for a TLS handshake.
    pub tls_handshake_seconds: u64,
    /// BOSH sessions (XEP-0124).
    pub bosh: Arc<bosh::Sessions>,
    /// Storage requests in flight: client data waits while there are too many.
    pub backlog: Arc<super::storage::Backlog>,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub(crate) fn header_has(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The host name of the `Host` header, without the port, lowercased.
    pub(crate) fn host(&self) -> Option<String> {
        let h = self.header("host")?;
        let name = match h.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => h.rsplit_once(':').map_or(h, |(n, _)| n),
        };
        Some(name.to_ascii_lowercase())
    }

    /// The `Content-Length`, `Ok(None)` when absent; `Err` when invalid or chunked.
    pub(crate) fn content_length(&self) -> Result<Option<u64>, ()> {
        if self.header("transfer-encoding").is_some() {
            return Err(());
        }
        self.header("content-length")
            .map(|v| v.trim().parse().map_err(drop))
            .transpose()
    }
}

/// A buffered connection: the stream and bytes read past the last head.
pub(crate) struct HttpConn {
    pub io: Box<dyn Io>,
    pub buf: Vec<u8>,
}

impl std::fmt::Debug for HttpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConn")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

/// Why reading a request failed.
#[derive(Debug)]
enum ReadError {
    /// Clean end between requests.
    Closed,
    /// Answer with this status, then close.
    Status(u16),
}

impl HttpConn {
    /// Read one request head within the limits.
    async fn read_head(&mut self, max: usize, within: Duration) -> Result<Request, ReadError> {
        let read = async {
            loop {
                if let Some(end) = find_head_end(&self.buf) {
                    let head = self.buf.drain(..end).collect::<Vec<u8>>();
                    return parse_head(&head);
                }
                if self.buf.len() > max {
                    return Err(ReadError::Status(431));
                }
                let mut chunk = [0u8; 4096];
                match self.io.read(&mut chunk).await {
                    Ok(0) | Err(_) => return Err(ReadError::Closed),
                    Ok(n) => self
                        .buf
                        .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
            }
        };
        match tokio::time::timeout(within, read).await {
            Ok(r) => r,
            Err(_) if self.buf.is_empty() => Err(ReadError::Closed),
            Err(_) => Err(ReadError::Status(408)),
        }
    }

    /// Read a whole body of `len` bytes (already checked against a limit).
    pub(crate) async fn read_body(&mut self, len: usize, within: Duration) -> Option<Vec<u8>> {
        let read = async {
            while self.buf.len() < len {
                let mut chunk = [0u8; 8192];
                match self.io.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self
                        .buf
                        .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
            }
            Some(self.buf.drain(..len).collect())
        };
        tokio::time::timeout(within, read).await.ok().flatten()
    }

    /// Read and drop a body of `len` bytes (already checked against a
    /// limit); false if it did not arrive in time.
    pub(crate) async fn discard(&mut self, len: u64, within: Duration) -> bool {
        let read = async {
            let mut left = len;
            let first = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.drain(..first);
            left -= first as u64;
            let mut chunk = [0u8; 8192];
            while left > 0 {
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
                match self
                    .io
                    .read(chunk.get_mut(..want).unwrap_or_default())
                    .await
                {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => left -= n as u64,
                }
            }
            true
        };
        tokio::time::timeout(within, read).await.unwrap_or(false)
    }

    /// Write a complete response with a body.
    pub(crate) async fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n",
            reason(status),
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.io.write_all(head.as_bytes()).await?;
        self.io.write_all(body).await?;
        self.io.flush().await
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn parse_head(head: &[u8]) -> Result<Request, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(ReadError::Status(431)),
        _ => return Err(ReadError::Status(400)),
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    Ok(Request {
        method: req.method.unwrap_or("GET").to_owned(),
        path,
        query,
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    })
}

/// The reason phrase of the statuses we send.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// CORS headers for browser clients on other origins (XEP-0156 §3, XEP-0363 §5).
pub(crate) const CORS: [(&str, &str); 3] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "Content-Type, Authorization",
    ),
];

/// The shared state of the web listeners; starts the upload cleanup.
pub(crate) fn start(
    config: &crate::config::XmppdConfig,
    core: mpsc::UnboundedSender<ToCore>,
    tls: Option<TlsServer>,
    shutdown: Shutdown,
    backlog: Arc<super::storage::Backlog>,
) -> Arc<WebContext> {
    let upload = (*config.core.upload).clone();
    if upload.enabled {
        if let Err(e) = std::fs::create_dir_all(&upload.directory) {
            tracing::warn!("upload directory {}: {e}", upload.directory.display());
        }
        tokio::spawn(upload::cleanup_loop(
            upload.directory.clone(),
            upload.expiry_seconds,
        ));
    }
    Arc::new(WebContext {
        core,
        tls,
        web: config.web.clone(),
        upload,
        hosts: config.enabled_hosts().map(|h| h.domain.clone()).collect(),
        connections: Arc::new(Semaphore::new(config.web.max_connections)),
        shutdown,
        tls_handshake_seconds: config.transport.tls_handshake_seconds,
        bosh: Arc::new(bosh::Sessions::new(&config.web)),
        backlog,
    })
}

/// Serve one accepted web connection until it closes.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, https: bool, ctx: Arc<WebContext>) {
    let Ok(_permit) = Arc::clone(&ctx.connections).try_acquire_owned() else {
        tracing::info!(%peer, "web connection refused: web.max_connections reached");
        return;
    };
    let _ = stream.set_nodelay(true);
    let io: Box<dyn Io> = if https {
        let Some(server) = &ctx.tls else { return };
        let mut config = (*server.server_config()).clone();
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let limit = Duration::from_secs(ctx.tls_handshake_seconds);
        let accepted = tokio::select! {
            r = tokio::time::timeout(limit, acceptor.accept(stream)) => r,
            () = ctx.shutdown.wait() => return,
        };
        match accepted {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                tracing::debug!(%peer, "web TLS handshake failed: {e}");
                return;
            }
            Err(_) => return,
        }
    } else {
        Box::new(stream)
    };
    let mut conn = HttpConn {
        io,
        buf: Vec::new(),
    };
    let within = Duration::from_secs(ctx.web.request_seconds);
    loop {
        let req = tokio::select! {
            r = conn.read_head(ctx.web.max_header_bytes, within) => r,
            () = ctx.shutdown.wait() => return,
        };
        let req = match req {
            Ok(r) => r,
            Err(ReadError::Closed) => return,
            Err(ReadError::Status(s)) => {
                let _ = conn.respond(s, &[("Connection", "close")], b"").await;
                return;
            }
        };
        tracing::debug!(%peer, method = %req.method, path = %req.path, "web request");
        let ws = &ctx.web;
        if ws.websocket && req.path == ws.websocket_path && req.header_has("upgrade", "websocket") {
            ws::serve(conn, req, peer, Arc::clone(&ctx)).await;
            return;
        }
        let keep = match dispatch(&mut conn, &req, peer, &ctx).await {
            Ok(keep) => keep && !req.header_has("connection", "close"),
            Err(_) => false,
        };
        if !keep {
            let _ = conn.io.shutdown().await;
            return;
        }
    }
}

/// Answer one plain HTTP request. `Ok(false)`: close the connection.
async fn dispatch(
    conn: &mut HttpConn,
    req: &Request,
    peer: SocketAddr,
    ctx: &WebContext,
) -> std::io::Result<bool> {
    let method = req.method.as_str();
    if method == "OPTIONS" {
        conn.respond(204, &CORS, b"").await?;
        return Ok(true);
    }
    if req.path == "/.well-known/host-meta" || req.path == "/.well-known/host-meta.json" {
        return hostmeta::serve(conn, req, ctx).await;
    }
    if ctx.web.bosh && req.path == ctx.web.bosh_path {
        return bosh::serve(conn, req, peer, ctx).await;
    }
    if req.path.starts_with("/upload/") && ctx.upload.enabled {
        return upload::serve(conn, req, ctx).await;
    }
    if req.path == ctx.web.websocket_path {
        conn.respond(
            426,
            &[("Upgrade", "websocket")],
            b"XMPP over WebSocket (RFC 7395) needs an Upgrade\n",
        )
        .await?;
        return Ok(true);
    }
    // Unread bodies would be taken for the next request.
    let has_body = req.content_length().map_or(true, |l| l.unwrap_or(0) > 0);
    conn.respond(404, &[], b"not found\n").await?;
    Ok(!has_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_parsed_with_query_and_host() {
        let r = parse_head(b"PUT /upload/a/b/c?v=1.2.3 HTTP/1.1\r\nHost: Example.org:5281\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path, "/upload/a/b/c");
        assert_eq!(r.query.as_deref(), Some("v=1.2.3"));
        assert_eq!(r.host().as_deref(), Some("example.org"));
        assert_eq!(r.content_length(), Ok(Some(5)));
    }

    #[test]
    fn chunked_bodies_are_refused() {
        let r = parse_head(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(r.content_length().is_err());
    }

    #[test]
    fn garbage_is_a_bad_request() {
        assert!(matches!(
            parse_head(b"\x16\x03\x01 nonsense\r\n\r\n"),
            Err(ReadError::Status(400))
        ));
    }
}
