//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while loading, building or generating TLS material.
///
/// Every variant that concerns a file names it, so that an administrator reading
/// the log line knows which PEM to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read (missing, unreadable, permission denied).
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file is larger than any sane PEM bundle.
    #[error("{}: file is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The size limit that was exceeded.
        limit: u64,
    },
    /// A file is not valid PEM.
    #[error("{}: invalid PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser reported.
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` section.
    #[error("{}: no certificate found (expected a PEM `CERTIFICATE` block)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key section.
    #[error("{}: no private key found (expected a PEM `PRIVATE KEY` block)", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a type or curve the crypto provider cannot use.
    #[error("{}: unusable private key: {source}", path.display())]
    UnusableKey {
        /// The key file.
        path: PathBuf,
        /// What rustls reported.
        source: rustls::Error,
    },
    /// The private key does not belong to the certificate.
    #[error("{}: private key does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The end-entity certificate could not be parsed as X.509.
    #[error("{}: cannot parse certificate: {detail}", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What the X.509 parser reported.
        detail: String,
    },
    /// A certificate other than the first (default) one has no DNS name to be selected by.
    #[error("{}: certificate has no DNS names in subjectAltName; list them under `names:`", path.display())]
    NoNames {
        /// The certificate file.
        path: PathBuf,
    },
    /// A name given in configuration is not a host name or `*.` wildcard.
    #[error("invalid TLS server name {name:?}: expected a host name or `*.domain`")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// The certificate list is empty.
    #[error("no TLS certificates configured")]
    NoCertificates,
    /// rustls refused the configuration.
    #[error("TLS configuration rejected: {0}")]
    Config(#[source] rustls::Error),
    /// A generated file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Generating a self-signed certificate failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[source] rcgen::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = TlsError> = std::result::Result<T, E>;
