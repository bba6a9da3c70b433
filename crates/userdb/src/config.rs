//! Database selection as embedded in each daemon's YAML configuration.
//!
//! ```yaml
//! database:
//!   sqlite:
//!     path: /var/lib/turnd/turnd.sqlite
//! ```
//! or
//! ```yaml
//! database:
//!   mysql:
//!     url: mysql://turnd:secret@db.example.net:3306/rtc
//!     ca_file: /etc/ssl/certs/db-ca.pem
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Default time a writer waits for another process's lock, in milliseconds.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Default number of concurrent SQLite reader connections.
pub const DEFAULT_SQLITE_READERS: usize = 4;
/// Default MySQL connection-pool size.
pub const DEFAULT_MYSQL_MAX_CONNECTIONS: usize = 10;

/// Which database to use, and how to reach it. In YAML, a map with exactly
/// one of the keys `sqlite` or `mysql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// A local SQLite file (the default for single-machine sites).
    Sqlite(SqliteConfig),
    /// A MySQL or MariaDB server shared between machines.
    Mysql(MysqlConfig),
}

impl DatabaseConfig {
    /// An SQLite database at `path` with default settings; daemons use this
    /// as their default, e.g. `/var/lib/turnd/turnd.sqlite`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        DatabaseConfig::Sqlite(SqliteConfig {
            path: path.into(),
            busy_timeout_ms: DEFAULT_BUSY_TIMEOUT_MS,
            readers: DEFAULT_SQLITE_READERS,
        })
    }

    /// A MySQL/MariaDB database at `url` with default settings.
    pub fn mysql(url: impl Into<String>) -> Self {
        DatabaseConfig::Mysql(MysqlConfig {
            url: url.into(),
            require_tls: None,
            ca_file: None,
            max_connections: DEFAULT_MYSQL_MAX_CONNECTIONS,
        })
    }
}

/// Reads a map with exactly one key, `sqlite` or `mysql`. Hand-written
/// (rather than serde's enum support, which YAML maps onto `!tags`) so that
/// every error carries the YAML location.
impl<'de> Deserialize<'de> for DatabaseConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SectionVisitor)
    }
}

struct SectionVisitor;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SectionKey {
    Sqlite,
    Mysql,
}

impl<'de> Visitor<'de> for SectionVisitor {
    type Value = DatabaseConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with exactly one of `sqlite` or `mysql`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DatabaseConfig, A::Error> {
        let config = match map.next_key::<SectionKey>()? {
            Some(SectionKey::Sqlite) => DatabaseConfig::Sqlite(map.next_value()?),
            Some(SectionKey::Mysql) => DatabaseConfig::Mysql(map.next_value()?),
            None => return Err(de::Error::custom("expected one of `sqlite` or `mysql`")),
        };
        if map.next_key::<SectionKey>()?.is_some() {
            return Err(de::Error::custom(
                "`sqlite` and `mysql` are mutually exclusive",
            ));
        }
        Ok(config)
    }
}

/// Settings for the SQLite backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// Database file. Created with mode 0600 if missing; its directory
    /// must exist.
    pub path: PathBuf,
    /// How long a write waits for a lock held by another process (the admin
    /// tool and the daemon share the file), in milliseconds.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
    /// Maximum number of concurrent read connections (lookups during
    /// authentication). Writes always go through one writer connection.
    #[serde(default = "default_readers")]
    pub readers: usize,
}

/// Settings for the MySQL/MariaDB backend.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database`. The database must exist;
    /// the tables are created by the migrations.
    pub url: String,
    /// Require TLS to the server. Unset means: required unless the host is
    /// a loopback address or `localhost`.
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// PEM file with the CA that signed the server's certificate, in
    /// addition to the built-in web PKI roots. Setting it implies TLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Maximum number of pooled connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// Never prints the password that the URL may carry.
impl fmt::Debug for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConfig")
            .field("url", &redact_url_password(&self.url))
            .field("require_tls", &self.require_tls)
            .field("ca_file", &self.ca_file)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Replaces the password part of `scheme://user:password@host...` with `***`.
pub(crate) fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = url.get(scheme_end..).unwrap_or_default();
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or_default();
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = authority.get(..at).unwrap_or_default();
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            url.get(..scheme_end).unwrap_or_default(),
            userinfo.get(..colon).unwrap_or_default(),
            rest.get(at..).unwrap_or_default()
        ),
        None => url.to_owned(),
    }
}

fn default_busy_timeout_ms() -> u64 {
    DEFAULT_BUSY_TIMEOUT_MS
}

fn default_readers() -> usize {
    DEFAULT_SQLITE_READERS
}

fn default_max_connections() -> usize {
    DEFAULT_MYSQL_MAX_CONNECTIONS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn sqlite_section_with_defaults() {
        let cfg: DatabaseConfig =
            yaml_serde::from_str("sqlite:\n  path: /var/lib/turnd/turnd.sqlite\n").unwrap();
        assert_eq!(cfg, DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite"));
    }

    #[test]
    fn mysql_section_with_options() {
        let cfg: DatabaseConfig = yaml_serde::from_str(
            "mysql:\n  url: mysql://u:p@db:3306/rtc\n  require_tls: true\n  max_connections: 3\n",
        )
        .unwrap();
        let DatabaseConfig::Mysql(m) = cfg else {
            panic!("expected mysql, got {cfg:?}");
        };
        assert_eq!(m.url, "mysql://u:p@db:3306/rtc");
        assert_eq!(m.require_tls, Some(true));
        assert_eq!(m.max_connections, 3);
        assert_eq!(m.ca_file, None);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = yaml_serde::from_str::<DatabaseConfig>("sqlite:\n  path: /x\n  pth: /y\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pth"), "{err}");
        assert!(yaml_serde::from_str::<DatabaseConfig>("postgres:\n  url: x\n").is_err());
        assert!(yaml_serde::from_str::<DatabaseConfig>("{}").is_err());
        let both = "sqlite:\n  path: /x\nmysql:\n  url: mysql://h/d\n";
        let err = yaml_serde::from_str::<DatabaseConfig>(both)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mutually exclusive"), "{err}");
    }

    /// How daemons embed the section; errors then carry the YAML location.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct DaemonConfig {
        database: DatabaseConfig,
    }

    #[test]
    fn errors_in_an_embedded_section_give_the_line() {
        for (yaml, line) in [
            ("database:\n  sqlite:\n    pth: /x\n", "line 3"),
            (
                "database:\n  sqlite:\n    path: /x\n  mysql:\n    url: m\n",
                "line 2",
            ),
            ("database:\n  postgres: 1\n", "line 2"),
            ("database: {}\n", "line 1"),
        ] {
            let err = yaml_serde::from_str::<DaemonConfig>(yaml)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("database"), "{err}");
            assert!(err.contains(line), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn debug_output_hides_the_mysql_password() {
        let cfg = DatabaseConfig::mysql("mysql://turnd:hunter2@db:3306/rtc");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mysql://turnd:***@db:3306/rtc"), "{shown}");
    }

    #[test]
    fn redaction_leaves_passwordless_urls_alone() {
        for url in ["mysql://root@127.0.0.1/test", "mysql://h/db", "not a url"] {
            assert_eq!(redact_url_password(url), url);
        }
        assert_eq!(
            redact_url_password("mysql://a:b:c@h/d?x=@"),
            "mysql://a:***@h/d?x=@"
        );
    }
}
