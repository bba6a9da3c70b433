//! `s2s:` configuration: authentication policy per remote domain, static
//! routes (the shell's), outgoing queue limits and timers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How a remote domain must authenticate (RFC 6120 §13.7.2, XEP-0178, XEP-0220).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum S2sPolicy {
    /// Only a PKIX-valid certificate for the domain (SASL EXTERNAL, XEP-0178);
    /// Prosody's `s2s_secure_auth = true`.
    RequireValidCertificates,
    /// A valid certificate, or else dialback (XEP-0220) over TLS.
    #[default]
    AllowDialback,
}

/// The `s2s:` section. Missing keys take the documented defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S2sConfig {
    /// Federate at all; when false, stanzas for other domains get
    /// `<remote-server-not-found/>`. Default: true.
    pub enabled: bool,
    /// Policy for domains not listed in `domain_policy`. Default: `allow_dialback`.
    pub default_policy: S2sPolicy,
    /// Per-domain overrides of `default_policy`.
    pub domain_policy: HashMap<String, S2sPolicy>,
    /// Static routes: remote domain to `host:port` (STARTTLS) or
    /// `tls://host:port` (direct TLS), used instead of DNS (tests, private
    /// federations). Default: none.
    pub hosts: HashMap<String, String>,
    /// A PEM file of extra trusted CAs for peer certificates (besides the
    /// system store). Default: none.
    pub ca_file: Option<PathBuf>,
    /// Trust the system CA store (`/etc/ssl/certs/ca-certificates.crt`). Default: true.
    pub system_roots: bool,
    /// Try `_xmpps-server._tcp` (direct TLS, XEP-0368) before `_xmpp-server._tcp`. Default: true.
    pub direct_tls: bool,
    /// Stanzas queued for one remote domain while its stream is being set
    /// up; more are bounced with `<resource-constraint/>`. Default: 256.
    pub max_queued_stanzas: usize,
    /// Bytes queued for one remote domain. Default: 1 MiB.
    pub max_queued_bytes: usize,
    /// Seconds to connect and authenticate before queued stanzas are
    /// bounced with `<remote-server-timeout/>`. Default: 30.
    pub connect_timeout_seconds: u64,
    /// Seconds an authenticated stream may stay silent before it is closed. Default: 600.
    pub idle_timeout_seconds: u64,
    /// Bytes per second read from one server connection; 0 disables the
    /// limit. Default: 30720 (Prosody's 30 KB/s for s2s).
    pub bytes_per_second: u32,
    /// Dialback verifications waiting on one outgoing stream, and
    /// `<db:result/>` requests waiting on one incoming stream (each may make
    /// us connect somewhere). Default: 64.
    pub max_pending_verifications: usize,
    /// Offer and request bidirectional streams (XEP-0288): one connection
    /// carries stanzas both ways when both servers support it. Default: true.
    pub bidi: bool,
}

impl Default for S2sConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_policy: S2sPolicy::default(),
            domain_policy: HashMap::new(),
            hosts: HashMap::new(),
            ca_file: None,
            system_roots: true,
            direct_tls: true,
            max_queued_stanzas: 256,
            max_queued_bytes: 1 << 20,
            connect_timeout_seconds: 30,
            idle_timeout_seconds: 600,
            bytes_per_second: 30 * 1024,
            max_pending_verifications: 64,
            bidi: true,
        }
    }
}

impl S2sConfig {
    /// The policy for `domain`.
    pub fn policy(&self, domain: &str) -> S2sPolicy {
        self.domain_policy
            .get(domain)
            .copied()
            .unwrap_or(self.default_policy)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds.max(1))
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn per_domain_policy_overrides_the_default() {
        let c: S2sConfig = yaml_serde::from_str(
            "default_policy: require_valid_certificates\ndomain_policy: {old.example: allow_dialback}\n",
        )
        .unwrap();
        assert_eq!(c.policy("old.example"), S2sPolicy::AllowDialback);
        assert_eq!(
            c.policy("other.example"),
            S2sPolicy::RequireValidCertificates
        );
        assert!(yaml_serde::from_str::<S2sConfig>("polcy: x\n").is_err());
        assert_eq!(S2sConfig::default().policy("x"), S2sPolicy::AllowDialback);
    }
}
