//! The core's input and output types: identifiers, [`Output`], [`Event`].

use std::net::IpAddr;
use std::time::Instant;

use super::jid::Jid;
use super::storage::StorageRequest;

/// A client connection, assigned by [`super::Server::handle_connection_opened`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The number, for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// A storage request, answered with [`super::Server::handle_storage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number, for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// An XMPP session (a bound resource). It outlives its connection while it
/// waits to be resumed (XEP-0198).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionId(pub(crate) u64);

/// The kind of listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Plain TCP with STARTTLS (RFC 6120 §5), usually port 5222.
    Starttls,
    /// TLS from the first byte (XEP-0368), usually port 5223. The shell
    /// completes the handshake and calls
    /// [`super::Server::handle_tls_established`] before feeding bytes.
    DirectTls,
    /// An external component (XEP-0114 accept protocol), usually port 5347
    /// on the loopback interface.
    Component,
    /// Servers, plain TCP with STARTTLS (RFC 6120 §5), usually port 5269.
    S2s,
    /// Servers, TLS from the first byte with ALPN `xmpp-server` (XEP-0368).
    S2sDirectTls,
}

impl Listener {
    /// A server-to-server listener.
    pub fn is_s2s(self) -> bool {
        matches!(self, Self::S2s | Self::S2sDirectTls)
    }

    /// TLS from the first byte.
    pub fn is_direct_tls(self) -> bool {
        matches!(self, Self::DirectTls | Self::S2sDirectTls)
    }
}

/// What the shell learned from a completed TLS handshake.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `tls-server-end-point` channel binding data (RFC 5929 §4): the hash
    /// of the server certificate. `None` if it cannot be computed.
    pub server_end_point: Option<Vec<u8>>,
    /// `tls-exporter` channel binding data (RFC 9266): 32 bytes exported
    /// with the label `EXPORTER-Channel-Binding` and no context. Only for
    /// TLS 1.3; `None` otherwise.
    pub exporter: Option<Vec<u8>>,
    /// Server-to-server only: the DNS names of the peer's certificate if
    /// its chain is PKIX-valid (serverAuth EKU) to a trusted root, whatever
    /// the name; `None` without a certificate or when it does not validate.
    /// For an outgoing stream the shell lists only the domain it validated.
    pub peer_names: Option<Vec<String>>,
}

impl std::fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsInfo")
            .field("server_end_point", &self.server_end_point.is_some())
            .field("exporter", &self.exporter.is_some())
            .field("peer_names", &self.peer_names)
            .finish()
    }
}

/// Why a new connection was refused (the shell just closes the socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Too many concurrent connections from this address.
    #[error("too many connections from this address")]
    TooManyConnections,
    /// Too many new connections from this address recently.
    #[error("connection rate from this address exceeded")]
    RateLimited,
}

/// Bytes to write to a connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The connection.
    pub conn: ConnId,
    /// Serialised XML.
    pub data: Vec<u8>,
}

/// Something the shell must do besides writing bytes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// After writing the pending bytes (the `<proceed/>`), perform the
    /// server side of a TLS handshake on this connection, then call
    /// [`super::Server::handle_tls_established`] (RFC 6120 §5.4.3.3).
    StartTls {
        /// The connection.
        conn: ConnId,
    },
    /// Write the pending bytes, then close this connection. The core has
    /// already forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Stop reading from this connection until [`Event::ResumeReading`]
    /// (byte-rate limit exceeded, or the core is waiting for storage).
    PauseReading {
        /// The connection.
        conn: ConnId,
    },
    /// Reading may continue.
    ResumeReading {
        /// The connection.
        conn: ConnId,
    },
    /// Perform a storage operation and answer it with
    /// [`super::Server::handle_storage`]. Writes for the same account must be
    /// applied in the order they are emitted.
    Storage {
        /// Echo this in the answer.
        id: RequestId,
        /// What to do.
        request: StorageRequest,
    },
    /// A client authenticated (for logs).
    Authenticated {
        /// The connection.
        conn: ConnId,
        /// The account.
        user: Jid,
        /// The SASL mechanism used.
        mechanism: &'static str,
    },
    /// Open an outgoing server-to-server connection to `remote`: resolve it
    /// (static route, `_xmpps-server._tcp` with TLS at once, then
    /// `_xmpp-server._tcp`, then A/AAAA on 5269), connect, then call
    /// [`super::Server::handle_s2s_connected`] (after
    /// [`super::Server::handle_tls_established`] for direct TLS), or
    /// [`super::Server::handle_connection_closed`] if nothing answers.
    /// [`Event::StartTls`] on this connection means a TLS *client*
    /// handshake for `remote`, presenting the certificate of `local`.
    ConnectS2s {
        /// The connection the core assigned.
        conn: ConnId,
        /// Our domain.
        local: String,
        /// The domain to reach.
        remote: String,
    },
    /// A remote domain authenticated on a server stream (for logs).
    S2sAuthenticated {
        /// The connection.
        conn: ConnId,
        /// The remote domain.
        domain: String,
        /// `EXTERNAL`, `dialback` or `certificate+dialback`.
        method: &'static str,
    },
    /// A remote domain was refused or could not authenticate (for logs).
    S2sAuthFailed {
        /// The connection.
        conn: ConnId,
        /// The remote domain.
        domain: String,
    },
    /// A client failed to authenticate (for logs, e.g. fail2ban).
    AuthFailed {
        /// The connection.
        conn: ConnId,
        /// Its source address.
        peer: IpAddr,
        /// The username it tried, if it got that far.
        user: Option<String>,
    },
}

/// One output of [`super::Server::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write bytes.
    Transmit(Transmit),
    /// Act on an event.
    Event(Event),
    /// Nothing more to do: call [`super::Server::handle_timeout`] at this
    /// instant, or earlier when input arrives.
    Timeout(Instant),
}
