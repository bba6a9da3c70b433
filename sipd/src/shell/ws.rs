//! SIP over WebSocket (RFC 7118) on WS and WSS listeners.
//!
//! The HTTP upgrade must ask for the `sip` subprotocol (RFC 7118 §4.1) on the
//! configured path; anything else is refused with an HTTP error and no
//! WebSocket is opened. Each WebSocket message (text or binary) carries
//! exactly one SIP message (RFC 7118 §5.2); messages and frames larger than
//! `connections.max_message_bytes` close the connection (tungstenite's own
//! default would allow 64 MiB). WebSocket pings are answered by tungstenite;
//! SIP-level CRLF keepalives are not used on WebSocket.
//!
//! Slow-trickle protection: the bytes under the WebSocket are counted, and a
//! message whose first byte arrived more than `connections.message_secs` ago
//! without completing closes the connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::inbound::{ConnHandle, ConnQueue, Inbound};
use super::net::Net;
use super::stream::finish;

/// The WebSocket subprotocol of RFC 7118 §4.1.
pub(crate) const SUBPROTOCOL: &str = "sip";
/// How often the slow-trickle and idle limits are checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Why an upgrade request was refused.
fn refuse(status: StatusCode, text: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(text.to_owned()));
    *r.status_mut() = status;
    r
}

/// Check an upgrade request: the path and the `sip` subprotocol.
/// On success the response names the subprotocol.
// The signature is tungstenite's handshake callback's.
#[allow(clippy::result_large_err)]
pub(crate) fn check_upgrade(path: &str, req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() != path {
        return Err(refuse(StatusCode::NOT_FOUND, "no SIP WebSocket here\n"));
    }
    let offers_sip = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !offers_sip {
        return Err(refuse(StatusCode::BAD_REQUEST, "the sip WebSocket subprotocol is required (RFC 7118)\n"));
    }
    resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    Ok(resp)
}

/// The WebSocket limits for `max_message_bytes`.
fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
        .max_write_buffer_size(4 * max_message_bytes.max(64 * 1024))
}

/// Counts when bytes arrived that have not yet made a whole message.
#[derive(Debug)]
struct Trickle<S> {
    inner: S,
    /// Milliseconds since `epoch` (plus one) when the pending message began; 0: none.
    pending_since: Arc<AtomicU64>,
    /// Milliseconds since `epoch` of the last byte read.
    last_read: Arc<AtomicU64>,
    epoch: Instant,
}

impl<S: AsyncRead + Unpin> AsyncRead for Trickle<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
            self.last_read.store(now, Ordering::Relaxed);
            let _ = self.pending_since.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Trickle<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Upgrade `stream` (plain or TLS) and serve SIP over it.
#[allow(clippy::result_large_err)] // the handshake callback's signature
pub(crate) async fn serve<S>(
    net: &Arc<Net>,
    stream: S,
    path: &str,
    handle: ConnHandle,
    mut queue: ConnQueue,
    deadline: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let epoch = Instant::now();
    let pending_since = Arc::new(AtomicU64::new(0));
    let last_read = Arc::new(AtomicU64::new(1));
    let wrapped = Trickle { inner: stream, pending_since: Arc::clone(&pending_since), last_read: Arc::clone(&last_read), epoch };
    let config = ws_config(net.limits.max_message_bytes);
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(
        wrapped,
        |req: &Request, resp: Response| check_upgrade(path, req, resp),
        Some(config),
    );
    let ws = match tokio::time::timeout_at(deadline, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            net.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(remote = %handle.remote, "WebSocket upgrade refused or failed: {e}");
            return;
        }
        Err(_) => {
            net.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(remote = %handle.remote, "WebSocket upgrade timed out");
            return;
        }
    };
    pending_since.store(0, Ordering::Relaxed);
    net.register(handle.clone());
    let (mut sink, mut source) = ws.split();
    let flow = handle.flow();
    let message_limit = net.limits.message_secs.saturating_mul(1000);
    let idle_limit = net.limits.idle_secs.saturating_mul(1000);
    let mut check = tokio::time::interval(CHECK_EVERY);
    let close = Arc::clone(&queue.close);
    let outcome: Result<(), &'static str> = loop {
        tokio::select! {
            m = source.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    pending_since.store(0, Ordering::Relaxed);
                    let bytes = t.as_bytes().to_vec();
                    if !net.deliver(Inbound::Message { flow, bytes }).await {
                        break Ok(());
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    pending_since.store(0, Ordering::Relaxed);
                    if !net.deliver(Inbound::Message { flow, bytes: b.to_vec() }).await {
                        break Ok(());
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                    pending_since.store(0, Ordering::Relaxed);
                }
                Some(Ok(Message::Close(_))) | None => break Ok(()),
                Some(Err(e)) => {
                    tracing::debug!(remote = %handle.remote, "WebSocket error: {e}");
                    break Err("WebSocket protocol error or message too large");
                }
            },
            out = queue.rx.recv() => {
                let Some(out) = out else { break Ok(()) };
                queue.done(out.bytes.len());
                let msg = match String::from_utf8(out.bytes) {
                    Ok(text) => Message::text(text),
                    Err(e) => Message::binary(e.into_bytes()),
                };
                if sink.send(msg).await.is_err() {
                    if let Some(t) = out.token {
                        net.fail(t).await;
                    }
                    break Err("write failed");
                }
            }
            () = close.notified() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
                break Ok(());
            }
            _ = check.tick() => {
                let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
                let since = pending_since.load(Ordering::Relaxed);
                if since != 0 && now.saturating_sub(since) > message_limit {
                    break Err("message not completed in time");
                }
                if now.saturating_sub(last_read.load(Ordering::Relaxed)) > idle_limit {
                    break Err("idle timeout");
                }
            }
        }
    };
    if let Err(reason) = outcome {
        net.counters.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(remote = %handle.remote, "closing WebSocket: {reason}");
    }
    finish(net, handle.id, queue).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http;

    fn request(path: &str, protocols: Option<&str>) -> Request {
        let mut b = http::Request::builder().uri(path);
        if let Some(p) = protocols {
            b = b.header("Sec-WebSocket-Protocol", p);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn upgrade_needs_the_path_and_the_sip_subprotocol() {
        let ok = check_upgrade("/", &request("/", Some("xmpp, SIP")), Response::default()).unwrap();
        assert_eq!(ok.headers().get("sec-websocket-protocol").unwrap(), "sip");
        let e = check_upgrade("/", &request("/", None), Response::default()).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = check_upgrade("/", &request("/", Some("xmpp")), Response::default()).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = check_upgrade("/sip", &request("/", Some("sip")), Response::default()).unwrap_err();
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }
}
