//! The messages I/O tasks send to the core driver, and the handle through
//! which the driver writes to one stream connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::db::Answer;
use crate::core::{ConnectionId, CoreConfig, Flow, ListenerId, Transport};

/// Input for the core driver, in arrival order per source.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One UDP datagram.
    Datagram {
        /// The listener it arrived on.
        listener: ListenerId,
        /// Its source.
        remote: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// One complete message from a stream (framed) or a WebSocket message.
    Message {
        /// The connection's flow.
        flow: Flow,
        /// The message.
        bytes: Vec<u8>,
    },
    /// A stream connection is gone.
    Closed(ConnectionId),
    /// A transmit carrying this failure token could not be delivered.
    SendFailed(u64),
    /// A database answer for the core.
    Db(Answer),
    /// A reloaded configuration (SIGHUP, or static routes changed in the database).
    Config(Arc<CoreConfig>),
    /// The local domains stored in the database.
    Domains(Arc<Vec<String>>),
}

/// Which core to tell, and what, when a message could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FailToken {
    /// The core's index.
    pub(crate) core: usize,
    /// The core's token ([`crate::core::Transmit::failure_token`]).
    pub(crate) token: u64,
}

/// One message queued for a connection.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// One complete SIP message (or a keepalive pong).
    pub(crate) bytes: Vec<u8>,
    /// Report a failure to write it with this token.
    pub(crate) token: Option<FailToken>,
}

/// The driver's handle on one stream connection. Cloning is cheap.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    /// The connection's id.
    pub(crate) id: ConnectionId,
    /// The listener it belongs to (accepted there, or opened for its transport).
    pub(crate) listener: ListenerId,
    /// Its transport.
    pub(crate) transport: Transport,
    /// The peer.
    pub(crate) remote: SocketAddr,
    tx: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    close: Arc<Notify>,
}

/// The connection task's side of a [`ConnHandle`].
#[derive(Debug)]
pub(crate) struct ConnQueue {
    pub(crate) rx: mpsc::UnboundedReceiver<Outgoing>,
    queued: Arc<AtomicUsize>,
    /// Fires when the driver wants the connection closed.
    pub(crate) close: Arc<Notify>,
}

impl ConnQueue {
    /// Mark `bytes` as written (or dropped).
    pub(crate) fn done(&self, bytes: usize) {
        self.queued.fetch_sub(bytes.min(self.queued.load(Ordering::Relaxed)), Ordering::Relaxed);
    }
}

/// A handle and its queue for a new connection.
pub(crate) fn conn_pair(
    id: ConnectionId,
    listener: ListenerId,
    transport: Transport,
    remote: SocketAddr,
    max_queued: usize,
) -> (ConnHandle, ConnQueue) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(Notify::new());
    let handle = ConnHandle {
        id,
        listener,
        transport,
        remote,
        tx,
        queued: Arc::clone(&queued),
        max_queued,
        close: Arc::clone(&close),
    };
    (handle, ConnQueue { rx, queued, close })
}

impl ConnHandle {
    /// The flow of messages received on this connection.
    pub(crate) fn flow(&self) -> Flow {
        Flow { listener: self.listener, transport: self.transport, remote: self.remote, connection: Some(self.id) }
    }

    /// Queue a message; `false` when the connection is gone or its queue is full.
    pub(crate) fn send(&self, bytes: Vec<u8>, token: Option<FailToken>) -> bool {
        let len = bytes.len();
        if self.queued.load(Ordering::Relaxed) + len > self.max_queued {
            return false;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        if self.tx.send(Outgoing { bytes, token }).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Ask the connection to close once what is queued has been written.
    pub(crate) fn close(&self) {
        self.close.notify_one();
    }
}

/// Connection ids: a random 32-bit boot tag above a 32-bit counter, so ids
/// are not reused across restarts (bindings in the database name them).
#[derive(Debug)]
pub(crate) struct ConnIds {
    boot: u64,
    next: AtomicU32,
}

impl ConnIds {
    /// Ids under the boot tag `boot`.
    pub(crate) fn new(boot: u32) -> Self {
        Self { boot: u64::from(boot) << 32, next: AtomicU32::new(1) }
    }

    /// A fresh id.
    pub(crate) fn next(&self) -> ConnectionId {
        ConnectionId(self.boot | u64::from(self.next.fetch_add(1, Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_boot_tag_and_never_repeat() {
        let ids = ConnIds::new(0xdead_beef);
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.0 >> 32, 0xdead_beef);
        assert_ne!(ConnIds::new(1).next(), ConnIds::new(2).next());
    }

    #[test]
    fn queue_is_bounded_in_bytes_and_drains() {
        let (h, mut q) = conn_pair(ConnectionId(1), ListenerId(0), Transport::Tcp, "127.0.0.1:1".parse().unwrap(), 10);
        assert!(h.send(vec![0; 6], None));
        assert!(!h.send(vec![0; 6], Some(FailToken { core: 0, token: 7 })));
        let out = q.rx.try_recv().unwrap();
        q.done(out.bytes.len());
        assert!(h.send(vec![0; 10], None));
        drop(q);
        assert!(!h.send(vec![0; 1], None));
    }
}
