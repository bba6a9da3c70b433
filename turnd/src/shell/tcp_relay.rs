//! TURN over TCP to peers (RFC 6062): relay listeners, outgoing connections
//! from the relayed address, holding peer bytes until ConnectionBind, handing
//! a peer connection to the worker that received the ConnectionBind, and the
//! raw byte splice.
//!
//! Peer bytes that arrive before the client's ConnectionBind are kept (up to
//! [`EARLY_DATA_MAX`], after which the peer is simply not read, so TCP flow
//! control holds the rest) and delivered first once the splice starts: losing
//! them is a known complaint about coturn.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};

use super::common::lock;
use super::worker::{Mail, Worker};
use crate::core::{ConnectionId, CONNECTION_TIMEOUT};

/// Peer bytes buffered before ConnectionBind, per connection.
pub(crate) const EARLY_DATA_MAX: usize = 64 * 1024;
/// Copy buffer per direction of a spliced connection.
const SPLICE_BUFFER: usize = 16 * 1024;
/// Pending incoming connections per relay listener.
const BACKLOG: i32 = 64;

/// A peer stream and the bytes read from it so far.
type Parked = (TcpStream, Vec<u8>);

/// One RFC 6062 relay listener of this worker.
#[derive(Debug)]
pub(crate) struct TcpRelay {
    task: JoinHandle<()>,
    connections: Vec<ConnectionId>,
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A peer connection owned by this worker.
#[derive(Debug)]
pub(crate) enum PeerSlot {
    /// Connect (§5.2) in progress.
    Connecting { relay: SocketAddr, task: AbortHandle },
    /// Connected, waiting for ConnectionBind; send a reply channel to get the stream.
    Held { relay: SocketAddr, ask: oneshot::Sender<oneshot::Sender<Parked>> },
    /// Handed over and spliced (possibly on another worker).
    Spliced { relay: SocketAddr },
}

impl PeerSlot {
    fn relay(&self) -> SocketAddr {
        match self {
            Self::Connecting { relay, .. } | Self::Held { relay, .. } | Self::Spliced { relay } => *relay,
        }
    }
}

/// A TCP socket on `addr` sharing its port (`SO_REUSEADDR` + `SO_REUSEPORT`)
/// between the relay listener and the outgoing connections made from it.
fn relay_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Bind and start a relay listener on `addr` (the answer to a TCP BindRelay).
pub(crate) fn listen(worker: &Rc<Worker>, addr: SocketAddr) -> io::Result<SocketAddr> {
    if !lock(&worker.common.tcp_ports).insert(addr) {
        return Err(io::ErrorKind::AddrInUse.into());
    }
    let bound = relay_socket(addr).and_then(|s| {
        s.listen(BACKLOG)?;
        TcpListener::from_std(s.into())
    });
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            lock(&worker.common.tcp_ports).remove(&addr);
            return Err(e);
        }
    };
    let task = tokio::task::spawn_local(accept_peers(Rc::clone(worker), addr, listener));
    worker.tcp_relays.borrow_mut().insert(addr, TcpRelay { task, connections: Vec::new() });
    Ok(addr)
}

/// Close a relay listener and every connection made through it.
pub(crate) fn release(worker: &Rc<Worker>, relay: SocketAddr) {
    let Some(r) = worker.tcp_relays.borrow_mut().remove(&relay) else { return };
    lock(&worker.common.tcp_ports).remove(&relay);
    for id in &r.connections {
        close(worker, *id);
    }
}

fn track(worker: &Worker, relay: SocketAddr, id: ConnectionId) {
    if let Some(r) = worker.tcp_relays.borrow_mut().get_mut(&relay) {
        r.connections.push(id);
    }
}

/// Incoming peer connections (§5.3): the core says yes (and sends a
/// ConnectionAttempt) or no.
async fn accept_peers(worker: Rc<Worker>, relay: SocketAddr, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%relay, "relay accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let id = worker.core.borrow_mut().handle_peer_connection_incoming(relay, peer, Instant::now());
        if let Some(id) = id {
            hold(&worker, id, relay, stream);
        }
        worker.pump();
    }
}

/// Keep a connected peer until its ConnectionBind, reading what it sends.
fn hold(worker: &Rc<Worker>, id: ConnectionId, relay: SocketAddr, stream: TcpStream) {
    let (ask, asked) = oneshot::channel();
    let fresh = worker.peers.borrow_mut().insert(id, PeerSlot::Held { relay, ask }).is_none();
    if fresh {
        track(worker, relay, id);
    }
    tokio::task::spawn_local(holder(Rc::clone(worker), id, stream, asked));
}

async fn holder(worker: Rc<Worker>, id: ConnectionId, stream: TcpStream, mut asked: oneshot::Receiver<oneshot::Sender<Parked>>) {
    let mut early = Vec::new();
    loop {
        let room = EARLY_DATA_MAX.saturating_sub(early.len());
        tokio::select! {
            r = &mut asked => {
                // Err: the slot was dropped (closed); the stream goes with it.
                if let Ok(reply) = r {
                    let _ = reply.send((stream, early));
                }
                return;
            }
            r = stream.readable(), if room > 0 => {
                if r.is_err() {
                    break;
                }
                let mut chunk = [0u8; 4096];
                let want = room.min(chunk.len());
                match stream.try_read(chunk.get_mut(..want).unwrap_or_default()) {
                    Ok(0) => break,
                    Ok(n) => early.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
        }
    }
    // The peer left before ConnectionBind.
    peer_closed(&worker, id);
}

/// Connect (§5.2): dial `peer` from the relayed address.
pub(crate) fn connect(worker: &Rc<Worker>, id: ConnectionId, relay: SocketAddr, peer: SocketAddr) {
    let w = Rc::clone(worker);
    let task = tokio::task::spawn_local(async move {
        let dial = async {
            let socket = tokio::net::TcpSocket::from_std_stream(relay_socket(relay)?.into());
            socket.connect(peer).await
        };
        let result = tokio::time::timeout(CONNECTION_TIMEOUT, dial).await;
        // Still wanted? The core may have given up (ClosePeerConnection).
        if !matches!(w.peers.borrow().get(&id), Some(PeerSlot::Connecting { .. })) {
            return;
        }
        let connected = match result {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                hold(&w, id, relay, stream);
                true
            }
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::debug!(%peer, "RFC 6062 connect failed: {e}");
                }
                forget(&w, id);
                false
            }
        };
        w.core.borrow_mut().handle_peer_connected(id, connected, Instant::now());
        w.pump();
    });
    worker.peers.borrow_mut().insert(id, PeerSlot::Connecting { relay, task: task.abort_handle() });
    track(worker, relay, id);
}

/// Close a peer connection, wherever it is.
pub(crate) fn close(worker: &Rc<Worker>, id: ConnectionId) {
    if let Some(PeerSlot::Connecting { task, .. }) = forget(worker, id) {
        task.abort();
    }
    if let Some(splice) = lock(&worker.common.splices).remove(&id) {
        splice.abort();
    }
}

/// Remove `id` from this worker's tables; dropping a held slot closes the peer.
fn forget(worker: &Worker, id: ConnectionId) -> Option<PeerSlot> {
    let slot = worker.peers.borrow_mut().remove(&id)?;
    if let Some(r) = worker.tcp_relays.borrow_mut().get_mut(&slot.relay()) {
        r.connections.retain(|c| *c != id);
    }
    Some(slot)
}

/// A connection owned by this worker ended (the peer left, or the splice
/// finished here or on another worker): tell the core.
pub(crate) fn peer_closed(worker: &Rc<Worker>, id: ConnectionId) {
    if forget(worker, id).is_some() {
        worker.core.borrow_mut().handle_peer_connection_closed(id, Instant::now());
        worker.pump();
    }
}

/// Take a held peer connection out of this worker's table.
fn take_held(worker: &Rc<Worker>, id: ConnectionId) -> Option<oneshot::Receiver<Parked>> {
    let mut peers = worker.peers.borrow_mut();
    let Some(PeerSlot::Held { relay, .. }) = peers.get(&id) else { return None };
    let relay = *relay;
    let Some(PeerSlot::Held { ask, .. }) = peers.insert(id, PeerSlot::Spliced { relay }) else { return None };
    let (tx, rx) = oneshot::channel();
    ask.send(tx).ok()?;
    Some(rx)
}

/// Another worker received the ConnectionBind for `id`: send it the stream.
pub(crate) fn hand_over(worker: &Rc<Worker>, id: ConnectionId, reply: oneshot::Sender<Option<(std::net::TcpStream, Vec<u8>)>>) {
    let Some(rx) = take_held(worker, id) else {
        let _ = reply.send(None);
        return;
    };
    tokio::task::spawn_local(async move {
        let parked = rx.await.ok().and_then(|(stream, early)| stream.into_std().ok().map(|s| (s, early)));
        let _ = reply.send(parked);
    });
}

/// The peer stream of `id`, from this worker or the one that owns it.
async fn obtain(worker: &Rc<Worker>, id: ConnectionId) -> Option<Parked> {
    if id.worker() == worker.index {
        return take_held(worker, id)?.await.ok();
    }
    let (tx, rx) = oneshot::channel();
    if !worker.common.send_to(id.worker(), Mail::TakePeer { connection: id, reply: tx }) {
        return None;
    }
    let (stream, early) = rx.await.ok()??;
    TcpStream::from_std(stream).ok().map(|s| (s, early))
}

/// Tell the owning worker that connection `id` is over.
fn finished(worker: &Rc<Worker>, id: ConnectionId) {
    lock(&worker.common.splices).remove(&id);
    if id.worker() == worker.index {
        peer_closed(worker, id);
    } else {
        worker.common.send_to(id.worker(), Mail::PeerClosed(id));
    }
}

/// The client's data connection broke before the splice could start.
pub(crate) fn splice_failed(worker: &Rc<Worker>, id: ConnectionId) {
    finished(worker, id);
}

/// RFC 6062 §5.4: pipe `client` and the peer connection `id` together,
/// starting with the bytes each side sent early.
pub(crate) async fn splice<S>(worker: &Rc<Worker>, client: S, id: ConnectionId, leftover: Vec<u8>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let Some((peer, early)) = obtain(worker, id).await else {
        finished(worker, id);
        return;
    };
    let task = tokio::task::spawn_local(pipe(client, peer, early, leftover));
    lock(&worker.common.splices).insert(id, task.abort_handle());
    let _ = task.await;
    finished(worker, id);
}

async fn pipe<S>(mut client: S, mut peer: TcpStream, early: Vec<u8>, leftover: Vec<u8>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = peer.set_nodelay(true);
    if !leftover.is_empty() && peer.write_all(&leftover).await.is_err() {
        return;
    }
    if !early.is_empty() && (client.write_all(&early).await.is_err() || client.flush().await.is_err()) {
        return;
    }
    drop((early, leftover));
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut peer, SPLICE_BUFFER, SPLICE_BUFFER).await;
}
