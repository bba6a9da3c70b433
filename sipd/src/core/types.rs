//! The values that cross the boundary between the core and its shell:
//! flows, listeners, transmits, events and the database records.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// A SIP transport (RFC 3261 §18; WebSocket from RFC 7118).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP: unreliable, so transactions retransmit (RFC 3261 §17).
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// Reliable transports need no retransmissions (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        self != Transport::Udp
    }
    /// The Via sent-protocol transport token (RFC 3261 §20.42, RFC 7118 §5.1).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
    /// The `transport=` URI parameter value (RFC 3261 §19.1.1).
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
    /// The default port of the transport (RFC 3261 §19.1.2, RFC 7118 §5.2 uses the HTTP ports).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Udp | Transport::Tcp => 5060,
            Transport::Tls => 5061,
            Transport::Ws => 80,
            Transport::Wss => 443,
        }
    }
    /// WebSocket clients cannot be reached except over their own connection.
    pub fn is_websocket(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
    pub(crate) fn from_code(c: u8) -> Option<Transport> {
        [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .get(usize::from(c))
        .copied()
    }
    pub(crate) fn from_uri_param(p: &[u8]) -> Option<Transport> {
        [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .into_iter()
        .find(|t| t.uri_param().as_bytes().eq_ignore_ascii_case(p))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// The shell's index of one listening socket (UDP socket, TCP/TLS/WS/WSS listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub u16);

/// The shell's id of one accepted or opened stream connection.
///
/// Ids must never be reused, not even across restarts (bindings stored in the
/// database refer to them): mix a boot counter into the high bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// A listening socket as the core needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The shell's id for it.
    pub id: ListenerId,
    /// Its transport.
    pub transport: Transport,
    /// The bound address (the family selects listeners for IP destinations).
    pub local: SocketAddr,
    /// `host[:port]` written in Via sent-by and the default Record-Route URI;
    /// the public name or address when the server is behind NAT. Defaults to
    /// `local`, so it is required for listeners bound to a wildcard address.
    pub advertised: Option<String>,
    /// Record-Route URI for this listener (repro's `RecordRouteUri`), e.g.
    /// `sip:sip.falcot.com:8443;transport=wss`; must be a `sip:`/`sips:` URI
    /// without user part. Defaults to one built from `advertised`.
    pub record_route: Option<String>,
}

/// Where a message came from: one flow in the RFC 5626 §3 sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The local listener.
    pub listener: ListenerId,
    /// Its transport.
    pub transport: Transport,
    /// The remote address and port (the source of the received message).
    pub remote: SocketAddr,
    /// The stream connection; `None` for UDP.
    pub connection: Option<ConnectionId>,
}

/// Where the shell must send a [`Transmit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Write on this existing connection only (never open a new one). Report
    /// failure when it is gone.
    Connection(ConnectionId, SocketAddr),
    /// UDP: a datagram to this address. Streams: reuse a connection to this
    /// address, or open one.
    Addr(SocketAddr),
    /// Resolve the host (RFC 3263: SRV for the listener's transport when the
    /// port is absent and the host is not an IP literal, then A/AAAA) and send
    /// as for [`Destination::Addr`].
    Resolve {
        /// Host name as found in the URI.
        host: String,
        /// Explicit port.
        port: Option<u16>,
    },
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Send from this listener (and so over its transport).
    pub listener: ListenerId,
    /// Where to.
    pub destination: Destination,
    /// One complete SIP message.
    pub bytes: Vec<u8>,
    /// When set, a failure to resolve, connect or write must be reported with
    /// [`super::Core::handle_transmit_failed`] (RFC 3261 §17.1.4).
    pub failure_token: Option<u64>,
}

/// The id of a database request the core is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// An address-of-record (RFC 3261 §10.2.1): user and lower-case domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aor {
    /// The user part, percent-decoded.
    pub user: String,
    /// The domain, lower-case.
    pub domain: String,
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.domain)
    }
}

/// Digest keys of one user in one realm; the database stores only these
/// derived keys, never the password (RFC 3261 §22.4, RFC 8760 §2).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DigestKeys {
    /// MD5(user ":" realm ":" password).
    pub md5: Option<[u8; 16]>,
    /// SHA-256(user ":" realm ":" password).
    pub sha256: Option<[u8; 32]>,
}

impl fmt::Debug for DigestKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKeys(<redacted>)")
    }
}

/// One registered contact (RFC 3261 §10.3), as stored by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Unique key of the binding within its AoR: the instance and reg-id for
    /// RFC 5626 registrations, the normalised contact URI otherwise.
    pub key: String,
    /// The Contact URI as registered (without angle brackets).
    pub contact: String,
    /// Seconds left before expiry. The shell converts to and from an absolute
    /// wall-clock time; 0 means expired (but still stored).
    pub expires: u32,
    /// Preference in thousandths (RFC 3261 §20.10 `q`), 1000 when absent.
    pub q: u16,
    /// Call-ID of the registering REGISTER (RFC 3261 §10.3 step 7).
    pub call_id: String,
    /// CSeq number of the registering REGISTER.
    pub cseq: u32,
    /// The flow the REGISTER arrived on (kamailio's `socket` + `received`).
    pub flow: Option<Flow>,
    /// Send requests to `flow` rather than to `contact`: NAT detected,
    /// a stream or WebSocket connection, or RFC 5626 outbound.
    pub via_flow: bool,
    /// Path header values, top first (RFC 3327 §5.3): the route set towards the contact.
    pub path: Vec<String>,
    /// `+sip.instance` (RFC 5626 §4.1).
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626 §4.2); set only for outbound registrations.
    pub reg_id: Option<u32>,
    /// User-Agent of the REGISTER, for administrators.
    pub user_agent: Option<String>,
}

/// Changes to one AoR's bindings, to be applied atomically by the shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingChanges {
    /// Remove every binding of the AoR first (`Contact: *`, RFC 3261 §10.2.2).
    pub remove_all: bool,
    /// Keys of bindings to remove.
    pub remove: Vec<String>,
    /// Bindings to insert or replace (matched by key).
    pub upsert: Vec<Binding>,
}

/// A database answer that could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("database unavailable")]
pub struct LookupFailed;

/// A request for I/O, or a notice for the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Look up the digest keys of `user` in `realm`; answer with
    /// [`super::Core::handle_credentials`] (`None` when there is no such user).
    NeedCredentials {
        /// Quote this in the answer.
        id: LookupId,
        /// The user name from the credentials.
        user: String,
        /// The realm (one of the local domains).
        realm: String,
        /// For a REGISTER: also fetch this AoR's bindings (as for
        /// [`Event::NeedBindings`]) and pass them with the keys to
        /// [`super::Core::handle_credentials_and_bindings`], which saves the
        /// registration a second database round trip. Answering with the
        /// keys alone is correct too: the core then asks for the bindings.
        bindings_of: Option<Aor>,
    },
    /// Fetch every binding of the AoR, expired ones included; answer with
    /// [`super::Core::handle_location`].
    NeedBindings {
        /// Quote this in the answer.
        id: LookupId,
        /// The address-of-record.
        aor: Aor,
    },
    /// Apply the changes, then answer with [`super::Core::handle_saved`] and
    /// the AoR's resulting bindings.
    SaveBindings {
        /// Quote this in the answer.
        id: LookupId,
        /// The address-of-record.
        aor: Aor,
        /// What to change.
        changes: BindingChanges,
    },
    /// A stream connection closed: delete bindings whose flow is that
    /// connection and that have `via_flow` set (RFC 5626 §5.3). No answer.
    FlowBindingsGone {
        /// The closed connection.
        connection: ConnectionId,
    },
    /// Digest authentication failed (for logs and fail2ban).
    AuthFailed {
        /// Source address.
        source: std::net::IpAddr,
        /// The user name tried.
        user: String,
        /// The realm.
        realm: String,
    },
    /// A source exceeded the flood limit and is ignored for the ban period.
    SourceBanned {
        /// The banned address.
        source: std::net::IpAddr,
    },
}

/// What [`super::Core::poll_output`] returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send bytes.
    Transmit(Transmit),
    /// Do I/O or log.
    Event(Event),
    /// Nothing more now: call [`super::Core::handle_timeout`] at this instant
    /// (or earlier, when input arrives).
    Timeout(Instant),
}
