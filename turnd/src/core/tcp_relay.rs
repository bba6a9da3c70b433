//! TCP relaying (RFC 6062): Connect, ConnectionAttempt and ConnectionBind.
//!
//! A TCP allocation's relayed address is a TCP listener. Each peer connection
//! has a CONNECTION-ID and goes through: connecting (shell dials the peer,
//! §5.2) or accepted (§5.3), then waiting up to 30 s for the client to open a
//! new connection and send ConnectionBind (§5.4), then spliced: the shell copies
//! bytes both ways and the core only remembers that the connection exists.
//! ConnectionBind may land on any worker; pending connections are therefore
//! registered in [`Shared`](super::Shared), and the id's top byte names the owner.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;
use rtc_stun::attr::{ConnectionId as ConnectionIdAttr, XorPeerAddress};
use rtc_stun::{Class, Message, MessageEncoder, MessageType, Method, TransactionId};

use super::auth::Authenticated;
use super::permission::peer_addresses;
use super::reply::Reply;
use super::server::Server;
use super::shared::PendingConnection;
use super::types::{ConnectionId, Event, FiveTuple, RelayProtocol, Transmit};

/// How long a Connect may take and how long a peer connection waits for
/// ConnectionBind (RFC 6062 §5.2, §5.3).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum State {
    /// The shell is dialling; answer the Connect when it reports.
    Connecting { reply: Reply, deadline: Instant },
    /// Waiting for ConnectionBind.
    AwaitingBind { deadline: Instant },
    /// Spliced to a client data connection.
    Bound,
}

#[derive(Debug)]
struct PeerConnection {
    peer: SocketAddr,
    state: State,
}

/// The peer connections of one TCP allocation.
#[derive(Debug, Default)]
pub(crate) struct TcpConnections {
    map: HashMap<ConnectionId, PeerConnection>,
}

impl TcpConnections {
    pub(crate) fn ids(&self) -> Vec<ConnectionId> {
        self.map.keys().copied().collect()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map
            .values()
            .filter_map(|c| match &c.state {
                State::Connecting { deadline, .. } | State::AwaitingBind { deadline } => Some(*deadline),
                State::Bound => None,
            })
            .min()
    }
}

impl Server {
    fn new_connection_id(&mut self) -> ConnectionId {
        loop {
            let low = self.rng.next_u32() & 0x00FF_FFFF;
            let id = ConnectionId(u32::from(self.worker) << 24 | low);
            if low != 0 && !self.by_connection.contains_key(&id) {
                return id;
            }
        }
    }

    /// Connect (RFC 6062 §5.2). The caller checked the allocation's owner.
    pub(crate) fn handle_connect(&mut self, from: &FiveTuple, msg: &Message<'_>, reply: Reply, now: Instant) {
        match self.try_connect(from, msg, &reply, now) {
            Ok(()) => self.schedule_allocation(from, now),
            Err(code) => self.send_error(from, &reply, code),
        }
    }

    fn try_connect(&mut self, from: &FiveTuple, msg: &Message<'_>, reply: &Reply, now: Instant) -> Result<(), u16> {
        let peer = *peer_addresses(msg)?.first().ok_or(400u16)?;
        if self.allocations.get(from).is_some_and(|a| a.protocol != RelayProtocol::Tcp) {
            return Err(400);
        }
        self.check_peer(from, &peer)?;
        let max = self.config.allocation.max_tcp_connections;
        let max_permissions = self.config.allocation.max_permissions;
        let id = self.new_connection_id();
        let a = self.allocations.get_mut(from).ok_or(437u16)?;
        if a.tcp.map.values().any(|c| c.peer == peer) {
            return Err(446);
        }
        if a.tcp.map.len() >= max || !a.permissions.fits(&[peer.ip()], max_permissions, now) {
            return Err(508);
        }
        let relay = a.relay_for(&peer).ok_or(443u16)?.local;
        // Asking to connect to a peer implies permitting it (its replies and
        // later incoming connections).
        a.permissions.install(peer.ip(), now);
        let state = State::Connecting { reply: reply.clone(), deadline: now + CONNECTION_TIMEOUT };
        a.tcp.map.insert(id, PeerConnection { peer, state });
        self.by_connection.insert(id, *from);
        self.emit(Event::ConnectPeer { connection: id, relay, peer });
        Ok(())
    }

    /// The shell's answer to [`Event::ConnectPeer`]: the Connect gets its
    /// success (with CONNECTION-ID) or 447.
    pub fn handle_peer_connected(&mut self, connection: ConnectionId, connected: bool, now: Instant) {
        let Some(client) = self.by_connection.get(&connection).copied() else {
            if connected {
                self.emit(Event::ClosePeerConnection { connection });
            }
            return;
        };
        let Some(a) = self.allocations.get_mut(&client) else { return };
        let user = a.user.clone();
        let Some(c) = a.tcp.map.get_mut(&connection) else { return };
        let State::Connecting { reply, .. } = &c.state else { return };
        let reply = reply.clone();
        if !connected {
            a.tcp.map.remove(&connection);
            self.by_connection.remove(&connection);
            self.send_error(&client, &reply, 447);
            return;
        }
        let deadline = now + CONNECTION_TIMEOUT;
        c.state = State::AwaitingBind { deadline };
        self.shared.add_pending_connection(connection.0, PendingConnection { user, expires: deadline });
        self.send_success(&client, &reply, |enc| enc.add(&ConnectionIdAttr(connection.0)).map(|_| ()));
        self.schedule_allocation(&client, now);
    }

    /// A peer connected to the TCP relay `relay` (RFC 6062 §5.3). Returns the
    /// connection's id, or `None` if the shell must close it (no allocation,
    /// no permission, or too many connections).
    pub fn handle_peer_connection_incoming(&mut self, relay: SocketAddr, peer: SocketAddr, now: Instant) -> Option<ConnectionId> {
        let client = *self.by_relay.get(&relay)?;
        let allowed = self.filter.is_allowed(peer.ip());
        let max = self.config.allocation.max_tcp_connections;
        let id = self.new_connection_id();
        let a = self.allocations.get_mut(&client)?;
        if a.protocol != RelayProtocol::Tcp || !allowed || !a.permissions.allows(peer.ip(), now) || a.tcp.map.len() >= max {
            self.metrics.dropped_no_permission += 1;
            return None;
        }
        let deadline = now + CONNECTION_TIMEOUT;
        a.tcp.map.insert(id, PeerConnection { peer, state: State::AwaitingBind { deadline } });
        let user = a.user.clone();
        self.by_connection.insert(id, client);
        self.shared.add_pending_connection(id.0, PendingConnection { user, expires: deadline });
        let mut tid = [0u8; 12];
        self.rng.fill_bytes(&mut tid);
        let mut contents = Vec::with_capacity(64);
        let ty = MessageType::new(Method::CONNECTION_ATTEMPT, Class::Indication);
        let mut enc = MessageEncoder::new(&mut contents, ty, TransactionId::new(tid));
        let _ = enc.add(&XorPeerAddress(peer)).and_then(|e| e.add(&ConnectionIdAttr(id.0)));
        let _ = enc.finish();
        self.transmit(Transmit { transport: client.transport, source: client.server, destination: client.client, contents });
        self.schedule_allocation(&client, now);
        Some(id)
    }

    /// A peer connection (or its spliced client data connection) closed.
    pub fn handle_peer_connection_closed(&mut self, connection: ConnectionId, _now: Instant) {
        if let Some(client) = self.by_connection.remove(&connection) {
            if let Some(a) = self.allocations.get_mut(&client) {
                a.tcp.map.remove(&connection);
            }
        }
        self.shared.drop_pending_connection(connection.0);
    }

    /// ConnectionBind (RFC 6062 §5.4) on a new client connection.
    pub(crate) fn handle_connection_bind(&mut self, from: &FiveTuple, msg: &Message<'_>, auth: &Authenticated, reply: &Reply, now: Instant) {
        let id = match msg.attr::<ConnectionIdAttr>() {
            Ok(Some(ConnectionIdAttr(id))) => ConnectionId(id),
            _ => return self.send_error(from, reply, 400),
        };
        if !from.transport.is_stream() || self.allocations.contains_key(from) || !self.shared.claim_connection(id.0, &auth.user, now) {
            return self.send_error(from, reply, 400);
        }
        if let Some(client) = self.by_connection.get(&id).copied() {
            if let Some(c) = self.allocations.get_mut(&client).and_then(|a| a.tcp.map.get_mut(&id)) {
                c.state = State::Bound;
            }
        }
        self.send_success(from, reply, |_| Ok(()));
        self.emit(Event::SpliceConnection { client: *from, connection: id });
    }

    /// Time out Connects and unbound connections of one allocation.
    pub(crate) fn expire_tcp_connections(&mut self, client: &FiveTuple, now: Instant) {
        let Some(a) = self.allocations.get_mut(client) else { return };
        let due: Vec<ConnectionId> = a
            .tcp
            .map
            .iter()
            .filter(|(_, c)| match &c.state {
                State::Connecting { deadline, .. } | State::AwaitingBind { deadline } => now >= *deadline,
                State::Bound => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(a) = self.allocations.get_mut(client) else { return };
            let Some(c) = a.tcp.map.get_mut(&id) else { continue };
            match &c.state {
                State::Connecting { reply, .. } => {
                    let reply = reply.clone();
                    a.tcp.map.remove(&id);
                    self.by_connection.remove(&id);
                    self.emit(Event::ClosePeerConnection { connection: id });
                    self.send_error(client, &reply, 447);
                }
                State::AwaitingBind { .. } => {
                    if self.shared.drop_pending_connection(id.0) {
                        a.tcp.map.remove(&id);
                        self.by_connection.remove(&id);
                        self.emit(Event::ClosePeerConnection { connection: id });
                    } else {
                        // Claimed by a ConnectionBind on another worker.
                        c.state = State::Bound;
                    }
                }
                State::Bound => {}
            }
        }
    }
}
