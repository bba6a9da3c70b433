//! The `turnd` configuration file (`/etc/turnd/turnd.yaml`), shared with `turnadmin`.
//!
//! Every section and key is optional and has a safe default; every mapping
//! rejects unknown keys. [`TurndConfig::load`] parses the file, fills in the
//! defaults that depend on other keys (the listeners, the relay addresses) and
//! validates the result, reporting every problem as `FILE[:LINE:COLUMN]: KEY:
//! MESSAGE` through [`rtc_daemon::Error`].
//!
//! The core's own keys (`realm`, `software`, `auth`, `allocation`, `peers`,
//! `rfc5780`, and `limits` but for its `tcp_*` keys, which the shell
//! enforces) sit at the top level and become a
//! [`CoreConfig`] through
//! [`TurndConfig::core_config`]. The commented sample in
//! `deploy/turnd/turnd.yaml` documents every key with its default.

mod limits;
mod validate;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rtc_daemon::cli::{CheckReport, EXIT_CONFIG_ERROR};
use rtc_daemon::{MetricsConfig, Proto};
use rtc_tls::CertificateConfig;
use rtc_userdb::DatabaseConfig;
use serde::Deserialize;

pub use limits::{
    StreamLimits, DEFAULT_TCP_CONNECTION_RATE, DEFAULT_TCP_FIRST_MESSAGE_SECS,
    DEFAULT_TCP_MAX_CONNECTIONS_PER_IP, DEFAULT_TCP_MAX_FRAME_BYTES, DEFAULT_TCP_MAX_QUEUED_BYTES,
};

use crate::core::config::{
    AllocationConfig, AuthConfig, CoreConfig, LimitsConfig, PeerFilterConfig, Rfc5780Config,
};

/// The error of loading or validating a configuration file.
pub type ConfigError = rtc_daemon::Error;

/// Where `turnd` and `turnadmin` look for the configuration by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/turnd/turnd.yaml";
/// The default SQLite database (inside systemd's `StateDirectory=turnd`).
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/turnd/turnd.sqlite";
/// The default directory of a generated self-signed certificate.
pub const DEFAULT_SELF_SIGNED_DIR: &str = "/var/lib/turnd/tls";
/// The standard STUN/TURN port over UDP and TCP (RFC 8489 §6).
pub const DEFAULT_PORT: u16 = 3478;
/// The standard STUN/TURN port over TLS (RFC 8489 §6).
pub const DEFAULT_TLS_PORT: u16 = 5349;
/// First port of the default relay range (RFC 8656 §7.2: 49152-65535).
pub const DEFAULT_RELAY_PORT_MIN: u16 = 49152;
/// Last port of the default relay range.
pub const DEFAULT_RELAY_PORT_MAX: u16 = 65535;

/// The whole configuration of `turnd`, defaults filled in and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TurndConfig {
    /// Log filter (`info`, `turnd=debug`...); a non-empty `RUST_LOG` overrides it.
    pub log: String,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// The account database, shared with `turnadmin`.
    pub database: DatabaseConfig,
    /// Sockets to listen on; never empty after loading.
    pub listeners: Vec<ListenerConfig>,
    /// Certificates for TLS listeners.
    pub tls: Option<TlsSection>,
    /// Relay sockets: addresses, NAT mappings and port range. After loading,
    /// `relay.addresses` is never empty and holds no wildcard address.
    pub relay: RelayConfig,
    /// The Prometheus endpoint; `listen: None` means off.
    pub metrics: MetricsConfig,
    /// Seconds allowed for allocations to drain on SIGTERM.
    pub shutdown_grace_secs: u64,
    /// The REALM of long-term credentials (RFC 8489 §14.9).
    pub realm: String,
    /// SOFTWARE attribute in responses (RFC 8489 §14.14); `None` leaves it out.
    pub software: Option<String>,
    /// Authentication settings of the core.
    pub auth: AuthConfig,
    /// Allocation lifetimes and quotas.
    pub allocation: AllocationConfig,
    /// Which peers relays may reach.
    pub peers: PeerFilterConfig,
    /// RFC 5780 NAT behaviour discovery; off when absent.
    pub rfc5780: Option<Rfc5780Config>,
    /// Limits on unauthenticated and abusive traffic (the core's keys of `limits:`).
    pub limits: LimitsConfig,
    /// Limits on client TCP/TLS connections (the `tcp_*` keys of `limits:`).
    pub stream_limits: StreamLimits,
}

/// The transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProto {
    /// STUN/TURN over UDP (RFC 8489 §6.2.1).
    Udp,
    /// STUN/TURN over TCP (RFC 8489 §6.2.2).
    Tcp,
    /// STUN/TURN over TLS-over-TCP (RFC 8489 §6.2.3); ALPN `stun.turn` (RFC 7443).
    Tls,
}

impl ListenerProto {
    /// The transport as announced in logs and the `READY` line.
    pub fn proto(self) -> Proto {
        match self {
            Self::Udp => Proto::Udp,
            Self::Tcp => Proto::Tcp,
            Self::Tls => Proto::Tls,
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Transport.
    pub proto: ListenerProto,
    /// Address and port; port 0 picks a free port (tests).
    pub addr: SocketAddr,
}

impl ListenerConfig {
    /// A listener on `addr`.
    pub fn new(proto: ListenerProto, addr: SocketAddr) -> Self {
        Self { proto, addr }
    }
}

/// The `tls:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chains and keys, chosen by SNI; the first is the default.
    pub certificates: Vec<CertificateConfig>,
    /// Demo only: generate (or reuse) a self-signed certificate.
    pub self_signed: Option<SelfSignedConfig>,
}

impl TlsSection {
    /// The certificates as an `rtc_tls` configuration, when any are listed.
    pub fn tls_config(&self) -> Option<rtc_tls::TlsConfig> {
        (!self.certificates.is_empty()).then(|| rtc_tls::TlsConfig {
            certificates: self.certificates.clone(),
        })
    }
}

/// `tls.self_signed`: where to keep a generated certificate and for which names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfSignedConfig {
    /// Directory holding `selfsigned-cert.pem`/`selfsigned-key.pem`; created if missing.
    #[serde(default = "default_self_signed_dir")]
    pub dir: PathBuf,
    /// Host names or IP addresses the certificate is made for.
    #[serde(default = "default_self_signed_names")]
    pub names: Vec<String>,
}

/// The `relay:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// IPs relay sockets bind to (RFC 8656 §7.2). Default: the IPs of the UDP listeners.
    pub addresses: Vec<IpAddr>,
    /// 1:1 NAT mappings: relay or listener IP `private` is advertised as `public`.
    pub external: Vec<ExternalAddress>,
    /// Lowest relay port.
    pub port_min: u16,
    /// Highest relay port.
    pub port_max: u16,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            addresses: Vec::new(),
            external: Vec::new(),
            port_min: DEFAULT_RELAY_PORT_MIN,
            port_max: DEFAULT_RELAY_PORT_MAX,
        }
    }
}

impl RelayConfig {
    /// The address to advertise for local address `ip`: its public mapping if one
    /// is configured, otherwise `ip` itself.
    pub fn advertised(&self, ip: IpAddr) -> IpAddr {
        self.external
            .iter()
            .find(|m| m.private == ip)
            .map_or(ip, |m| m.public)
    }
}

/// One `relay.external` entry (coturn's `external-ip=PUBLIC/PRIVATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalAddress {
    /// The address bound on this machine.
    pub private: IpAddr,
    /// The address clients reach it at, shown in XOR-RELAYED-ADDRESS (RFC 8656 §14.5).
    /// Not applied to RFC 5780 OTHER-ADDRESS, whose addresses must be local.
    pub public: IpAddr,
}

/// The file as written: the same keys as [`TurndConfig`], before the defaults
/// that depend on other keys are filled in.
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
    listeners: Option<Vec<ListenerConfig>>,
    #[serde(default)]
    tls: Option<TlsSection>,
    #[serde(default)]
    relay: RelayConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default = "default_shutdown_grace_secs")]
    shutdown_grace_secs: u64,
    #[serde(default = "default_realm")]
    realm: String,
    #[serde(default = "default_software")]
    software: Option<String>,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    allocation: AllocationConfig,
    #[serde(default)]
    peers: PeerFilterConfig,
    #[serde(default)]
    rfc5780: Option<Rfc5780Config>,
    #[serde(default)]
    limits: limits::LimitsSection,
}

impl TurndConfig {
    /// Read, complete and validate the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml(path)?;
        Self::from_raw(path, raw)
    }

    /// [`TurndConfig::load`] on text; `path` only names the source in errors.
    pub fn from_yaml_str(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml_str(path, text)?;
        Self::from_raw(path, raw)
    }

    /// `--check-config`: `configuration OK: PATH` and status 0, or the error and
    /// status [`EXIT_CONFIG_ERROR`].
    pub fn check_report(path: &Path) -> CheckReport {
        match Self::load(path) {
            Ok(_) => CheckReport {
                status: 0,
                message: format!("configuration OK: {}", path.display()),
            },
            Err(e) => CheckReport {
                status: EXIT_CONFIG_ERROR,
                message: e.to_string(),
            },
        }
    }

    /// The core's part of the configuration.
    pub fn core_config(&self) -> CoreConfig {
        CoreConfig {
            realm: self.realm.clone(),
            software: self.software.clone(),
            auth: self.auth.clone(),
            allocation: self.allocation.clone(),
            peers: self.peers.clone(),
            rfc5780: self.rfc5780,
            limits: self.limits.clone(),
        }
    }

    fn from_raw(path: &Path, raw: RawConfig) -> Result<Self, ConfigError> {
        let has_tls = raw
            .tls
            .as_ref()
            .is_some_and(|t| !t.certificates.is_empty() || t.self_signed.is_some());
        let listeners = raw.listeners.unwrap_or_else(|| default_listeners(has_tls));
        let (limits, stream_limits) = raw.limits.split();
        let mut config = Self {
            log: raw.log,
            workers: raw.workers,
            database: raw.database,
            listeners,
            tls: raw.tls,
            relay: raw.relay,
            metrics: raw.metrics,
            shutdown_grace_secs: raw.shutdown_grace_secs,
            realm: raw.realm,
            software: raw.software,
            auth: raw.auth,
            allocation: raw.allocation,
            peers: raw.peers,
            rfc5780: raw.rfc5780,
            limits,
            stream_limits,
        };
        validate::check(path, &mut config)?;
        Ok(config)
    }
}

/// What `turnadmin` needs from the daemon's file: the database and the realm.
///
/// The file is parsed exactly as for the daemon (unknown keys and bad values
/// are still errors with file, line and key) but the cross-key checks are
/// skipped, so users can be managed while, say, `relay.addresses` is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// The account database.
    pub database: DatabaseConfig,
    /// The configured realm (the default for `turnadmin -a`).
    pub realm: String,
}

impl AdminSettings {
    /// Parse the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml(path)?;
        Ok(Self {
            database: raw.database,
            realm: raw.realm,
        })
    }
}

/// UDP and TCP on port 3478 of every IPv4 and IPv6 address, plus TLS on 5349
/// when certificates are configured.
pub fn default_listeners(with_tls: bool) -> Vec<ListenerConfig> {
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let mut out = Vec::new();
    for ip in [any4, any6] {
        out.push(ListenerConfig::new(
            ListenerProto::Udp,
            SocketAddr::new(ip, DEFAULT_PORT),
        ));
        out.push(ListenerConfig::new(
            ListenerProto::Tcp,
            SocketAddr::new(ip, DEFAULT_PORT),
        ));
        if with_tls {
            out.push(ListenerConfig::new(
                ListenerProto::Tls,
                SocketAddr::new(ip, DEFAULT_TLS_PORT),
            ));
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

fn default_shutdown_grace_secs() -> u64 {
    10
}

fn default_realm() -> String {
    CoreConfig::default().realm
}

fn default_software() -> Option<String> {
    CoreConfig::default().software
}

fn default_self_signed_dir() -> PathBuf {
    PathBuf::from(DEFAULT_SELF_SIGNED_DIR)
}

fn default_self_signed_names() -> Vec<String> {
    vec!["localhost".to_owned()]
}

#[cfg(test)]
mod tests;
