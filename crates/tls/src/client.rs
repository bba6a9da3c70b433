//! A small client-config helper for outgoing TLS (XMPP s2s, SIP over TLS, MySQL).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::error::{Result, TlsError};
use crate::pem::load_certificates;
use crate::server::{provider, PROTOCOL_VERSIONS};

/// Debian's bundle of the system trust store (package `ca-certificates`).
pub const DEBIAN_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system store ([`DEBIAN_CA_BUNDLE`]).
    System,
    /// A PEM file of trusted roots chosen by the administrator.
    PemFile(PathBuf),
}

fn root_store(path: &Path) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(load_certificates(path)?);
    if added == 0 {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(store)
}

/// A client config that verifies servers against `roots`, offers TLS 1.2 and
/// 1.3 only, and offers `alpn` (empty for none).
pub fn client_config(roots: &Roots, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>> {
    let path = match roots {
        Roots::System => Path::new(DEBIAN_CA_BUNDLE),
        Roots::PemFile(p) => p.as_path(),
    };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(TlsError::Config)?
        .with_root_certificates(root_store(path)?)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
