//! Reading PEM files into rustls types, with errors that name the file.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::CertificateConfig;
use crate::error::{Result, TlsError};
use crate::inspect::CertInfo;
use crate::names;

/// PEM bundles larger than this are refused (a long chain is a few tens of KiB).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Read a whole file, refusing anything above [`MAX_PEM_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let read_err = |source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut buf = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_PEM_BYTES,
        });
    }
    Ok(buf)
}

/// Parse every `CERTIFICATE` block of a PEM buffer, in file order.
pub(crate) fn parse_chain(path: &Path, pem_bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

/// Load a certificate chain (leaf first) from a PEM file.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    parse_chain(path, &read_limited(path)?)
}

/// Load the first private key (PKCS#8, PKCS#1 or SEC1) from a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = read_limited(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        source => TlsError::Pem {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// A certificate chain with its signing key and the names it is selected for.
#[derive(Debug)]
pub(crate) struct LoadedCert {
    pub(crate) key: Arc<CertifiedKey>,
    pub(crate) names: Vec<String>,
}

/// Load, check and name one configured certificate.
pub(crate) fn load_certified(
    cfg: &CertificateConfig,
    provider: &CryptoProvider,
) -> Result<LoadedCert> {
    let chain = load_certificates(&cfg.cert)?;
    let key_der = load_private_key(&cfg.key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| TlsError::UnusableKey {
            path: cfg.key.clone(),
            source,
        })?;
    let info = match chain.first() {
        Some(leaf) => CertInfo::from_der(leaf).map_err(|detail| TlsError::BadCertificate {
            path: cfg.cert.clone(),
            detail,
        })?,
        None => {
            return Err(TlsError::NoCertificate {
                path: cfg.cert.clone(),
            })
        }
    };
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Some key types cannot report their public half; rustls treats that as "unknown".
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                cert: cfg.cert.clone(),
                key: cfg.key.clone(),
            })
        }
        Err(other) => {
            return Err(TlsError::BadCertificate {
                path: cfg.cert.clone(),
                detail: other.to_string(),
            })
        }
    }
    let names = match &cfg.names {
        Some(explicit) => explicit
            .iter()
            .map(|n| names::normalize(n).ok_or_else(|| TlsError::InvalidName { name: n.clone() }))
            .collect::<Result<Vec<_>>>()?,
        // Names in a certificate that are not host names (odd SAN content) are skipped.
        None => info
            .dns_names
            .iter()
            .filter_map(|n| names::normalize(n))
            .collect(),
    };
    Ok(LoadedCert {
        key: Arc::new(certified),
        names,
    })
}
