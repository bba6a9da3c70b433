//! TLS for client connections: the shared server configs, the record of which
//! certificate was served, and the channel-binding data SCRAM-`-PLUS` needs.
//!
//! - `tls-server-end-point` (RFC 5929 §4.1): the hash of the server
//!   certificate actually sent, with the hash of its signature algorithm;
//!   MD5 and SHA-1 become SHA-256, and so do algorithms without a separate
//!   hash (Ed25519), as other XMPP servers do.
//! - `tls-exporter` (RFC 9266): 32 bytes exported with the label
//!   `EXPORTER-Channel-Binding` and no context, for TLS 1.3 only.
//!
//! rustls reports neither the certificate it chose nor, on its unbuffered
//! connections (see [`super::c2s_tls`]), an exporter. Both are captured while
//! rustls runs: the certificate resolver and the key log of the two derived
//! configs ([`C2sConfigs`]) write into a thread-local slot that the
//! connection arms just before each synchronous `process_tls_records` call
//! and takes just after it ([`Capture`]). Nothing is kept per connection in
//! the configs, so every connection shares one config per ALPN choice, and
//! nothing is left behind when a handshake fails. The key log accepts only
//! `EXPORTER_SECRET`; the secret lives in a zeroizing [`OkmBlock`] until the
//! exporter is computed from it (RFC 8446 §7.5):
//!
//! ```text
//! tls-exporter = HKDF-Expand-Label(
//!     Derive-Secret(exporter_secret, "EXPORTER-Channel-Binding", ""),
//!     "exporter", Hash(""), 32)
//! ```
//!
//! with the negotiated suite's own hash and HKDF. Session resumption is off
//! on these configs: every handshake is a full one, so the certificate is
//! always known.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

use rtc_tls::rustls::crypto::tls13::{expand, HkdfExpander, OkmBlock};
use rtc_tls::rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rtc_tls::rustls::sign::CertifiedKey;
use rtc_tls::rustls::{CommonState, KeyLog, ProtocolVersion, ServerConfig, SupportedCipherSuite, Tls13CipherSuite};
use rtc_tls::TlsServer;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::core::TlsInfo;

/// The ALPN protocol of direct-TLS client connections (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// RFC 9266 §2: the exporter label of `tls-exporter`.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// RFC 9266 §2: `tls-exporter` is 32 bytes long.
const EXPORTER_LEN: usize = 32;
/// The key-log label of the TLS 1.3 exporter master secret (RFC 8446 §7.1).
const EXPORTER_SECRET: &str = "EXPORTER_SECRET";

/// What rustls revealed during one handshake.
#[derive(Default)]
pub(crate) struct Captured {
    cert: Option<Arc<CertifiedKey>>,
    /// Zeroized when dropped.
    exporter_secret: Option<OkmBlock>,
}

impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captured")
            .field("cert", &self.cert.is_some())
            .field("exporter_secret", &self.exporter_secret.is_some())
            .finish()
    }
}

thread_local! {
    /// Armed (`Some`) only while one `process_tls_records` call runs here.
    static SLOT: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

fn with_slot(f: impl FnOnce(&mut Captured)) {
    SLOT.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            if let Some(captured) = slot.as_mut() {
                f(captured);
            }
        }
    });
}

/// The armed slot of this thread; it is emptied when this is dropped. Not
/// `Send`, so it cannot be held across an `.await`.
#[derive(Debug)]
pub(crate) struct Capture {
    _not_send: PhantomData<*const ()>,
}

impl Capture {
    /// Arm the slot for the rustls call that follows.
    pub(crate) fn arm() -> Self {
        SLOT.with(|cell| {
            if let Ok(mut slot) = cell.try_borrow_mut() {
                *slot = Some(Captured::default());
            }
        });
        Self { _not_send: PhantomData }
    }

    /// Disarm the slot and add what it caught to `into`.
    pub(crate) fn finish(self, into: &mut Captured) {
        let got = SLOT.with(|cell| cell.try_borrow_mut().ok().and_then(|mut s| s.take()));
        if let Some(got) = got {
            if got.cert.is_some() {
                into.cert = got.cert;
            }
            if got.exporter_secret.is_some() {
                into.exporter_secret = got.exporter_secret;
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        SLOT.with(|cell| {
            if let Ok(mut slot) = cell.try_borrow_mut() {
                *slot = None;
            }
        });
    }
}

/// Resolves as the shared config does and tells the armed slot its choice.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ResolvesServerCert>,
}

impl ResolvesServerCert for Recording {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self.inner.resolve(hello);
        with_slot(|c| c.cert.clone_from(&key));
        key
    }
}

/// Hands the exporter master secret, and nothing else, to the armed slot.
#[derive(Debug)]
struct ExporterSecretLog;

impl KeyLog for ExporterSecretLog {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        if label == EXPORTER_SECRET && secret.len() <= OkmBlock::MAX_LEN {
            with_slot(|c| c.exporter_secret = Some(OkmBlock::new(secret)));
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == EXPORTER_SECRET
    }
}

/// The two client configs derived from the shared one (with and without
/// ALPN), built once and again only when the shared config is replaced.
#[derive(Debug, Default)]
pub(crate) struct C2sConfigs {
    cache: Mutex<Option<Derived>>,
}

#[derive(Debug)]
struct Derived {
    base: Arc<ServerConfig>,
    alpn: Arc<ServerConfig>,
    plain: Arc<ServerConfig>,
}

impl C2sConfigs {
    /// The config for a client handshake on `server`. `alpn`: offer
    /// `xmpp-client` (direct TLS) or no ALPN at all (STARTTLS).
    pub(crate) fn config(&self, server: &TlsServer, alpn: bool) -> Arc<ServerConfig> {
        let base = server.server_config();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let derived = match cache.take() {
            Some(d) if Arc::ptr_eq(&d.base, &base) => d,
            _ => Derived {
                alpn: Arc::new(derive(&base, true)),
                plain: Arc::new(derive(&base, false)),
                base,
            },
        };
        let config = Arc::clone(if alpn { &derived.alpn } else { &derived.plain });
        *cache = Some(derived);
        config
    }
}

fn derive(base: &ServerConfig, alpn: bool) -> ServerConfig {
    let mut config = base.clone();
    config.cert_resolver = Arc::new(Recording {
        inner: Arc::clone(&base.cert_resolver),
    });
    config.key_log = Arc::new(ExporterSecretLog);
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.alpn_protocols = if alpn { vec![ALPN_XMPP_CLIENT.to_vec()] } else { Vec::new() };
    config
}

/// The channel-binding data of the finished handshake on `conn`.
pub(crate) fn binding(conn: &CommonState, captured: &Captured) -> TlsInfo {
    let server_end_point = captured
        .cert
        .as_ref()
        .and_then(|k| k.cert.first())
        .map(|der| server_end_point(der.as_ref()));
    let exporter = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
        (Some(ProtocolVersion::TLSv1_3), Some(SupportedCipherSuite::Tls13(suite))) => captured
            .exporter_secret
            .as_ref()
            .map(|secret| tls_exporter(suite, secret).to_vec()),
        _ => None,
    };
    TlsInfo {
        server_end_point,
        exporter,
        peer_names: None,
    }
}

/// `TLS-Exporter("EXPORTER-Channel-Binding", "", 32)` (RFC 8446 §7.5,
/// RFC 9266 §2) from the connection's exporter master secret.
fn tls_exporter(suite: &Tls13CipherSuite, exporter_secret: &OkmBlock) -> [u8; EXPORTER_LEN] {
    let hkdf = suite.hkdf_provider;
    let h_empty = suite.common.hash_provider.hash(&[]);
    let secret = hkdf.expander_for_okm(exporter_secret);
    // Derive-Secret(Secret, Label, "") = HKDF-Expand-Label(Secret, Label, Hash(""), Hash.length)
    let derived = expand_label(secret.as_ref(), EXPORTER_LABEL, h_empty.as_ref(), secret.hash_len(), |e, info| {
        e.expand_block(info)
    });
    let derived = hkdf.expander_for_okm(&derived);
    expand_label(derived.as_ref(), b"exporter", h_empty.as_ref(), EXPORTER_LEN, |e, info| {
        expand::<[u8; EXPORTER_LEN], EXPORTER_LEN>(e, info)
    })
}

/// `HKDF-Expand-Label` (RFC 8446 §7.1): `f` expands `len` bytes with the
/// `HkdfLabel` built from `label` and `context` (both short here).
fn expand_label<T>(
    expander: &dyn HkdfExpander,
    label: &[u8],
    context: &[u8],
    len: usize,
    f: impl FnOnce(&dyn HkdfExpander, &[&[u8]]) -> T,
) -> T {
    const PREFIX: &[u8] = b"tls13 ";
    let length = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    let label_len = [u8::try_from(PREFIX.len() + label.len()).unwrap_or(u8::MAX)];
    let context_len = [u8::try_from(context.len()).unwrap_or(u8::MAX)];
    f(expander, &[&length, &label_len, PREFIX, label, &context_len, context])
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

    #[test]
    fn connections_share_one_config_per_alpn_choice() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = rtc_tls::ensure_self_signed(dir.path(), &["localhost".into()]).unwrap();
        let server = TlsServer::new(&rtc_tls::TlsConfig::single(cert, key), &[]).unwrap();
        let configs = C2sConfigs::default();
        let a = configs.config(&server, true);
        assert!(Arc::ptr_eq(&a, &configs.config(&server, true)));
        let b = configs.config(&server, false);
        assert!(Arc::ptr_eq(&b, &configs.config(&server, false)));
        assert_eq!(a.alpn_protocols, vec![ALPN_XMPP_CLIENT.to_vec()]);
        assert!(b.alpn_protocols.is_empty());
        assert_eq!(a.send_tls13_tickets, 0);
    }

    #[test]
    fn nothing_is_captured_unless_armed() {
        ExporterSecretLog.log(EXPORTER_SECRET, &[], &[7; 32]);
        let guard = Capture::arm();
        let mut got = Captured::default();
        guard.finish(&mut got);
        assert!(got.exporter_secret.is_none());
        let guard = Capture::arm();
        assert!(!ExporterSecretLog.will_log("CLIENT_TRAFFIC_SECRET_0"));
        ExporterSecretLog.log(EXPORTER_SECRET, &[], &[7; 32]);
        guard.finish(&mut got);
        assert_eq!(got.exporter_secret.as_ref().map(|s| s.as_ref().to_vec()), Some(vec![7; 32]));
        ExporterSecretLog.log(EXPORTER_SECRET, &[], &[8; 32]);
        assert!(SLOT.with(|s| s.borrow().is_none()));
    }
}
