//! The core's configuration: embedded in the daemon's YAML under `sip:`.
//! Every option has a safe default; unknown keys are refused.

use ipnet::IpNet;
use rtc_daemon::ratelimit::RateLimit;
use serde::Deserialize;

use super::error::Error;

/// Everything the core needs to know that is not a listener or a secret.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// Local SIP domains; more may come from the database
    /// ([`super::Core::handle_domains_changed`]). The first one is the domain
    /// of Request-URIs that name one of our IP addresses.
    pub domains: Vec<String>,
    /// Transaction timers (RFC 3261 §17, Table 4).
    pub timers: TimerConfig,
    /// Registrar (RFC 3261 §10.3).
    pub registrar: RegistrarConfig,
    /// Digest authentication (RFC 3261 §22, RFC 8760).
    pub auth: AuthConfig,
    /// Sizes and counts.
    pub limits: LimitConfig,
    /// Per-source flood limit with a temporary ban (kamailio's pike).
    pub flood: FloodConfig,
    /// User-Agent substrings (case-insensitive) whose requests are dropped silently.
    pub scanner_user_agents: Vec<String>,
    /// Which initial requests get a Record-Route (RFC 3261 §16.6 step 4).
    pub record_route: RecordRoute,
    /// Sign the flow of a client behind NAT or on a connection into the
    /// Record-Route, so in-dialog requests reach it (repro's EnableFlowTokens).
    pub flow_tokens: bool,
    /// Answer to the source address and port even without `;rport` (kamailio `force_rport`).
    pub force_rport: bool,
    /// Sources that are neither challenged nor refused relaying (a PBX, a trunk).
    pub trusted_sources: Vec<IpNet>,
    /// Static routes, tried in priority order before the location service.
    pub routes: Vec<RouteConfig>,
    /// Value of the Server header on responses the core generates.
    pub server_header: String,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            domains: Vec::new(),
            timers: TimerConfig::default(),
            registrar: RegistrarConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitConfig::default(),
            flood: FloodConfig::default(),
            scanner_user_agents: DEFAULT_SCANNERS.iter().map(|s| (*s).to_owned()).collect(),
            record_route: RecordRoute::Dialog,
            flow_tokens: true,
            force_rport: true,
            trusted_sources: Vec::new(),
            routes: Vec::new(),
            server_header: "sipd".to_owned(),
        }
    }
}

/// SIP scanners seen in the wild (kamailio's default script drops the first three).
pub const DEFAULT_SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipcli",
    "VaxSIPUserAgent",
    "sipvicious",
    "sundayddr",
    "iWar",
    "sip-scan",
    "SIPScan",
    "smap",
    "pplsip",
];

/// Transaction timer bases (RFC 3261 §17.1.1.1 and Table 4) and the proxy's Timer C (§16.6 step 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimerConfig {
    /// T1, the RTT estimate, in milliseconds (500).
    pub t1_ms: u64,
    /// T2, the retransmit cap for non-INVITE requests and INVITE responses (4000).
    pub t2_ms: u64,
    /// T4, how long a message may linger in the network (5000).
    pub t4_ms: u64,
    /// Timer C, how long an INVITE branch may stay without a final response
    /// (more than 3 minutes per RFC 3261 §16.6; 180).
    pub timer_c_secs: u64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            timer_c_secs: 180,
        }
    }
}

/// Registrar policy (RFC 3261 §10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// Shorter non-zero expirations are refused with 423 (RFC 3261 §10.3 step 7). Default 60.
    pub min_expires: u32,
    /// Longer expirations are shortened to this. Default 86400.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request says. Default 3600.
    pub default_expires: u32,
    /// Most contacts one AoR may hold; more is refused with 403. Default 10.
    pub max_contacts: usize,
    /// The Flow-Timer value sent to RFC 5626 clients, in seconds (RFC 5626 §4.4.1). Default 120.
    pub flow_timer: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 86_400,
            default_expires: 3600,
            max_contacts: 10,
            flow_timer: 120,
        }
    }
}

/// A digest algorithm the server offers (RFC 8760 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum DigestAlgorithm {
    /// SHA-256 (RFC 8760).
    #[serde(rename = "SHA-256")]
    Sha256,
    /// MD5 (RFC 3261 §22.4).
    #[serde(rename = "MD5")]
    Md5,
}

/// Digest authentication settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Challenges offered, most preferred first (RFC 8760 §2.4). Default SHA-256 then MD5.
    pub algorithms: Vec<DigestAlgorithm>,
    /// Seconds a nonce stays valid; older ones get `stale=true`. Default 300.
    pub nonce_lifetime_secs: u64,
    /// Accept RFC 2069 responses without `qop` (old phones). Such nonces are
    /// single-use, so replay is still refused. Default true.
    pub allow_no_qop: bool,
    /// Most nonces whose nonce-count is remembered (replay protection). Default 100000.
    pub max_tracked_nonces: usize,
    /// Failed authentications allowed per source before its credentials are
    /// ignored (dropped). Default burst 10, refilling 1 every 10 s.
    pub failures: RateLimit,
    /// Most sources whose failures are tracked. Default 100000.
    pub max_tracked_sources: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_lifetime_secs: 300,
            allow_no_qop: true,
            max_tracked_nonces: 100_000,
            failures: RateLimit::new(10, 0.1),
            max_tracked_sources: 100_000,
        }
    }
}

/// Bounds on what the network can make the core hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    /// Larger requests are refused with 513 (kamailio REQINIT: 16 KiB).
    pub max_request_bytes: usize,
    /// Longer Request-URIs are refused with 414 (kamailio REQINIT: 512).
    pub max_request_uri_bytes: usize,
    /// Most live server transactions; beyond, new requests get 503. Default 100000.
    pub max_transactions: usize,
    /// Most transactions kept only to absorb retransmissions (Completed,
    /// Confirmed, Accepted); the oldest are dropped first. Default 50000.
    pub max_absorbing: usize,
    /// Most requests parked waiting for the database; beyond, 503. Default 10000.
    pub max_pending_lookups: usize,
    /// Seconds to wait for a database answer before replying 500. Default 5.
    pub lookup_timeout_secs: u64,
    /// Most branches one request is forked to. Default 16.
    pub max_branches: usize,
    /// Closed connections remembered to skip dead flows. Default 65536.
    pub max_closed_connections: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            max_request_bytes: 16 * 1024,
            max_request_uri_bytes: 512,
            max_transactions: 100_000,
            max_absorbing: 50_000,
            max_pending_lookups: 10_000,
            lookup_timeout_secs: 5,
            max_branches: 16,
            max_closed_connections: 65_536,
        }
    }
}

/// kamailio pike: `requests` per `window_secs` from one address, then a ban.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// Turn the limit on. Default true.
    pub enabled: bool,
    /// Requests allowed per window. Default 16.
    pub requests: u32,
    /// The window in seconds. Default 2.
    pub window_secs: u32,
    /// Ban length in seconds. Default 300.
    pub ban_secs: u64,
    /// Sources never limited (trusted sources are exempt too).
    pub exempt: Vec<IpNet>,
    /// Most sources tracked. Default 100000.
    pub max_sources: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            requests: 16,
            window_secs: 2,
            ban_secs: 300,
            exempt: Vec::new(),
            max_sources: 100_000,
        }
    }
}

/// Which initial requests are record-routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordRoute {
    /// INVITE, SUBSCRIBE and REFER, as kamailio's default script.
    Dialog,
    /// Every initial request except REGISTER (repro's ForceRecordRouting).
    All,
}

/// Who may use a static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Callers {
    /// Authenticated local users and trusted sources (the safe default: no toll fraud).
    Local,
    /// Anyone, including unauthenticated callers from other domains.
    Any,
}

/// One static route (repro's Routes page): Request-URI user match, rewrite, destination.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Match users starting with this.
    #[serde(default)]
    pub user_prefix: Option<String>,
    /// Or match users against this regular expression.
    #[serde(default)]
    pub user_regex: Option<String>,
    /// Only for Request-URIs in this local domain (default: any local domain).
    #[serde(default)]
    pub domain: Option<String>,
    /// Characters removed from the start of the user.
    #[serde(default)]
    pub strip: usize,
    /// Text added in front of the (stripped) user.
    #[serde(default)]
    pub prepend: String,
    /// Where to send: a SIP URI such as `sip:pbx.falcot.com:5060;transport=tcp`.
    /// Without a user part, the rewritten user is put in; with one, the URI is used as is.
    pub destination: String,
    /// Lower runs first; ties keep file order.
    #[serde(default)]
    pub priority: i32,
    /// Who may use it. Default `local`.
    #[serde(default = "default_callers")]
    pub callers: Callers,
}

fn default_callers() -> Callers {
    Callers::Local
}

impl CoreConfig {
    /// Check what serde cannot: timer order, positive limits, domain syntax.
    /// Static routes are checked when compiled ([`super::Core::new`]).
    pub fn validate(&self) -> Result<(), Error> {
        let t = &self.timers;
        let timers_ok = (1..=60_000).contains(&t.t1_ms)
            && (t.t1_ms..=600_000).contains(&t.t2_ms)
            && (1..=600_000).contains(&t.t4_ms)
            && (60..=86_400).contains(&t.timer_c_secs);
        if !timers_ok {
            return Err(Error::InvalidTimers);
        }
        let l = &self.limits;
        for (name, v) in [
            ("max_request_bytes", l.max_request_bytes),
            ("max_request_uri_bytes", l.max_request_uri_bytes),
            ("max_transactions", l.max_transactions),
            ("max_absorbing", l.max_absorbing),
            ("max_pending_lookups", l.max_pending_lookups),
            ("max_branches", l.max_branches),
            ("max_closed_connections", l.max_closed_connections),
        ] {
            if v == 0 {
                return Err(Error::ZeroLimit(name));
            }
        }
        if !(1..=3600).contains(&l.lookup_timeout_secs) {
            return Err(Error::OutOfRange("limits.lookup_timeout_secs"));
        }
        let r = &self.registrar;
        if r.min_expires > r.max_expires || r.default_expires == 0 || r.max_contacts == 0 {
            return Err(Error::InvalidRegistrar);
        }
        if self.auth.algorithms.is_empty() || !(1..=86_400).contains(&self.auth.nonce_lifetime_secs)
        {
            return Err(Error::InvalidAuth);
        }
        if self.flood.enabled && (self.flood.requests == 0 || self.flood.window_secs == 0) {
            return Err(Error::ZeroLimit("flood.requests"));
        }
        if self.flood.ban_secs > 7 * 86_400 {
            return Err(Error::OutOfRange("flood.ban_secs"));
        }
        if r.max_expires > 7 * 86_400 || r.flow_timer == 0 {
            return Err(Error::InvalidRegistrar);
        }
        for d in &self.domains {
            if !is_domain_name(d) {
                return Err(Error::InvalidDomain(d.clone()));
            }
        }
        Ok(())
    }
}

/// A host name as RFC 3261 §25.1 `hostname` allows (also accepts IP literals as text).
pub(crate) fn is_domain_name(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && rtc_sip::Host::parse(d.as_bytes()).is_ok()
        && !d.starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_kamailio_figures() {
        let c = CoreConfig::default();
        c.validate().unwrap();
        assert_eq!(c.flood.requests, 16);
        assert_eq!(c.flood.window_secs, 2);
        assert_eq!(c.flood.ban_secs, 300);
        assert_eq!(c.limits.max_request_bytes, 16384);
        assert_eq!(c.limits.max_request_uri_bytes, 512);
        assert_eq!(c.timers.t1_ms, 500);
    }

    #[test]
    fn yaml_with_routes_parses_and_unknown_keys_are_refused() {
        let yaml = "domains: [falcot.com]\n\
                    timers: { t1_ms: 250 }\n\
                    auth: { algorithms: [MD5] }\n\
                    routes:\n  - user_prefix: '9'\n    strip: 1\n    destination: 'sip:pbx.falcot.com:5060;transport=tcp'\n";
        let c: CoreConfig = yaml_serde::from_str(yaml).unwrap();
        c.validate().unwrap();
        assert_eq!(c.timers.t1_ms, 250);
        assert_eq!(c.timers.t2_ms, 4000);
        assert_eq!(c.auth.algorithms, vec![DigestAlgorithm::Md5]);
        assert_eq!(c.routes[0].callers, Callers::Local);
        assert!(yaml_serde::from_str::<CoreConfig>("domain: [x]\n").is_err());
        assert!(yaml_serde::from_str::<CoreConfig>("timers: { t5_ms: 1 }\n").is_err());
    }

    #[test]
    fn values_that_could_overflow_the_clock_are_refused() {
        let mut c = CoreConfig::default();
        c.timers.timer_c_secs = u64::MAX;
        assert_eq!(c.validate(), Err(Error::InvalidTimers));
        let mut c = CoreConfig::default();
        c.flood.ban_secs = u64::MAX;
        assert_eq!(c.validate(), Err(Error::OutOfRange("flood.ban_secs")));
        let mut c = CoreConfig::default();
        c.limits.lookup_timeout_secs = u64::MAX;
        assert_eq!(
            c.validate(),
            Err(Error::OutOfRange("limits.lookup_timeout_secs"))
        );
    }

    #[test]
    fn inconsistent_values_are_refused() {
        let mut c = CoreConfig::default();
        c.timers.t2_ms = 100;
        assert_eq!(c.validate(), Err(Error::InvalidTimers));
        let mut c = CoreConfig::default();
        c.limits.max_branches = 0;
        assert_eq!(c.validate(), Err(Error::ZeroLimit("max_branches")));
        let c = CoreConfig {
            domains: vec!["bad domain".into()],
            ..CoreConfig::default()
        };
        assert!(matches!(c.validate(), Err(Error::InvalidDomain(_))));
    }
}
