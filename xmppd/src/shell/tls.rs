//! TLS for client connections: per-connection acceptors that remember which
//! certificate was served, and the channel-binding data SCRAM-`-PLUS` needs.
//!
//! - `tls-server-end-point` (RFC 5929 §4.1): the hash of the server
//!   certificate actually sent, with the hash of its signature algorithm;
//!   MD5 and SHA-1 become SHA-256, and so do algorithms without a separate
//!   hash (Ed25519), as other XMPP servers do.
//! - `tls-exporter` (RFC 9266): 32 bytes exported with the label
//!   `EXPORTER-Channel-Binding` and no context, for TLS 1.3 only.
//!
//! rustls reports neither the certificate it chose nor `tls-unique` (which
//! TLS 1.3 does not have), so each connection gets a clone of the shared
//! [`ServerConfig`] whose resolver records its choice. Session resumption is
//! off on these clones: every handshake is a full one, so the certificate is
//! always known.

use std::sync::{Arc, Mutex, PoisonError};

use rtc_tls::rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rtc_tls::rustls::sign::CertifiedKey;
use rtc_tls::rustls::{ProtocolVersion, ServerConfig, ServerConnection};
use rtc_tls::tokio_rustls::TlsAcceptor;
use rtc_tls::TlsServer;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::core::TlsInfo;

/// The ALPN protocol of direct-TLS client connections (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// RFC 9266 §2: the exporter label of `tls-exporter`.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

type Chosen = Arc<Mutex<Option<Arc<CertifiedKey>>>>;

#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ResolvesServerCert>,
    chosen: Chosen,
}

impl ResolvesServerCert for Recording {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self.inner.resolve(hello);
        *self.chosen.lock().unwrap_or_else(PoisonError::into_inner) = key.clone();
        key
    }
}

/// An acceptor for one connection and the record of its certificate.
pub(crate) struct ConnAcceptor {
    pub(crate) acceptor: TlsAcceptor,
    chosen: Chosen,
}

impl std::fmt::Debug for ConnAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnAcceptor").finish_non_exhaustive()
    }
}

impl ConnAcceptor {
    /// An acceptor following `server`'s current certificates. `alpn`: offer
    /// `xmpp-client` (direct TLS) or no ALPN at all (STARTTLS).
    pub(crate) fn new(server: &TlsServer, alpn: bool) -> Self {
        let mut config: ServerConfig = (*server.server_config()).clone();
        let chosen: Chosen = Arc::default();
        config.cert_resolver = Arc::new(Recording {
            inner: Arc::clone(&config.cert_resolver),
            chosen: Arc::clone(&chosen),
        });
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        config.alpn_protocols = if alpn { vec![ALPN_XMPP_CLIENT.to_vec()] } else { Vec::new() };
        Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            chosen,
        }
    }

    /// The channel-binding data of the finished handshake on `conn`.
    pub(crate) fn binding(&self, conn: &ServerConnection) -> TlsInfo {
        let cert = self.chosen.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let server_end_point = cert
            .as_ref()
            .and_then(|k| k.cert.first())
            .map(|der| server_end_point(der.as_ref()));
        let exporter = (conn.protocol_version() == Some(ProtocolVersion::TLSv1_3))
            .then(|| conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None).ok())
            .flatten()
            .map(|b| b.to_vec());
        TlsInfo {
            server_end_point,
            exporter,
        }
    }
}

/// `tls-server-end-point` data for a DER certificate (RFC 5929 §4.1).
pub fn server_end_point(der: &[u8]) -> Vec<u8> {
    use x509_parser::oid_registry as oids;
    let alg = x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, c)| c.signature_algorithm.algorithm.clone());
    let is = |o: &x509_parser::der_parser::Oid<'_>| alg.as_ref() == Some(o);
    if is(&oids::OID_PKCS1_SHA384WITHRSA) || is(&oids::OID_SIG_ECDSA_WITH_SHA384) {
        Sha384::digest(der).to_vec()
    } else if is(&oids::OID_PKCS1_SHA512WITHRSA) || is(&oids::OID_SIG_ECDSA_WITH_SHA512) {
        Sha512::digest(der).to_vec()
    } else {
        Sha256::digest(der).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_point_of_ecdsa_sha256_certificate_is_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = rtc_tls::ensure_self_signed(dir.path(), &["localhost".into()]).unwrap();
        let der = rtc_tls::load_certificates(&cert).unwrap().remove(0);
        let got = server_end_point(der.as_ref());
        assert_eq!(got, Sha256::digest(der.as_ref()).to_vec());
        assert_eq!(server_end_point(b"not a certificate").len(), 32);
    }
}
