//! The values that cross the boundary between the core and its shell.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Instant;

use super::credentials::{KeyQuery, UserKeys};
use super::shared::RelayAddr;

/// The transport a client talks to the server over (RFC 8656 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Plain UDP datagrams.
    Udp,
    /// A TCP connection, framed by the shell.
    Tcp,
    /// TLS over TCP, framed by the shell.
    Tls,
    /// DTLS over UDP.
    Dtls,
}

impl Transport {
    /// Whether this is a byte stream, where ChannelData is padded to 4 bytes
    /// (RFC 8656 §12.5) and RFC 6062 TCP allocations are allowed.
    pub const fn is_stream(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }
}

/// The 5-tuple identifying a client "connection" (RFC 8656 §2): for streams,
/// one accepted TCP/TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    /// The transport.
    pub transport: Transport,
    /// The client's address as the server sees it (server-reflexive).
    pub client: SocketAddr,
    /// The server's local address the client talks to.
    pub server: SocketAddr,
}

/// The protocol between the relay and peers (RFC 8656 §18.8, RFC 6062).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayProtocol {
    /// UDP relaying (REQUESTED-TRANSPORT 17).
    Udp,
    /// TCP relaying (REQUESTED-TRANSPORT 6, RFC 6062).
    Tcp,
}

/// An IP address family (RFC 8656 §18.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (0x01).
    V4,
    /// IPv6 (0x02).
    V6,
}

impl Family {
    /// The family of an address.
    pub const fn of(addr: &SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(_) => Self::V4,
            SocketAddr::V6(_) => Self::V6,
        }
    }
}

/// Identifies one key lookup; answer it with [`super::Server::handle_key_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// Identifies one relay bind request; answer with [`super::Server::handle_relay_bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindId(pub u64);

/// An RFC 6062 CONNECTION-ID (§6.2.1). The top 8 bits name the worker that owns
/// it (see [`ConnectionId::worker`]), so any worker's shell can route it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

impl ConnectionId {
    /// The worker index whose core owns this connection.
    pub const fn worker(self) -> u8 {
        (self.0 >> 24) as u8
    }
}

/// A datagram or stream chunk for the shell to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transport to send on; for streams, the connection named by
    /// (`source`, `destination`).
    pub transport: Transport,
    /// Local address to send from: a listening address, an RFC 5780 alternate
    /// address, or a relayed address.
    pub source: SocketAddr,
    /// Where to send.
    pub destination: SocketAddr,
    /// The bytes, already framed (STUN messages need no further framing on
    /// streams; ChannelData is already padded).
    pub contents: Vec<u8>,
}

/// A relayed packet on the hot path: bytes the shell already holds, to send on.
///
/// `range` indexes the buffer the shell passed in, so nothing is copied or allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Transport to send on (always UDP toward peers).
    pub transport: Transport,
    /// Local address to send from (the relayed address, or the server address
    /// the client talks to).
    pub source: SocketAddr,
    /// Where to send.
    pub destination: SocketAddr,
    /// The bytes to send within the shell's buffer.
    pub range: Range<usize>,
    /// Set the IP DF bit on this datagram (DONT-FRAGMENT in a Send
    /// indication, RFC 8656 §10.2).
    pub dont_fragment: bool,
}

/// Requests for the shell to do I/O on the core's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Look up a user's keys or a realm's REST secrets (RFC 8489 §9.2) and call
    /// [`super::Server::handle_key_result`] with `lookup`.
    NeedKey {
        /// Echo this in the answer.
        lookup: LookupId,
        /// The realm.
        realm: String,
        /// Who or what to look up.
        query: KeyQuery,
    },
    /// Bind a relay socket (RFC 8656 §7.2) and call
    /// [`super::Server::handle_relay_bound`] with `bind`.
    BindRelay {
        /// Echo this in the answer.
        bind: BindId,
        /// The client the relay is for (for logging and socket placement).
        client: FiveTuple,
        /// UDP socket, or TCP listener for RFC 6062.
        protocol: RelayProtocol,
        /// The address family to bind. Bind IPv6 relays with `IPV6_V6ONLY`, so
        /// that IPv4-mapped peer addresses cannot reach IPv4 space through them.
        family: Family,
        /// EVEN-PORT: the port must be even (RFC 8656 §14.6).
        even_port: bool,
        /// EVEN-PORT R bit: also bind port+1 and return it as `reserved`.
        reserve_next: bool,
        /// DONT-FRAGMENT: set the DF bit on everything sent from this relay;
        /// otherwise the relay socket must allow fragmentation (RFC 8656 §14.8).
        dont_fragment: bool,
    },
    /// A relayed address (or reserved one) is no longer used: close its socket
    /// (and for TCP, its listener and every peer connection made through it).
    RelayReleased {
        /// The relay's local address.
        relay: SocketAddr,
        /// Its protocol.
        protocol: RelayProtocol,
    },
    /// RFC 6062 §5.2: open a TCP connection from `relay` to `peer`, then call
    /// [`super::Server::handle_peer_connected`].
    ConnectPeer {
        /// The connection's id.
        connection: ConnectionId,
        /// The TCP relayed address to connect from.
        relay: SocketAddr,
        /// The peer.
        peer: SocketAddr,
    },
    /// RFC 6062 §5.4: ConnectionBind succeeded; after sending the queued response
    /// on `client`, stop framing and copy bytes raw between it and `connection`
    /// (including peer bytes buffered before the bind).
    SpliceConnection {
        /// The client data connection.
        client: FiveTuple,
        /// The peer data connection.
        connection: ConnectionId,
    },
    /// RFC 6062 §5.3/§5.4: close a peer connection (no ConnectionBind in 30 s,
    /// or its allocation is gone).
    ClosePeerConnection {
        /// The connection to close.
        connection: ConnectionId,
    },
}

/// What [`super::Server::poll_output`] hands the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this.
    Transmit(Transmit),
    /// Do this and call back.
    Event(Event),
    /// Nothing more to do now; call `handle_timeout` at this instant (if any)
    /// or when new input arrives.
    Timeout(Option<Instant>),
}

/// The shell's answer to [`Event::NeedKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAnswer {
    /// The user exists. `username` is its canonical name (needed to resolve a USERHASH).
    User {
        /// Canonical user name.
        username: String,
        /// Its keys.
        keys: UserKeys,
    },
    /// The realm's REST secrets (for [`KeyQuery::RestSecrets`]).
    Secrets(Vec<String>),
    /// No such user or no secret: the request gets 401.
    NotFound,
    /// The lookup failed (database down): the request gets 500 and nothing is cached.
    Failed,
}

/// A successfully bound relay, the shell's answer to [`Event::BindRelay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayBinding {
    /// The relayed address.
    pub relay: RelayAddr,
    /// With `reserve_next`: the bound port+1, held for a RESERVATION-TOKEN.
    pub reserved: Option<RelayAddr>,
}

/// Why the shell could not bind a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindFailure {
    /// No address of that family to bind on: 440 (RFC 8656 §7.2).
    FamilyNotSupported,
    /// No free port: 508 (RFC 8656 §7.2).
    InsufficientCapacity,
}
