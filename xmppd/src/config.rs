//! The `xmppd` configuration file (`/etc/xmppd/xmppd.yaml`), shared with `xmppctl`.
//!
//! Every key is optional and has a safe default; every mapping rejects unknown
//! keys. Virtual hosts come from the `hosts:` list and from drop-in files
//! matched by `include:` (like Prosody's `conf.d/`), one host per file.
//! [`XmppdConfig::load`] reports every problem as `FILE[:LINE:COLUMN]: KEY:
//! MESSAGE`, naming the drop-in file when the problem is in one.
//!
//! The core's keys (`admins`, `require_encryption`, `allow_plain`,
//! `resource_conflict`, `advertise_version`, `stream`, `limits`, `timeouts`)
//! sit at the top level and become a [`CoreConfig`] through
//! [`XmppdConfig::core_config`]. `deploy/xmppd/xmppd.yaml` documents them all.

mod hosts;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rtc_daemon::{MetricsConfig, Proto};
use rtc_userdb::DatabaseConfig;
use serde::Deserialize;

use crate::core::{ConflictPolicy, CoreConfig, LimitsConfig, TimeoutConfig, VirtualHost};

pub use hosts::{HostConfig, HostTls};

/// The error of loading or validating a configuration file.
pub type ConfigError = rtc_daemon::Error;

/// Where `xmppd` and `xmppctl` look for the configuration by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/xmppd/xmppd.yaml";
/// The default SQLite database (inside systemd's `StateDirectory=xmppd`).
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/xmppd/xmppd.sqlite";
/// Client connections with STARTTLS (RFC 6120 §14.7).
pub const DEFAULT_C2S_PORT: u16 = 5222;
/// Client connections with direct TLS (XEP-0368).
pub const DEFAULT_C2S_TLS_PORT: u16 = 5223;
/// Server-to-server connections (RFC 6120 §14.7).
pub const DEFAULT_S2S_PORT: u16 = 5269;
/// Longest drain accepted on shutdown, in seconds.
const MAX_SHUTDOWN_GRACE_SECS: u64 = 3600;
/// Most worker threads accepted.
const MAX_WORKERS: usize = 256;

/// The kind of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerKind {
    /// Clients, plain TCP upgraded with STARTTLS (RFC 6120 §5).
    C2s,
    /// Clients, TLS from the first byte with ALPN `xmpp-client` (XEP-0368).
    C2sTls,
    /// Servers (RFC 6120). Federation is not implemented yet: streams are
    /// answered with a `<policy-violation/>` stream error and closed.
    S2s,
}

impl ListenerKind {
    /// The transport as announced in logs and the `READY` line.
    pub fn proto(self) -> Proto {
        match self {
            Self::C2s | Self::S2s => Proto::Tcp,
            Self::C2sTls => Proto::Tls,
        }
    }

    /// The service name in logs and the `READY` line.
    pub fn service(self) -> &'static str {
        match self {
            Self::C2s => "c2s",
            Self::C2sTls => "c2s-tls",
            Self::S2s => "s2s",
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// What is served on it.
    pub kind: ListenerKind,
    /// Address and port; port 0 picks a free port (tests).
    pub addr: SocketAddr,
}

/// `transport:` timers the shell enforces before the core sees a stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// Seconds a client has to complete a TLS handshake. Default: 10.
    pub tls_handshake_seconds: u64,
    /// Seconds from connecting (or from finishing TLS) to a complete stream
    /// header (slowloris protection). Default: 10.
    pub stream_header_seconds: u64,
    /// Seconds a write may block on a client that does not read before the
    /// connection is dropped. Default: 30.
    pub write_timeout_seconds: u64,
    /// Bytes read from a socket at once. Default: 4096.
    pub read_chunk_bytes: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            tls_handshake_seconds: 10,
            stream_header_seconds: 10,
            write_timeout_seconds: 30,
            read_chunk_bytes: 4096,
        }
    }
}

/// The whole configuration of `xmppd`, defaults filled in and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct XmppdConfig {
    /// Log filter (`info`, `xmppd=debug`...); a non-empty `RUST_LOG` overrides it.
    pub log: String,
    /// Worker threads for TLS and sockets; 0 means one per CPU core.
    pub workers: usize,
    /// The account database, shared with `xmppctl`.
    pub database: DatabaseConfig,
    /// Sockets to listen on; never empty after loading.
    pub listeners: Vec<ListenerConfig>,
    /// Virtual hosts from `hosts:` and the drop-in files, in that order.
    pub hosts: Vec<HostConfig>,
    /// The `include:` pattern, if any.
    pub include: Option<PathBuf>,
    /// The Prometheus endpoint; `listen: None` means off.
    pub metrics: MetricsConfig,
    /// Seconds allowed for sessions to close and storage to finish on SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Shell timers and buffer sizes.
    pub transport: TransportConfig,
    /// The protocol core's settings.
    pub core: CoreConfig,
}

/// The file as written.
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
    hosts: Vec<HostConfig>,
    #[serde(default)]
    include: Option<PathBuf>,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default = "default_shutdown_grace_secs")]
    shutdown_grace_secs: u64,
    #[serde(default)]
    transport: TransportConfig,
    // The core's keys.
    #[serde(default)]
    admins: Vec<String>,
    #[serde(default = "yes")]
    require_encryption: bool,
    #[serde(default = "yes")]
    allow_plain: bool,
    #[serde(default)]
    resource_conflict: ConflictPolicy,
    #[serde(default = "yes")]
    advertise_version: bool,
    #[serde(default)]
    stream: Option<rtc_xmlstream::Limits>,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    timeouts: TimeoutConfig,
}

impl XmppdConfig {
    /// Read, complete and validate the configuration file at `path`,
    /// including the drop-in files its `include:` matches.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml(path)?;
        Self::from_raw(path, raw)
    }

    /// [`XmppdConfig::load`] on text; `path` names the source in errors and
    /// relative `include:` patterns are taken from its directory.
    pub fn from_yaml_str(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = rtc_daemon::load_yaml_str(path, text)?;
        Self::from_raw(path, raw)
    }

    /// The core's part of the configuration.
    pub fn core_config(&self) -> CoreConfig {
        self.core.clone()
    }

    /// The hosts as the core sees them.
    pub fn virtual_hosts(&self) -> Vec<VirtualHost> {
        self.hosts
            .iter()
            .map(|h| VirtualHost {
                domain: h.domain.clone(),
                enabled: h.enabled,
            })
            .collect()
    }

    /// The enabled hosts.
    pub fn enabled_hosts(&self) -> impl Iterator<Item = &HostConfig> {
        self.hosts.iter().filter(|h| h.enabled)
    }

    /// The certificates of the enabled hosts, in host order (the first is
    /// served to clients that send no SNI), or `None` when no host has one.
    pub fn tls_config(&self) -> Option<rtc_tls::TlsConfig> {
        let certificates: Vec<_> = self
            .enabled_hosts()
            .filter_map(|h| h.tls.as_ref().map(|t| t.certificate(&h.domain)))
            .collect();
        (!certificates.is_empty()).then_some(rtc_tls::TlsConfig { certificates })
    }

    fn from_raw(path: &Path, raw: RawConfig) -> Result<Self, ConfigError> {
        let invalid = |key: &str, msg: String| ConfigError::invalid(path, key, msg);
        let mut hosts = raw.hosts;
        for (i, h) in hosts.iter().enumerate() {
            h.check().map_err(|(k, m)| invalid(&format!("hosts[{i}].{k}"), m))?;
        }
        if let Some(pattern) = &raw.include {
            let base = path.parent().unwrap_or(Path::new("/"));
            hosts::load_drop_ins(&base.join(pattern), &mut hosts).map_err(|e| match e {
                hosts::DropInError::Config(e) => e,
                hosts::DropInError::Pattern(m) => invalid("include", m),
            })?;
        }
        hosts::check_unique(path, &hosts)?;
        let core = CoreConfig {
            admins: raw.admins,
            require_encryption: raw.require_encryption,
            allow_plain: raw.allow_plain,
            resource_conflict: raw.resource_conflict,
            advertise_version: raw.advertise_version,
            stream: raw.stream.unwrap_or_default(),
            limits: raw.limits,
            timeouts: raw.timeouts,
        };
        let config = Self {
            log: raw.log,
            workers: raw.workers,
            database: raw.database,
            listeners: raw.listeners.unwrap_or_else(default_listeners),
            hosts,
            include: raw.include,
            metrics: raw.metrics,
            shutdown_grace_secs: raw.shutdown_grace_secs,
            transport: raw.transport,
            core,
        };
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, msg: &str| Err(ConfigError::invalid(path, key, msg));
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log) {
            return Err(ConfigError::invalid(path, "log", format!("not a valid log filter: {e}")));
        }
        if self.workers > MAX_WORKERS {
            return invalid("workers", "at most 256 (0 = one per CPU core)");
        }
        if self.shutdown_grace_secs > MAX_SHUTDOWN_GRACE_SECS {
            return invalid("shutdown_grace_secs", "at most 3600");
        }
        if self.listeners.is_empty() {
            return invalid("listeners", "at least one listener is needed");
        }
        for (i, l) in self.listeners.iter().enumerate() {
            let dup = self.listeners.iter().take(i).any(|o| o.addr == l.addr);
            if l.addr.port() != 0 && dup {
                return Err(ConfigError::invalid(
                    path,
                    format!("listeners[{i}].addr"),
                    format!("{} is listed twice", l.addr),
                ));
            }
        }
        let t = &self.transport;
        for (key, v) in [
            ("transport.tls_handshake_seconds", t.tls_handshake_seconds),
            ("transport.stream_header_seconds", t.stream_header_seconds),
            ("transport.write_timeout_seconds", t.write_timeout_seconds),
        ] {
            if v == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if !(512..=65536).contains(&t.read_chunk_bytes) {
            return invalid("transport.read_chunk_bytes", "must be between 512 and 65536");
        }
        if self.enabled_hosts().next().is_none() {
            return invalid("hosts", "no enabled virtual host: add one under `hosts:` or in a drop-in file");
        }
        let needs_tls = self.core.require_encryption
            || self.listeners.iter().any(|l| l.kind == ListenerKind::C2sTls);
        if needs_tls {
            if let Some(h) = self.enabled_hosts().find(|h| h.tls.is_none()) {
                let origin = h.source.as_deref().unwrap_or(path);
                return Err(ConfigError::invalid(
                    origin,
                    "tls",
                    format!("host {} has no certificate (tls: {{ cert, key }}); clients require TLS", h.domain),
                ));
            }
        }
        self.core.validate().map_err(|e| ConfigError::invalid(path, "", e.to_string()))
    }
}

/// What `xmppctl` needs from the daemon's file.
///
/// The file is parsed and validated exactly as for the daemon, so `xmppctl`
/// finds the same database and the same hosts.
pub fn load_for_admin(path: &Path) -> Result<XmppdConfig, ConfigError> {
    XmppdConfig::load(path)
}

/// c2s on 5222 and direct-TLS c2s on 5223, on every IPv4 and IPv6 address.
/// The s2s port is not opened by default: federation is not implemented yet.
pub fn default_listeners() -> Vec<ListenerConfig> {
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let mut out = Vec::new();
    for (kind, port) in [
        (ListenerKind::C2s, DEFAULT_C2S_PORT),
        (ListenerKind::C2sTls, DEFAULT_C2S_TLS_PORT),
    ] {
        for ip in [any4, any6] {
            out.push(ListenerConfig {
                kind,
                addr: SocketAddr::new(ip, port),
            });
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

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests;
