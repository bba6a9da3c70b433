//! Configuration of the TURN core, with safe defaults.
//!
//! The shell's YAML configuration embeds [`CoreConfig`] (`deny_unknown_fields`
//! everywhere). Every field has a default, so an empty mapping is a working,
//! locked-down server: long-term credentials required, private and loopback
//! peers refused, 10 allocations per user.

use std::net::SocketAddr;

use ipnet::IpNet;
use rtc_daemon::ratelimit::RateLimit;
use serde::Deserialize;

/// Everything the core needs to know; shared by all workers as an `Arc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// The REALM of long-term credentials (RFC 8489 §14.9).
    pub realm: String,
    /// SOFTWARE attribute in responses (RFC 8489 §14.14); `None` leaves it out.
    pub software: Option<String>,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Allocation lifetimes and quotas.
    pub allocation: AllocationConfig,
    /// Which peers relays may reach.
    pub peers: PeerFilterConfig,
    /// RFC 5780 NAT behaviour discovery; off unless an alternate address is set.
    pub rfc5780: Option<Rfc5780Config>,
    /// Limits on what unauthenticated sources may make the server do.
    pub limits: LimitsConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            realm: "turnd".to_owned(),
            software: Some("turnd".to_owned()),
            auth: AuthConfig::default(),
            allocation: AllocationConfig::default(),
            peers: PeerFilterConfig::default(),
            rfc5780: None,
            limits: LimitsConfig::default(),
        }
    }
}

/// A password algorithm (RFC 8489 §18.5), in preference order when listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordAlgorithm {
    /// MD5(username ":" realm ":" password) (RFC 8489 §18.5.1.1).
    Md5,
    /// SHA-256(username ":" realm ":" password) (RFC 8489 §18.5.1.2).
    #[serde(rename = "sha256", alias = "sha-256")]
    Sha256,
}

impl PasswordAlgorithm {
    /// The registered code point (RFC 8489 §18.5).
    pub const fn code(self) -> u16 {
        match self {
            Self::Md5 => 0x0001,
            Self::Sha256 => 0x0002,
        }
    }

    /// The algorithm for a code point, if known.
    pub const fn from_code(code: u16) -> Option<Self> {
        match code {
            0x0001 => Some(Self::Md5),
            0x0002 => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// How clients prove who they are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accept long-term credentials whose keys the shell looks up (RFC 8489 §9.2).
    pub long_term: bool,
    /// TURN REST credentials (coturn `--use-auth-secret`); off when `None`.
    pub rest: Option<RestConfig>,
    /// Serve TURN without any authentication. Never do this on a public server.
    pub anonymous: bool,
    /// Seconds a nonce stays valid before 438 Stale Nonce (RFC 8489 §9.2.4).
    pub nonce_lifetime_secs: u64,
    /// Password algorithms offered in PASSWORD-ALGORITHMS, most preferred first
    /// (RFC 8489 §14.11). Keys imported from coturn are MD5-only: list `md5` alone
    /// for such a database unless SHA-256 keys have been generated.
    pub password_algorithms: Vec<PasswordAlgorithm>,
    /// Seconds a looked-up key stays cached; keep short so new or deleted users
    /// take effect without a restart (`Server::forget_keys` clears at once).
    pub key_cache_ttl_secs: u64,
    /// Most keys cached per worker.
    pub key_cache_capacity: usize,
    /// Most requests parked while the shell looks keys up, per worker.
    pub max_pending_lookups: usize,
    /// Seconds to wait for the shell's key answer before dropping the request.
    pub lookup_timeout_secs: u64,
    /// Authentication failures allowed per source IP, counted over all workers:
    /// after the burst, requests carrying credentials from that IP are dropped
    /// unanswered and unverified until the bucket refills.
    pub failure_limit: RateLimit,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            long_term: true,
            rest: None,
            anonymous: false,
            nonce_lifetime_secs: 600,
            password_algorithms: vec![PasswordAlgorithm::Sha256, PasswordAlgorithm::Md5],
            key_cache_ttl_secs: 60,
            key_cache_capacity: 10_000,
            max_pending_lookups: 1024,
            lookup_timeout_secs: 5,
            failure_limit: RateLimit::new(10, 0.1),
        }
    }
}

/// TURN REST API credentials: `<unix-expiry>:<user>` / base64(HMAC-SHA1(secret, username)).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestConfig {
    /// Shared secrets from the configuration file; any of them may sign.
    pub static_secrets: Vec<String>,
    /// Also ask the shell for per-realm secrets from the database.
    pub database_secrets: bool,
    /// Separator between the expiry timestamp and the user name.
    pub separator: char,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self { static_secrets: Vec::new(), database_secrets: false, separator: ':' }
    }
}

/// Allocation lifetimes, quotas and relay families.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocationConfig {
    /// Lifetime granted when the client asks for less or nothing (RFC 8656 §7.2).
    pub default_lifetime_secs: u32,
    /// Longest lifetime granted (RFC 8656 §7.2).
    pub max_lifetime_secs: u32,
    /// Allocations one user may hold at once (per realm); 0 means no limit.
    pub user_quota: u32,
    /// Allocations the whole server may hold at once; 0 means no limit.
    pub total_quota: u32,
    /// Relayed bytes per second per allocation, both directions together; 0 means no limit.
    pub max_bps: u64,
    /// Permissions one allocation may hold (RFC 8656 §9: 508 beyond it).
    pub max_permissions: usize,
    /// Channel bindings one allocation may hold (at most 16384 by numbering).
    pub max_channels: usize,
    /// Offer IPv4 relayed addresses (RFC 8656 §7.2 step 7).
    pub relay_ipv4: bool,
    /// Offer IPv6 relayed addresses (RFC 6156).
    pub relay_ipv6: bool,
    /// Offer TCP allocations (RFC 6062).
    pub tcp_relay: bool,
    /// Most peer TCP connections per TCP allocation (RFC 6062).
    pub max_tcp_connections: usize,
}

impl Default for AllocationConfig {
    fn default() -> Self {
        Self {
            default_lifetime_secs: 600,
            max_lifetime_secs: 3600,
            user_quota: 10,
            total_quota: 10_000,
            max_bps: 0,
            max_permissions: 64,
            max_channels: 256,
            relay_ipv4: true,
            relay_ipv6: true,
            tcp_relay: true,
            max_tcp_connections: 32,
        }
    }
}

/// Peer address policy; see [`super::peer_filter`] for the exact semantics.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerFilterConfig {
    /// Ranges relayed to even though the default deny list covers them.
    pub allow: Vec<IpNet>,
    /// Ranges refused on top of the default deny list.
    pub deny: Vec<IpNet>,
}

/// RFC 5780 behaviour discovery: the server listens on two IPs and two ports.
///
/// A request received on `primary.ip()` is answered as if the other IP were
/// `alternate.ip()` and vice versa; likewise for the ports. The shell must listen
/// on all four combinations for CHANGE-REQUEST to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfc5780Config {
    /// The primary listening address.
    pub primary: SocketAddr,
    /// The alternate address: a second IP and a second port.
    pub alternate: SocketAddr,
}

/// Limits protecting the server from unauthenticated and abusive traffic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests answered without authentication (Binding, 401 challenges) per
    /// source IP; above it they are dropped.
    pub unauthenticated: RateLimit,
    /// Source IPs tracked by each rate limiter: per worker for
    /// `unauthenticated`, for the whole server for `auth.failure_limit`.
    pub max_tracked_sources: usize,
    /// Allocations whose relay addresses are still being bound, per worker.
    pub max_pending_allocations: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            unauthenticated: RateLimit::new(100, 20.0),
            max_tracked_sources: 65_536,
            max_pending_allocations: 1024,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_yaml_gives_the_safe_defaults() {
        let c: CoreConfig = yaml_serde::from_str("{}").unwrap();
        assert_eq!(c, CoreConfig::default());
        assert!(c.auth.long_term);
        assert!(!c.auth.anonymous);
        assert!(c.peers.allow.is_empty());
        assert_eq!(c.allocation.user_quota, 10);
    }

    #[test]
    fn full_yaml_parses() {
        let y = r#"
realm: example.org
software: null
auth:
  rest: { static_secrets: [s3cret], database_secrets: true }
  password_algorithms: [md5]
  failure_limit: { burst: 3, per_second: 0.5 }
allocation: { user_quota: 0, max_bps: 125000 }
peers: { allow: [127.0.0.1/32], deny: ["2001:db8:1::/48"] }
rfc5780: { primary: "192.0.2.1:3478", alternate: "192.0.2.2:3479" }
"#;
        let c: CoreConfig = yaml_serde::from_str(y).unwrap();
        assert_eq!(c.realm, "example.org");
        assert_eq!(c.software, None);
        assert_eq!(c.auth.rest.as_ref().unwrap().static_secrets, vec!["s3cret".to_owned()]);
        assert_eq!(c.auth.password_algorithms, vec![PasswordAlgorithm::Md5]);
        assert_eq!(c.allocation.max_bps, 125_000);
        assert_eq!(c.peers.allow.len(), 1);
        assert!(c.rfc5780.is_some());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(yaml_serde::from_str::<CoreConfig>("relm: x").is_err());
        assert!(yaml_serde::from_str::<CoreConfig>("auth: { anonymus: true }").is_err());
    }
}
