//! The `sipd` configuration file (`/etc/sipd/sipd.yaml`), shared with `sipctl`.
//!
//! Every section and key is optional and has a safe default; every mapping
//! rejects unknown keys. [`SipdConfig::load`] parses the file, fills in the
//! default listeners and validates the result, reporting every problem as
//! `FILE[:LINE:COLUMN]: KEY: MESSAGE` through [`rtc_daemon::Error`].
//!
//! The shell's own keys are `log`, `workers`, `database`, `location`, `secret_file`, `listeners`,
//! `connections`, `db_poll_secs`, `metrics` and `shutdown_grace_secs`. The
//! core's keys (`domains`, `timers`, `registrar`, `auth`, `limits`, `flood`,
//! `scanner_user_agents`, `record_route`, `flow_tokens`, `force_rport`,
//! `trusted_sources`, `routes`, `server_header`) sit at the top level too and
//! become a [`CoreConfig`] through [`SipdConfig::core_config`]. The commented
//! sample in `deploy/sipd/sipd.yaml` documents every key with its default.

mod validate;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use rtc_daemon::cli::{CheckReport, EXIT_CONFIG_ERROR};
use rtc_daemon::ratelimit::RateLimit;
use rtc_daemon::{MetricsConfig, Proto};
use rtc_tls::TlsConfig;
use rtc_userdb::DatabaseConfig;

pub use crate::shell::LocationConfig;
use serde::Deserialize;

use crate::core::{
    AuthConfig, CoreConfig, FloodConfig, LimitConfig, RecordRoute, RegistrarConfig, RouteConfig, TimerConfig, Transport,
};

/// The error of loading or validating a configuration file.
pub type ConfigError = rtc_daemon::Error;

/// Where `sipd` and `sipctl` look for the configuration by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sipd/sipd.yaml";
/// The default SQLite database (inside systemd's `StateDirectory=sipd`).
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/sipd/sipd.sqlite";
/// The default file holding the key of nonces, flow tokens and Record-Route
/// signatures (created on first start; keep it across restarts).
pub const DEFAULT_SECRET_PATH: &str = "/var/lib/sipd/secret";
/// The standard SIP port over UDP and TCP (RFC 3261 §19.1.2).
pub const DEFAULT_PORT: u16 = 5060;
/// The WebSocket path served when `ws_path` is absent.
pub const DEFAULT_WS_PATH: &str = "/";

/// The whole configuration of `sipd`, defaults filled in and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SipdConfig {
    /// Log filter (`info`, `sipd=debug`...); a non-empty `RUST_LOG` overrides it.
    pub log: String,
    /// Runtime threads for sockets and connections; 0 means one per CPU core.
    pub workers: usize,
    /// The subscriber, location and route database, shared with `sipctl`.
    pub database: DatabaseConfig,
    /// Group commit and cache of the location service.
    pub location: LocationConfig,
    /// The server key file (32 random bytes as hex, mode 0600, created when
    /// missing). Nodes sharing a database should share it too.
    pub secret_file: PathBuf,
    /// Sockets to listen on; never empty after loading.
    pub listeners: Vec<ListenerConfig>,
    /// Limits on stream connections (TCP, TLS, WS, WSS).
    pub connections: ConnectionLimits,
    /// Seconds between checks of the database for domains and static routes
    /// changed by `sipctl` (SIGHUP checks at once).
    pub db_poll_secs: u64,
    /// The Prometheus endpoint; `listen: None` means off.
    pub metrics: MetricsConfig,
    /// Seconds allowed for transactions to finish on SIGTERM.
    pub shutdown_grace_secs: u64,
    /// The core's part, with `routes` from the file only (the database's
    /// static routes are added at run time).
    pub core: CoreConfig,
}

/// The transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProto {
    /// SIP over UDP (RFC 3261 §18).
    Udp,
    /// SIP over TCP (RFC 3261 §18).
    Tcp,
    /// SIP over TLS over TCP (RFC 3261 §26.2, RFC 5630).
    Tls,
    /// SIP over WebSocket (RFC 7118).
    Ws,
    /// SIP over secure WebSocket (RFC 7118).
    Wss,
}

impl ListenerProto {
    /// The transport as announced in logs and the `READY` line.
    pub fn proto(self) -> Proto {
        match self {
            Self::Udp => Proto::Udp,
            Self::Tcp => Proto::Tcp,
            Self::Tls => Proto::Tls,
            Self::Ws => Proto::Ws,
            Self::Wss => Proto::Wss,
        }
    }

    /// The core's name for the transport.
    pub fn transport(self) -> Transport {
        match self {
            Self::Udp => Transport::Udp,
            Self::Tcp => Transport::Tcp,
            Self::Tls => Transport::Tls,
            Self::Ws => Transport::Ws,
            Self::Wss => Transport::Wss,
        }
    }

    /// TLS and WSS need a certificate.
    pub fn needs_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// WS and WSS speak HTTP first.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// One listening socket (repro's `TransportN` block).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Transport.
    pub proto: ListenerProto,
    /// Address and port; port 0 picks a free port (tests).
    pub addr: SocketAddr,
    /// `host[:port]` written in Via and the default Record-Route (the public
    /// name or address behind NAT). Default: the bound address.
    #[serde(default)]
    pub advertised: Option<String>,
    /// Record-Route URI for this listener, e.g. `sip:sip.falcot.com;transport=tls`
    /// (repro's `RecordRouteUri`). Default: derived from `advertised`.
    #[serde(default)]
    pub record_route: Option<String>,
    /// The certificates of a `tls` or `wss` listener, chosen by SNI.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The HTTP path WebSocket clients connect to (`ws`, `wss`). Default `/`.
    #[serde(default)]
    pub ws_path: Option<String>,
}

impl ListenerConfig {
    /// A listener on `addr` with everything else defaulted.
    pub fn new(proto: ListenerProto, addr: SocketAddr) -> Self {
        Self { proto, addr, advertised: None, record_route: None, tls: None, ws_path: None }
    }

    /// The WebSocket path (`/` unless configured).
    pub fn ws_path(&self) -> &str {
        self.ws_path.as_deref().unwrap_or(DEFAULT_WS_PATH)
    }
}

/// The `connections:` section: limits on stream connections.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Open connections allowed from one IP address (all listeners). Default 64.
    pub max_per_ip: u32,
    /// Open connections allowed in total. Default 16384.
    pub max_total: u32,
    /// New connections per IP address: burst and refill per second. Default 32, 8/s.
    pub accept_rate: RateLimit,
    /// Seconds for the TLS and WebSocket handshakes. Default 10.
    pub handshake_secs: u64,
    /// Seconds a started message may take to arrive completely; slower
    /// connections (slow-trickle attacks) are closed. Default 10.
    pub message_secs: u64,
    /// Seconds without any byte (CRLF keepalives count) before a connection is
    /// closed. Default 3900, above the default registration lifetime.
    pub idle_secs: u64,
    /// Largest message (header section and body) on a stream or in one
    /// WebSocket message; a larger one closes the connection. Default 65535.
    pub max_message_bytes: usize,
    /// Bytes queued for writing on one connection before further messages to
    /// it fail. Default 1 MiB.
    pub max_queued_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_per_ip: 64,
            max_total: 16_384,
            accept_rate: RateLimit::new(32, 8.0),
            handshake_secs: 10,
            message_secs: 10,
            idle_secs: 3900,
            max_message_bytes: 65_535,
            max_queued_bytes: 1 << 20,
        }
    }
}

/// The file as written, before the defaults that depend on other keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_log")]
    log: String,
    #[serde(default)]
    workers: usize,
    #[serde(default = "default_database")]
    database: DatabaseConfig,
    #[serde(default)]
    location: LocationConfig,
    #[serde(default = "default_secret_file")]
    secret_file: PathBuf,
    #[serde(default)]
    listeners: Option<Vec<ListenerConfig>>,
    #[serde(default)]
    connections: ConnectionLimits,
    #[serde(default = "default_db_poll_secs")]
    db_poll_secs: u64,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default = "default_shutdown_grace_secs")]
    shutdown_grace_secs: u64,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    timers: TimerConfig,
    #[serde(default)]
    registrar: RegistrarConfig,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    limits: LimitConfig,
    #[serde(default)]
    flood: FloodConfig,
    #[serde(default = "default_scanners")]
    scanner_user_agents: Vec<String>,
    #[serde(default = "default_record_route")]
    record_route: RecordRoute,
    #[serde(default = "default_true")]
    flow_tokens: bool,
    #[serde(default = "default_true")]
    force_rport: bool,
    #[serde(default)]
    trusted_sources: Vec<IpNet>,
    #[serde(default)]
    routes: Vec<RouteConfig>,
    #[serde(default = "default_server_header")]
    server_header: String,
}

impl SipdConfig {
    /// Read, complete and validate the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml(path)?;
        Self::from_raw(path, raw)
    }

    /// [`SipdConfig::load`] on text; `path` only names the source in errors.
    pub fn from_yaml_str(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml_str(path, text)?;
        Self::from_raw(path, raw)
    }

    /// `--check-config` without certificates: `configuration OK: PATH` and
    /// status 0, or the error and status [`EXIT_CONFIG_ERROR`].
    pub fn check_report(path: &Path) -> CheckReport {
        match Self::load(path) {
            Ok(_) => CheckReport { status: 0, message: format!("configuration OK: {}", path.display()) },
            Err(e) => CheckReport { status: EXIT_CONFIG_ERROR, message: e.to_string() },
        }
    }

    /// The core's configuration.
    pub fn core_config(&self) -> CoreConfig {
        self.core.clone()
    }

    fn from_raw(path: &Path, raw: RawConfig) -> Result<Self, ConfigError> {
        let core = CoreConfig {
            domains: raw.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            timers: raw.timers,
            registrar: raw.registrar,
            auth: raw.auth,
            limits: raw.limits,
            flood: raw.flood,
            scanner_user_agents: raw.scanner_user_agents,
            record_route: raw.record_route,
            flow_tokens: raw.flow_tokens,
            force_rport: raw.force_rport,
            trusted_sources: raw.trusted_sources,
            routes: raw.routes,
            server_header: raw.server_header,
        };
        let config = Self {
            log: raw.log,
            workers: raw.workers,
            database: raw.database,
            location: raw.location,
            secret_file: raw.secret_file,
            listeners: raw.listeners.unwrap_or_else(default_listeners),
            connections: raw.connections,
            db_poll_secs: raw.db_poll_secs,
            metrics: raw.metrics,
            shutdown_grace_secs: raw.shutdown_grace_secs,
            core,
        };
        validate::check(path, &config)?;
        Ok(config)
    }
}

/// What `sipctl` needs from the daemon's file: the database and the domains.
///
/// The file is parsed exactly as for the daemon (unknown keys and bad values
/// are still errors with file, line and key) but the cross-key checks are
/// skipped, so users can be managed while, say, a certificate is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// The database.
    pub database: DatabaseConfig,
    /// The configured domains, lower-case; the first is `sipctl`'s default.
    pub domains: Vec<String>,
}

impl AdminSettings {
    /// Parse the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml(path)?;
        Ok(Self { database: raw.database, domains: raw.domains.iter().map(|d| d.to_ascii_lowercase()).collect() })
    }
}

/// UDP and TCP on port 5060 of every IPv4 and IPv6 address.
pub fn default_listeners() -> Vec<ListenerConfig> {
    let mut out = Vec::new();
    for ip in [IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)] {
        for proto in [ListenerProto::Udp, ListenerProto::Tcp] {
            out.push(ListenerConfig::new(proto, SocketAddr::new(ip, DEFAULT_PORT)));
        }
    }
    out
}

fn default_log() -> String {
    "info".to_owned()
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig::sqlite(DEFAULT_SQLITE_PATH)
}

fn default_secret_file() -> PathBuf {
    PathBuf::from(DEFAULT_SECRET_PATH)
}

fn default_db_poll_secs() -> u64 {
    5
}

fn default_shutdown_grace_secs() -> u64 {
    10
}

fn default_scanners() -> Vec<String> {
    CoreConfig::default().scanner_user_agents
}

fn default_record_route() -> RecordRoute {
    CoreConfig::default().record_route
}

fn default_true() -> bool {
    true
}

fn default_server_header() -> String {
    CoreConfig::default().server_header
}

#[cfg(test)]
mod tests;
