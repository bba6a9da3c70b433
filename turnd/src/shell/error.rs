//! The shell's error type: everything that can stop `turnd` from starting.

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
    /// The user database could not be opened.
    #[error("cannot open the user database: {0}")]
    Database(#[from] rtc_userdb::Error),
    /// The TLS certificates could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] rtc_tls::TlsError),
    /// Lifecycle, metrics endpoint or READY line.
    #[error(transparent)]
    Daemon(#[from] rtc_daemon::Error),
    /// A worker thread could not start.
    #[error("cannot start worker {index}: {reason}")]
    Worker {
        /// The worker's index.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("cannot read random bytes: {0}")]
    Random(getrandom::Error),
}
