//! Serde types for the `tls:` section that every daemon's YAML file shares.

use std::path::PathBuf;

use serde::Deserialize;

/// TLS settings of one daemon: the certificates it may serve.
///
/// ```yaml
/// tls:
///   certificates:
///     - cert: /etc/xmppd/example.org.pem      # chain: leaf first, then intermediates
///       key: /etc/xmppd/example.org.key
///     - cert: /etc/xmppd/other.net.pem
///       key: /etc/xmppd/other.net.key
///       names: [other.net, "*.other.net"]     # optional; default: the certificate's DNS SANs
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificates served by SNI. The first one is also the default, served
    /// when the client sends no server name or one that no certificate covers.
    pub certificates: Vec<CertificateConfig>,
}

impl TlsConfig {
    /// A configuration with a single certificate and key.
    pub fn single(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            certificates: vec![CertificateConfig::new(cert, key)],
        }
    }
}

/// One certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// PEM file with the end-entity certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Server names this certificate is chosen for (exact or `*.domain`).
    /// When absent, the DNS names in the certificate's subjectAltName are used.
    #[serde(default)]
    pub names: Option<Vec<String>>,
}

impl CertificateConfig {
    /// A certificate whose names come from its subjectAltName.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            names: None,
        }
    }

    /// Override the names the certificate is selected for.
    pub fn with_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names = Some(names.into_iter().map(Into::into).collect());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_names_override_parses() {
        let yaml = "certificates:\n  - cert: /a.pem\n    key: /a.key\n  - cert: /b.pem\n    key: /b.key\n    names: [b.example, \"*.b.example\"]\n";
        let cfg: TlsConfig = yaml_serde::from_str(yaml).unwrap();
        assert_eq!(cfg.certificates.len(), 2);
        assert_eq!(
            cfg.certificates[0],
            CertificateConfig::new("/a.pem", "/a.key")
        );
        assert_eq!(
            cfg.certificates[1].names.as_deref(),
            Some(&["b.example".to_string(), "*.b.example".to_string()][..])
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let yaml = "certificates:\n  - cert: /a.pem\n    key: /a.key\n    chain: /c.pem\n";
        let err = yaml_serde::from_str::<TlsConfig>(yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `chain`"), "{err}");
    }
}
