//! [`CoreConfig`]: what the core needs from the daemon's YAML (policy,
//! limits, timeouts), and [`VirtualHost`]: the hosted domains, which the
//! shell derives from its own host list (where certificates live too).

use std::time::Duration;

use rtc_daemon::ratelimit::RateLimit;
use serde::Deserialize;

use super::error::Error;
use super::jid::Jid;

/// One hosted domain (Prosody's `VirtualHost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualHost {
    /// The domain, e.g. `falcot.com`.
    pub domain: String,
    /// A disabled host is not served: streams to it get `host-unknown`.
    pub enabled: bool,
}

impl VirtualHost {
    /// An enabled host.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            enabled: true,
        }
    }
}

/// What to do when a client binds a resource that is already in use
/// (RFC 6120 §7.7.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Give the new session a different resource (the requested one plus a
    /// random suffix). The old session is untouched.
    #[default]
    NewResource,
    /// Terminate the old session with a `<conflict/>` stream error and give
    /// the new session the requested resource.
    KickOld,
}

/// The core's configuration. Missing keys take the defaults documented on
/// each field; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoreConfig {
    /// Server administrators, as bare JIDs (Prosody's `admins`). Default: none.
    pub admins: Vec<String>,
    /// Refuse authentication before TLS (STARTTLS listener). Default: true.
    pub require_encryption: bool,
    /// Offer SASL PLAIN (only ever over TLS). Default: true.
    pub allow_plain: bool,
    /// Resource conflict policy. Default: `new_resource`.
    pub resource_conflict: ConflictPolicy,
    /// Answer XEP-0092 software version queries. Default: true.
    pub advertise_version: bool,
    /// XML stream limits (stanza sizes: 10,000 bytes before authentication,
    /// 256 KiB after; depth; children; attributes).
    pub stream: rtc_xmlstream::Limits,
    /// Rates, counts and queue sizes.
    pub limits: LimitsConfig,
    /// Timers.
    pub timeouts: TimeoutConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            admins: Vec::new(),
            require_encryption: true,
            allow_plain: true,
            resource_conflict: ConflictPolicy::default(),
            advertise_version: true,
            stream: rtc_xmlstream::Limits::default(),
            limits: LimitsConfig::default(),
            timeouts: TimeoutConfig::default(),
        }
    }
}

/// Limits on what one peer, source or account may use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Bytes per second read from one client connection; 0 disables the
    /// limit. Default: 10240 (Prosody's 10 KB/s for c2s).
    pub c2s_bytes_per_second: u32,
    /// Seconds of traffic a connection may send at once before throttling.
    /// Default: 2.
    pub c2s_burst_seconds: u32,
    /// Concurrent connections from one IP address. Default: 64.
    pub max_connections_per_ip: u32,
    /// New connections from one IP address. Default: burst 32, 4 per second.
    pub connection_rate: RateLimit,
    /// Failed authentications from one IP address before it is refused.
    /// Default: burst 5, one more every 10 seconds.
    pub auth_failures: RateLimit,
    /// Failed SASL attempts on one connection before it is closed. Default: 3.
    pub auth_attempts_per_connection: u32,
    /// Source addresses tracked by the rate limiters. Default: 65536.
    pub max_tracked_sources: usize,
    /// Concurrent sessions (resources) per account. Default: 10.
    pub max_sessions_per_account: usize,
    /// Stored offline messages per account; more are bounced with
    /// `<service-unavailable/>`. Default: 500.
    pub offline_queue: u32,
    /// Roster items per account. Default: 1000.
    pub max_roster_items: usize,
    /// Blocked JIDs per account (XEP-0191). Default: 1000.
    pub max_blocklist_items: usize,
    /// Directed presences tracked per session (RFC 6121 §4.6). Default: 256.
    pub max_directed_presences: usize,
    /// Unacknowledged stanzas kept per stream-managed session (XEP-0198);
    /// beyond it the stream is closed. Default: 500.
    pub sm_max_unacked: usize,
    /// Ask for an acknowledgement after this many unacknowledged stanzas.
    /// Default: 5.
    pub sm_request_after: usize,
    /// Presence updates held for an inactive client (XEP-0352). Default: 256.
    pub csi_max_queued: usize,
    /// Storage requests one connection may have outstanding. Default: 32.
    pub max_pending_requests: usize,
    /// Stanzas waiting for one account's data to load. Default: 256.
    pub max_waiting_per_account: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            c2s_bytes_per_second: 10 * 1024,
            c2s_burst_seconds: 2,
            max_connections_per_ip: 64,
            connection_rate: RateLimit::new(32, 4.0),
            auth_failures: RateLimit::new(5, 0.1),
            auth_attempts_per_connection: 3,
            max_tracked_sources: 65_536,
            max_sessions_per_account: 10,
            offline_queue: 500,
            max_roster_items: 1000,
            max_blocklist_items: 1000,
            max_directed_presences: 256,
            sm_max_unacked: 500,
            sm_request_after: 5,
            csi_max_queued: 256,
            max_pending_requests: 32,
            max_waiting_per_account: 256,
        }
    }
}

/// Timers, in seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Time from connection to a bound resource. Default: 60.
    pub negotiation_seconds: u64,
    /// Idle time after which the server pings a client (XEP-0199). Default: 300.
    pub ping_interval_seconds: u64,
    /// Time to wait for any traffic after a ping before closing the stream
    /// with `<connection-timeout/>`. Default: 60.
    pub ping_timeout_seconds: u64,
    /// How long a detached stream-managed session waits to be resumed
    /// (XEP-0198). Default: 300.
    pub sm_resumption_seconds: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            negotiation_seconds: 60,
            ping_interval_seconds: 300,
            ping_timeout_seconds: 60,
            sm_resumption_seconds: 300,
        }
    }
}

impl TimeoutConfig {
    pub(crate) fn negotiation(&self) -> Duration {
        Duration::from_secs(self.negotiation_seconds)
    }
    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_seconds)
    }
    pub(crate) fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.ping_timeout_seconds)
    }
    pub(crate) fn sm_resumption(&self) -> Duration {
        Duration::from_secs(self.sm_resumption_seconds)
    }
}

impl CoreConfig {
    /// Check values serde cannot: JIDs parse, timers and limits are usable.
    pub fn validate(&self) -> Result<(), Error> {
        for admin in &self.admins {
            let jid = Jid::parse(admin).map_err(|source| Error::Jid {
                jid: admin.clone(),
                source,
            })?;
            if jid.node().is_none() || !jid.is_bare() {
                return Err(Error::Config {
                    key: "admins",
                    problem: "each admin must be a bare JID user@domain",
                });
            }
        }
        let t = &self.timeouts;
        for (key, value) in [
            ("timeouts.negotiation_seconds", t.negotiation_seconds),
            ("timeouts.ping_interval_seconds", t.ping_interval_seconds),
            ("timeouts.ping_timeout_seconds", t.ping_timeout_seconds),
        ] {
            if value == 0 {
                return Err(Error::Config {
                    key,
                    problem: "must be at least 1",
                });
            }
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_sessions_per_account", l.max_sessions_per_account),
            ("limits.sm_max_unacked", l.sm_max_unacked),
            ("limits.sm_request_after", l.sm_request_after),
            ("limits.max_pending_requests", l.max_pending_requests),
        ] {
            if value == 0 {
                return Err(Error::Config {
                    key,
                    problem: "must be at least 1",
                });
            }
        }
        if l.auth_attempts_per_connection == 0 {
            return Err(Error::Config {
                key: "limits.auth_attempts_per_connection",
                problem: "must be at least 1",
            });
        }
        Ok(())
    }

    /// Whether `bare` is listed in [`Self::admins`].
    pub fn is_admin(&self, bare: &Jid) -> bool {
        self.admins
            .iter()
            .filter_map(|a| Jid::parse(a).ok())
            .any(|a| &a == bare)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_yaml_gives_safe_defaults() {
        let c: CoreConfig = yaml_serde::from_str("{}").unwrap();
        assert_eq!(c, CoreConfig::default());
        assert!(c.require_encryption);
        assert_eq!(c.limits.c2s_bytes_per_second, 10240);
        assert_eq!(c.stream.max_stanza_bytes_unauthenticated, 10_000);
        assert_eq!(c.stream.max_stanza_bytes, 262_144);
        assert_eq!(c.timeouts.sm_resumption_seconds, 300);
        c.validate().unwrap();
    }

    #[test]
    fn keys_override_and_unknown_keys_are_refused() {
        let c: CoreConfig = yaml_serde::from_str(
            "admins: [joe@falcot.com]\nresource_conflict: kick_old\nlimits:\n  offline_queue: 5\n",
        )
        .unwrap();
        assert_eq!(c.resource_conflict, ConflictPolicy::KickOld);
        assert_eq!(c.limits.offline_queue, 5);
        assert!(c.is_admin(&Jid::parse("Joe@falcot.com").unwrap()));
        assert!(yaml_serde::from_str::<CoreConfig>("admin: []\n").is_err());
        assert!(yaml_serde::from_str::<CoreConfig>("limits:\n  offline_queu: 1\n").is_err());
    }

    #[test]
    fn invalid_values_are_named() {
        let mut c = CoreConfig {
            admins: vec!["falcot.com".into()],
            ..CoreConfig::default()
        };
        assert!(matches!(c.validate(), Err(Error::Config { key: "admins", .. })));
        c.admins.clear();
        c.timeouts.ping_timeout_seconds = 0;
        assert!(matches!(
            c.validate(),
            Err(Error::Config {
                key: "timeouts.ping_timeout_seconds",
                ..
            })
        ));
    }
}
