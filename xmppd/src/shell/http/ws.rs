//! XMPP over WebSocket (RFC 7395): the upgrade (subprotocol `xmpp`, §3.1)
//! and a bridge between the WebSocket and the core, which sees an ordinary
//! stream on a connection that is already encrypted (so no STARTTLS, and
//! no channel binding: the TLS session belongs to the HTTP layer).
//!
//! Each message is one stanza (§3.3.3); messages and frames larger than
//! `web.websocket_max_message_bytes` close the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use sha1::{Digest, Sha1};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::framing::{client_message, Splitter};
use super::{HttpConn, Request, WebContext};
use crate::core::{Listener, TlsInfo};
use crate::shell::driver::{ToConn, ToCore};

/// RFC 7395 §3.1 subprotocol.
const SUBPROTOCOL: &str = "xmpp";
/// RFC 6455 §1.3 accept-key GUID.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Complete the upgrade and bridge the WebSocket to the core.
pub(super) async fn serve(
    mut conn: HttpConn,
    req: Request,
    peer: SocketAddr,
    ctx: Arc<WebContext>,
) {
    let key = req.header("sec-websocket-key").map(str::to_owned);
    let version_ok = req
        .header("sec-websocket-version")
        .is_some_and(|v| v.trim() == "13");
    let (Some(key), true) = (key, version_ok && req.method == "GET") else {
        let _ = conn
            .respond(400, &[("Connection", "close")], b"bad WebSocket upgrade\n")
            .await;
        return;
    };
    if !req.header_has("sec-websocket-protocol", SUBPROTOCOL) {
        let _ = conn
            .respond(
                400,
                &[("Connection", "close")],
                b"the xmpp WebSocket subprotocol is required (RFC 7395)\n",
            )
            .await;
        return;
    }
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
        accept_key(&key)
    );
    if tokio::io::AsyncWriteExt::write_all(&mut conn.io, head.as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let max = ctx.web.websocket_max_message_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .max_write_buffer_size(4 * max.max(64 * 1024));
    let HttpConn { io, buf } = conn;
    let ws = WebSocketStream::from_partially_read(io, buf, Role::Server, Some(config)).await;
    bridge(ws, peer, &ctx).await;
}

async fn bridge(mut ws: WebSocketStream<Box<dyn super::Io>>, peer: SocketAddr, ctx: &WebContext) {
    let (tx, rx) = crate::shell::mailbox::mailbox();
    let (reply, id) = oneshot::channel();
    let opened = ToCore::Opened {
        peer,
        listener: Listener::DirectTls,
        tx,
        reply,
    };
    if ctx.core.send(opened).is_err() {
        return;
    }
    let Ok(Some(conn)) = id.await else {
        let _ = ws.close(None).await;
        return;
    };
    // The HTTP layer is encrypted (or behind a TLS-terminating proxy on
    // loopback, see the `http` listener kind).
    if ctx
        .core
        .send(ToCore::Tls {
            conn,
            info: TlsInfo::default(),
        })
        .is_err()
    {
        return;
    }
    let mut splitter = Splitter::default();
    let mut paused = false;
    let closed_by_core = loop {
        if !paused && ctx.backlog.is_over() {
            // Storage is behind: read no more frames until it catches up.
            ctx.backlog.wait().await;
        }
        tokio::select! {
            biased;
            cmds = rx.recv() => {
                let Some(cmds) = cmds else { break true };
                let mut close = false;
                for cmd in cmds {
                    match cmd {
                        ToConn::Write(data) => {
                            for m in splitter.push(&data) {
                                if ws.feed(Message::text(m)).await.is_err() {
                                    close = true;
                                }
                            }
                        }
                        ToConn::Pause => paused = true,
                        ToConn::Resume => paused = false,
                        ToConn::Close | ToConn::StartTls => close = true,
                    }
                }
                if ws.flush().await.is_err() || close {
                    let _ = ws.close(Some(CloseFrame { code: 1000.into(), reason: "".into() })).await;
                    break true;
                }
            }
            m = ws.next(), if !paused => {
                let data = match m {
                    Some(Ok(Message::Text(t))) => client_message(t.as_str()),
                    Some(Ok(Message::Binary(b))) => match std::str::from_utf8(&b) {
                        Ok(t) => client_message(t),
                        Err(_) => break false,
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break false,
                    Some(Err(e)) => {
                        tracing::debug!(conn = conn.as_u64(), %peer, "WebSocket ended: {e}");
                        if matches!(e, WsError::Capacity(_)) {
                            // RFC 6455 §7.4.1: 1009, message too big.
                            let frame = CloseFrame { code: CloseCode::Size, reason: "message too big".into() };
                            let _ = ws.close(Some(frame)).await;
                        }
                        break false;
                    }
                };
                let Ok(data) = data else {
                    // RFC 7395 §3.3.1: a bad <open/> is a stream error; the
                    // core reports it on the malformed header we pass on.
                    let _ = ctx.core.send(ToCore::Bytes { conn, data: b"<stream:stream>".to_vec() });
                    continue;
                };
                if ctx.core.send(ToCore::Bytes { conn, data }).is_err() {
                    break true;
                }
            }
        }
    };
    if !closed_by_core {
        let _ = ctx.core.send(ToCore::Closed { conn });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc6455_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
