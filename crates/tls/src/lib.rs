//! rustls configuration shared by `turnd`, `sipd` and `xmppd`.
//!
//! What it does:
//! - reads the `tls:` section ([`TlsConfig`]): a list of PEM certificate chains
//!   and keys, each selected by SNI from its subjectAltName DNS names (or an
//!   explicit `names:` list), exact or `*.domain`, the first one being the
//!   default when the client sends no name or an unknown one;
//! - builds a [`rustls::ServerConfig`] with the aws-lc-rs provider, TLS 1.2 and
//!   1.3 only, and the caller's ALPN list, behind a [`TlsServer`] handle whose
//!   [`TlsServer::reload`] swaps certificates for new handshakes (SIGHUP) while
//!   live connections continue; a failed reload keeps the old certificates;
//! - reports clear errors ([`TlsError`]) that name the faulty file;
//! - generates self-signed development certificates ([`ensure_self_signed`]);
//! - inspects certificates for `check` commands ([`CertInfo`]);
//! - builds small client configs for outgoing connections ([`client_config`]).
//!
//! What it deliberately does not do: client-certificate authentication, OCSP
//! stapling, CRLs, ACME, or any socket I/O beyond handing out a
//! [`tokio_rustls::TlsAcceptor`]. It never enables TLS 1.1 or older, and never
//! pulls in `ring` or OpenSSL.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod client;
mod config;
mod error;
mod inspect;
pub mod names;
mod pem;
mod selfsigned;
mod server;

pub use client::{client_config, Roots, DEBIAN_CA_BUNDLE};
pub use config::{CertificateConfig, TlsConfig};
pub use error::{Result, TlsError};
pub use inspect::{inspect_pem_file, CertInfo};
pub use pem::{load_certificates, load_private_key, MAX_PEM_BYTES};
pub use selfsigned::{ensure_self_signed, SELF_SIGNED_CERT, SELF_SIGNED_KEY};
pub use server::{provider, TlsServer, PROTOCOL_VERSIONS};

pub use rustls;
pub use tokio_rustls;
