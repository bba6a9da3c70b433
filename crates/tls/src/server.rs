//! The server side: an SNI certificate resolver behind a reloadable handle.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::{CertificateConfig, TlsConfig};
use crate::error::{Result, TlsError};
use crate::names::NameTable;
use crate::pem::load_certified;

/// The protocol versions offered: TLS 1.3 and TLS 1.2, nothing older.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider used by every config this crate builds (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// An immutable set of certificates with its name table.
#[derive(Debug)]
struct CertSet {
    keys: Vec<Arc<CertifiedKey>>,
    table: NameTable,
    names: Vec<Vec<String>>,
}

impl CertSet {
    fn load(certs: &[CertificateConfig], provider: &CryptoProvider) -> Result<Self> {
        if certs.is_empty() {
            return Err(TlsError::NoCertificates);
        }
        let mut set = Self {
            keys: Vec::new(),
            table: NameTable::default(),
            names: Vec::new(),
        };
        for (index, cfg) in certs.iter().enumerate() {
            let loaded = load_certified(cfg, provider)?;
            // Only the default certificate may be nameless: nothing could select another.
            if index > 0 && loaded.names.is_empty() {
                return Err(TlsError::NoNames {
                    path: cfg.cert.clone(),
                });
            }
            set.table.insert(index, &loaded.names);
            set.keys.push(loaded.key);
            set.names.push(loaded.names);
        }
        Ok(set)
    }

    fn select(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        self.table
            .select(sni)
            .and_then(|i| self.keys.get(i))
            .cloned()
    }
}

/// Picks a certificate by SNI from whatever set is current.
#[derive(Debug)]
struct SniResolver {
    current: RwLock<Arc<CertSet>>,
}

impl SniResolver {
    fn current(&self) -> Arc<CertSet> {
        // A poisoned lock still holds a complete set: swaps are a single assignment.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn swap(&self, set: CertSet) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current().select(hello.server_name())
    }
}

#[derive(Debug)]
struct Inner {
    resolver: Arc<SniResolver>,
    config: Arc<ServerConfig>,
    provider: Arc<CryptoProvider>,
    /// The configured files. Held for the whole of a reload, so reloads never interleave.
    sources: Mutex<Vec<CertificateConfig>>,
}

/// A TLS server configuration whose certificates can be reloaded.
///
/// The rustls [`ServerConfig`] (and therefore every [`TlsAcceptor`] made from
/// it) is built once, with a certificate resolver that reads the current
/// certificate set on each handshake. [`TlsServer::reload`] loads all PEM files
/// again and, only if every one of them is good, swaps the set atomically:
/// new handshakes see the new certificates, established connections are not
/// touched, and a failed reload leaves the old set in place.
///
/// Cloning is cheap; clones share the same certificates.
#[derive(Debug, Clone)]
pub struct TlsServer {
    inner: Arc<Inner>,
}

impl TlsServer {
    /// Load the configured certificates and build a server config offering
    /// `alpn` (most preferred first, e.g. `[b"xmpp-client"]`; empty for none).
    pub fn new(config: &TlsConfig, alpn: &[&[u8]]) -> Result<Self> {
        let provider = provider();
        let set = CertSet::load(&config.certificates, &provider)?;
        let resolver = Arc::new(SniResolver {
            current: RwLock::new(Arc::new(set)),
        });
        let mut server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            inner: Arc::new(Inner {
                resolver,
                config: Arc::new(server),
                provider,
                sources: Mutex::new(config.certificates.clone()),
            }),
        })
    }

    /// The rustls config, for callers that drive rustls themselves.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.inner.config)
    }

    /// A tokio acceptor. It follows reloads; there is no need to fetch a new one.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    /// Re-read every PEM file of the current configuration and swap them in.
    ///
    /// On error nothing changes and the error names the faulty file. This reads
    /// files synchronously; from async code call it via `spawn_blocking` if the
    /// certificates live on slow storage.
    pub fn reload(&self) -> Result<()> {
        let sources = self
            .inner
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = CertSet::load(&sources, &self.inner.provider)?;
        self.inner.resolver.swap(set);
        Ok(())
    }

    /// Load a new certificate list (after the daemon re-read its config file)
    /// and swap it in. On error the old list and certificates stay in use.
    pub fn reload_from(&self, config: &TlsConfig) -> Result<()> {
        let mut sources = self
            .inner
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = CertSet::load(&config.certificates, &self.inner.provider)?;
        self.inner.resolver.swap(set);
        sources.clone_from(&config.certificates);
        Ok(())
    }

    /// The names each loaded certificate is selected for, in configuration order.
    pub fn names(&self) -> Vec<Vec<String>> {
        self.inner.resolver.current().names.clone()
    }
}
