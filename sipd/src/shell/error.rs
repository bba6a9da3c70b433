//! The shell's error type: everything that can stop `sipd` from starting.

use std::io;
use std::net::SocketAddr;

use rtc_daemon::Proto;

/// Why the daemon could not start (or keep) serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShellError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {proto} {addr}: {source}")]
    Listen {
        /// The listener's transport.
        proto: Proto,
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The database could not be opened or read at start-up.
    #[error("database: {0}")]
    Database(#[from] rtc_userdb::Error),
    /// A listener's TLS certificates could not be loaded.
    #[error("listeners[{index}].tls: {source}")]
    Tls {
        /// The listener's position in the configuration.
        index: usize,
        /// What went wrong.
        source: rtc_tls::TlsError,
    },
    /// The core refused the configuration or the listeners.
    #[error("{0}")]
    Core(#[from] crate::core::Error),
    /// Lifecycle, metrics endpoint or READY line.
    #[error(transparent)]
    Daemon(#[from] rtc_daemon::Error),
    /// The operating system's random number generator failed.
    #[error("cannot read random bytes: {0}")]
    Random(getrandom::Error),
}
