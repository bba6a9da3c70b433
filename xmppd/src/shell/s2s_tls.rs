//! TLS for server-to-server streams.
//!
//! Handshakes never fail on an untrusted certificate: dialback (XEP-0220)
//! must still be possible over TLS with a self-signed one. Signatures are
//! checked during the handshake as usual; the PKIX validation of the peer's
//! chain runs afterwards ([`S2sTls::validate`]) and its outcome goes to the
//! core as [`TlsInfo::peer_names`], where the domain policy decides.
//!
//! The peer's certificate is validated as a *server* certificate (serverAuth
//! EKU) in both directions: since 2026 public CAs issue serverAuth-only
//! certificates, so requiring clientAuth from a connecting server would
//! refuse them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rtc_tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use rtc_tls::rustls::client::WebPkiServerVerifier;
use rtc_tls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rtc_tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rtc_tls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rtc_tls::rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rtc_tls::{provider, TlsServer, PROTOCOL_VERSIONS};

use crate::config::XmppdConfig;
use crate::core::TlsInfo;

/// The ALPN protocol of direct-TLS server connections (XEP-0368).
pub const ALPN_XMPP_SERVER: &[u8] = b"xmpp-server";

/// Accepts any chain during the handshake (validated afterwards); checks signatures.
#[derive(Debug)]
struct Deferred(Arc<CryptoProvider>);

/// What both verifier roles share: handshake signatures are checked with
/// the provider's algorithms (only the certificate check is deferred).
impl Deferred {
    fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }

    fn tls12(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rtc_tls::rustls::Error> {
        verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn tls13(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rtc_tls::rustls::Error> {
        verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
}

impl ServerCertVerifier for Deferred {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rtc_tls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rtc_tls::rustls::Error> {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rtc_tls::rustls::Error> {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ClientCertVerifier for Deferred {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rtc_tls::rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rtc_tls::rustls::Error> {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rtc_tls::rustls::Error> {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

/// Trust anchors, per-domain client configurations and the validator.
#[derive(Debug, Clone)]
pub(crate) struct S2sTls {
    pkix: Option<Arc<WebPkiServerVerifier>>,
    clients: HashMap<String, Arc<ClientConfig>>,
    anonymous: Arc<ClientConfig>,
}

fn add_pem(store: &mut RootCertStore, path: &Path) -> Result<usize, rtc_tls::TlsError> {
    let certs = rtc_tls::load_certificates(path)?;
    Ok(store.add_parsable_certificates(certs).0)
}

impl S2sTls {
    /// From `s2s.system_roots`, `s2s.ca_file` and the hosts' certificates.
    pub(crate) fn new(config: &XmppdConfig) -> Result<Self, rtc_tls::TlsError> {
        let s = &config.core.s2s;
        let mut store = RootCertStore::empty();
        let system = Path::new(rtc_tls::DEBIAN_CA_BUNDLE);
        if s.system_roots && system.exists() {
            if let Err(e) = add_pem(&mut store, system) {
                tracing::warn!("s2s: system CA store not loaded: {e}");
            }
        }
        if let Some(ca) = &s.ca_file {
            add_pem(&mut store, ca)?;
        }
        let pkix = if store.is_empty() {
            None
        } else {
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider())
                .build()
                .ok()
        };
        let deferred = Arc::new(Deferred(provider()));
        let builder = || {
            ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(PROTOCOL_VERSIONS)
                .map_err(rtc_tls::TlsError::Config)
                .map(|b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(deferred.clone())
                })
        };
        let mut clients = HashMap::new();
        for h in config.enabled_hosts() {
            let Some(tls) = &h.tls else { continue };
            let chain = rtc_tls::load_certificates(&tls.cert)?;
            let key = rtc_tls::load_private_key(&tls.key)?;
            let c = builder()?
                .with_client_auth_cert(chain, key)
                .map_err(rtc_tls::TlsError::Config)?;
            clients.insert(h.domain.clone(), Arc::new(c));
        }
        let anonymous = Arc::new(builder()?.with_no_client_auth());
        Ok(Self {
            pkix,
            clients,
            anonymous,
        })
    }

    /// The client configuration presenting `local`'s certificate, with `alpn`.
    pub(crate) fn client(&self, local: &str, direct: bool) -> Arc<ClientConfig> {
        let base = self.clients.get(local).unwrap_or(&self.anonymous);
        if !direct {
            return Arc::clone(base);
        }
        let mut c = (**base).clone();
        c.alpn_protocols = vec![ALPN_XMPP_SERVER.to_vec()];
        Arc::new(c)
    }

    /// A server configuration for an s2s listener: the hosts' certificates,
    /// an optional client certificate from the peer, `xmpp-server` ALPN for direct TLS.
    pub(crate) fn server(
        server: &TlsServer,
        direct: bool,
    ) -> Result<ServerConfig, rtc_tls::rustls::Error> {
        let base = server.server_config();
        let mut c = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(PROTOCOL_VERSIONS)?
            .with_client_cert_verifier(Arc::new(Deferred(provider())))
            .with_cert_resolver(Arc::clone(&base.cert_resolver));
        c.alpn_protocols = if direct {
            vec![ALPN_XMPP_SERVER.to_vec()]
        } else {
            Vec::new()
        };
        Ok(c)
    }

    /// PKIX validation of a peer chain (serverAuth EKU). `name`: the domain
    /// it must be valid for (outgoing); `None`: any of its DNS names
    /// (incoming, the core matches the domain). The validated names, or
    /// `None` when the chain does not validate.
    pub(crate) fn validate(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
        name: Option<&str>,
    ) -> Option<Vec<String>> {
        let pkix = self.pkix.as_ref()?;
        let (ee, intermediates) = chain?.split_first()?;
        let names = match name {
            Some(n) => vec![n.to_owned()],
            None => dns_names(ee.as_ref()),
        };
        let probe = names.first()?;
        let probe = probe
            .strip_prefix("*.")
            .map_or_else(|| probe.clone(), |rest| format!("wildcard.{rest}"));
        let server_name = ServerName::try_from(probe).ok()?;
        pkix.verify_server_cert(ee, intermediates, &server_name, &[], UnixTime::now())
            .ok()?;
        Some(names)
    }

    /// [`TlsInfo`] of a finished server-to-server handshake.
    pub(crate) fn info(&self, chain: Option<&[CertificateDer<'_>]>, name: Option<&str>) -> TlsInfo {
        TlsInfo {
            peer_names: self.validate(chain, name),
            ..TlsInfo::default()
        }
    }
}

/// The dNSName subjectAltNames of a DER certificate (RFC 6125 §6.4.4: not the CN).
fn dns_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
