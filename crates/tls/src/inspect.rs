//! Certificate inspection for the daemons' `check` commands.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Result, TlsError};
use crate::names;
use crate::pem::{parse_chain, read_limited};

/// What an administrator wants to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name, as text.
    pub subject: String,
    /// Issuer distinguished name, as text.
    pub issuer: String,
    /// Start of the validity period.
    pub not_before: SystemTime,
    /// End of the validity period.
    pub not_after: SystemTime,
    /// DNS names from subjectAltName, as written in the certificate.
    pub dns_names: Vec<String>,
    /// IP addresses from subjectAltName.
    pub ip_addresses: Vec<IpAddr>,
}

fn unix_to_system(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

impl CertInfo {
    /// Parse one DER certificate. The error is the parser's message.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        if let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => ip_addresses.extend(ip_from_bytes(bytes)),
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: unix_to_system(validity.not_before.timestamp()),
            not_after: unix_to_system(validity.not_after.timestamp()),
            dns_names,
            ip_addresses,
        })
    }

    /// Whether the certificate is valid for `name` (a host name or an IP address).
    ///
    /// Wildcards cover exactly one label, as in TLS server-name matching.
    pub fn covers(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        self.dns_names
            .iter()
            .filter_map(|pattern| names::normalize(pattern))
            .any(|pattern| names::matches(&pattern, name))
    }

    /// Time left until expiry at `now`; `None` when already expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.not_after
            .duration_since(now)
            .ok()
            .filter(|d| !d.is_zero())
    }

    /// Whether the certificate is inside its validity period at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// Inspect every certificate of a PEM file, leaf first.
pub fn inspect_pem_file(path: &Path) -> Result<Vec<CertInfo>> {
    let chain = parse_chain(path, &read_limited(path)?)?;
    chain
        .iter()
        .map(|der| {
            CertInfo::from_der(der).map_err(|detail| TlsError::BadCertificate {
                path: path.to_path_buf(),
                detail,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(names: &[&str]) -> CertInfo {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).unwrap();
        CertInfo::from_der(ck.cert.der()).unwrap()
    }

    #[test]
    fn san_names_and_addresses_are_reported() {
        let i = info(&["example.org", "*.example.org", "192.0.2.7"]);
        assert_eq!(i.dns_names, vec!["example.org", "*.example.org"]);
        assert_eq!(i.ip_addresses, vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn covers_checks_exact_wildcard_and_ip() {
        let i = info(&["example.org", "*.example.org", "192.0.2.7"]);
        assert!(i.covers("example.org"));
        assert!(i.covers("conference.EXAMPLE.org"));
        assert!(!i.covers("a.conference.example.org"));
        assert!(!i.covers("example.net"));
        assert!(i.covers("192.0.2.7"));
        assert!(!i.covers("192.0.2.8"));
    }

    #[test]
    fn validity_period_is_exposed() {
        let i = info(&["example.org"]);
        let now = SystemTime::now();
        assert!(i.is_valid_at(now));
        assert!(i.remaining(now).is_some());
        assert!(i.remaining(i.not_after).is_none());
        assert!(!i.is_valid_at(i.not_after));
    }

    #[test]
    fn garbage_der_is_an_error() {
        assert!(CertInfo::from_der(b"\x30\x03\x02\x01").is_err());
    }
}
