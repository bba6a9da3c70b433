//! Versioned schema migrations.
//!
//! There is one ordered list, [`MIGRATIONS`], for the whole database; every
//! service contributes entries. Versions are global, start at 1 and never
//! have gaps. Each database records what it has applied in
//! `schema_version(version, name, applied_at)`; opening a database applies
//! what is missing, in order, and refuses a database whose version is newer
//! than this build ([`Error::SchemaTooNew`](crate::Error::SchemaTooNew)).
//!
//! Adding a service (e.g. `sip.rs` for subscribers and registrations,
//! `xmpp.rs` for accounts, rosters and offline messages):
//! 1. declare `pub(crate) const SIP_1_...: Migration` in the service module,
//!    prefixing its tables with the service name (`sip_`, `xmpp_`);
//! 2. append it at the end of [`MIGRATIONS`] with the next version number;
//! 3. add an accessor on [`UserDb`](crate::UserDb) returning the service's
//!    store, like [`UserDb::turn`](crate::UserDb::turn).
//!
//! Never edit or reorder a migration that has been released; add a new one.
//!
//! Atomicity: on SQLite all pending migrations run in one `BEGIN IMMEDIATE`
//! transaction, so a failure or a crash leaves the previous schema intact.
//! On MySQL/MariaDB, DDL commits implicitly, so each migration runs in its
//! own transaction (which protects its data statements and its
//! `schema_version` row), concurrent migrators are serialised with a named
//! lock, and MySQL DDL must be idempotent (`CREATE TABLE IF NOT EXISTS`,
//! ...) so that a migration interrupted between its DDL and its
//! `schema_version` row can simply run again.

use crate::{sip, turn, xmpp};

/// One step of the schema, spelled for each backend.
#[derive(Debug)]
pub(crate) struct Migration {
    /// Global, gap-free version number; position + 1 in [`MIGRATIONS`].
    pub version: u32,
    /// Short description, recorded in `schema_version.name`.
    pub name: &'static str,
    /// Statements for SQLite.
    pub sqlite: &'static [&'static str],
    /// Statements for MySQL/MariaDB; must be idempotent (see module doc).
    pub mysql: &'static [&'static str],
}

/// Every migration, in the order it is applied.
pub(crate) const MIGRATIONS: &[&Migration] = &[
    &turn::TURN_1_ACCOUNTS,
    &sip::SIP_2_REGISTRAR,
    &xmpp::XMPP_3_ACCOUNTS,
    &xmpp::XMPP_4_ARCHIVE_PUSH,
    &xmpp::XMPP_5_PEP,
    &xmpp::XMPP_6_MUC,
];

/// The schema version this build creates and understands.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Creates the bookkeeping table (SQLite).
pub(crate) const SQLITE_BOOTSTRAP: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Creates the bookkeeping table (MySQL/MariaDB).
pub(crate) const MYSQL_BOOTSTRAP: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARBINARY(255) NOT NULL,
    applied_at BIGINT NOT NULL
) ENGINE=InnoDB";

/// Highest applied version; 0 for a fresh database.
pub(crate) const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_version";

/// Records one applied migration.
pub(crate) const RECORD_VERSION: &str =
    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_gap_free_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "migration {}", m.name);
            assert!(!m.sqlite.is_empty() && !m.mysql.is_empty(), "{}", m.name);
        }
        assert_eq!(latest() as usize, MIGRATIONS.len());
    }

    #[test]
    fn mysql_ddl_is_rerunnable() {
        for m in MIGRATIONS {
            for stmt in m.mysql {
                let s = stmt.trim_start().to_ascii_uppercase();
                if s.starts_with("CREATE TABLE") {
                    assert!(s.starts_with("CREATE TABLE IF NOT EXISTS"), "{stmt}");
                }
            }
        }
    }
}
