//! The shell's error type: everything that can stop `xmppd` from starting.

use std::io;
use std::net::SocketAddr;

/// Why the daemon could not start (or keep) serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShellError {
    /// A listening socket could not be bound.
    #[error("cannot listen for {service} on {addr}: {source}")]
    Listen {
        /// The listener's service (`c2s`, `c2s-tls`, `s2s`).
        service: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The user database could not be opened.
    #[error("cannot open the user database: {0}")]
    Database(#[from] rtc_userdb::Error),
    /// The TLS certificates could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] rtc_tls::TlsError),
    /// Lifecycle, metrics endpoint or READY line.
    #[error(transparent)]
    Daemon(#[from] rtc_daemon::Error),
    /// The operating system's random number generator failed.
    #[error("cannot read random bytes: {0}")]
    Random(getrandom::Error),
}
