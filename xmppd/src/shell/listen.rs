//! Listening sockets and their accept loops.
//!
//! c2s listeners hand each accepted socket to a connection task. The s2s
//! listener answers every stream with a `<policy-violation/>` stream error
//! and closes it: federation (issue #5) is not implemented yet.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc_daemon::{Shutdown, TaskTracker};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::conn::{self, ConnContext};
use super::error::ShellError;
use crate::config::{ListenerConfig, ListenerKind};
use crate::core::Listener;

/// Pending connections per listening socket.
const BACKLOG: i32 = 1024;

/// What an s2s peer is told (RFC 6120 §4.9.3.15).
const S2S_REFUSAL: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:error>\
<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>server-to-server connections are not \
supported by this server yet</text></stream:error></stream:stream>";

/// A bound listening socket.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) kind: ListenerKind,
    pub(crate) socket: TcpListener,
    pub(crate) addr: SocketAddr,
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Bind every configured listener (inside the runtime).
pub(crate) fn bind_all(configs: &[ListenerConfig]) -> Result<Vec<Bound>, ShellError> {
    configs
        .iter()
        .map(|l| {
            let err = |source| ShellError::Listen { service: l.kind.service(), addr: l.addr, source };
            let std = bind_tcp(l.addr).map_err(err)?;
            let socket = TcpListener::from_std(std).map_err(err)?;
            let addr = socket.local_addr().map_err(err)?;
            Ok(Bound { kind: l.kind, socket, addr })
        })
        .collect()
}

/// Accept until `stop`; connection tasks are tracked by `tracker`.
pub(crate) async fn accept_loop(bound: Bound, ctx: Arc<ConnContext>, tracker: TaskTracker, stop: Shutdown) {
    loop {
        let accepted = tokio::select! {
            r = bound.socket.accept() => r,
            () = stop.wait() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(addr = %bound.addr, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match bound.kind {
            ListenerKind::C2s => {
                tracker.spawn(conn::serve(stream, peer, Listener::Starttls, Arc::clone(&ctx)));
            }
            ListenerKind::C2sTls => {
                tracker.spawn(conn::serve(stream, peer, Listener::DirectTls, Arc::clone(&ctx)));
            }
            ListenerKind::S2s => {
                tracing::info!(%peer, "s2s connection refused: federation is not supported yet");
                tokio::spawn(refuse_s2s(stream));
            }
        }
    }
}

async fn refuse_s2s(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(S2S_REFUSAL).await?;
        stream.shutdown().await
    })
    .await;
}
