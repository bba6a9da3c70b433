//! Account database of the RTC suite: one async API over an embedded
//! SQLite file (the default) or a MySQL/MariaDB server (for several
//! machines sharing accounts).
//!
//! # What it stores
//!
//! * TURN long-term-credential users per realm, as the two keys RFC 8489
//!   defines: MD5(user:realm:password) and SHA-256(user:realm:password)
//!   (see [`credentials`]). The SIP server's digest HA1 is the same MD5.
//! * TURN administrators, with argon2id password hashes (PHC strings).
//! * TURN REST API shared secrets per realm; several may coexist so that
//!   they can be rotated.
//! * `schema_version`: which migrations have been applied.
//!
//! # What it deliberately does not store or do
//!
//! * No plaintext passwords, ever. Only REST shared secrets are kept as
//!   given, because the server must compute HMACs with them. Note that the
//!   TURN keys are still password-equivalent *for TURN*: the SQLite file is
//!   created with mode 0600 and MySQL should be reached over TLS (required
//!   by default for non-local servers).
//! * No allocation state, quotas, peer filters or origin mappings: those
//!   belong in daemon configuration, not in the account database.
//! * No caching: every lookup reads the database, so a change made with the
//!   admin tool is seen by the running daemon at once.
//! * No protocol logic: callers decide what a missing user means on the
//!   wire. No string-built SQL: every name, realm and secret is a bound
//!   parameter (see `sql.rs`).
//!
//! # Durability and sharing
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: a write that returned
//! `Ok` survives `kill -9` of the process and a power cut. The daemon and
//! the admin tool may use the file at the same time; writers wait up to
//! `busy_timeout_ms` for each other.
//!
//! # Extending
//!
//! Each service has its own module and its own store type ([`TurnStore`]
//! today; SIP subscribers/registrations and XMPP accounts/rosters/offline
//! messages later) and appends its schema to the single migration list;
//! see `migrate.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rtc_userdb::Error> {
//! use rtc_userdb::{DatabaseConfig, UserDb};
//! let db = UserDb::open(&DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite")).await?;
//! db.turn().set_user("falcot.com", "roland", "secret_password").await?;
//! let keys = db.turn().user_keys("falcot.com", "roland").await?;
//! assert!(keys.is_some());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod backend;
mod config;
pub mod credentials;
mod error;
mod migrate;
mod sql;
mod turn;

use std::sync::Arc;

use backend::Backend;

pub use config::{
    DatabaseConfig, MysqlConfig, SqliteConfig, DEFAULT_BUSY_TIMEOUT_MS,
    DEFAULT_MYSQL_MAX_CONNECTIONS, DEFAULT_SQLITE_READERS,
};
pub use credentials::TurnKeys;
pub use error::{BackendKind, Entity, Error, Result};
pub use sql::MAX_NAME_LEN;
pub use turn::{SharedSecret, TurnAdmin, TurnCounts, TurnStore, TurnUser};

/// What an add-or-update call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new record was inserted.
    Created,
    /// An existing record was overwritten.
    Updated,
}

/// Handle to an open account database. Cloning is cheap (an `Arc`); clones
/// share the connections. Must be used inside a tokio runtime: SQLite calls
/// run on its blocking thread pool.
#[derive(Debug, Clone)]
pub struct UserDb {
    backend: Arc<Backend>,
}

impl UserDb {
    /// Opens (creating an SQLite file if needed) the configured database and
    /// applies any pending schema migrations. Safe to call from several
    /// processes at once.
    pub async fn open(config: &DatabaseConfig) -> Result<Self> {
        let backend = Backend::open(config).await?;
        Ok(UserDb {
            backend: Arc::new(backend),
        })
    }

    /// TURN users, administrators and shared secrets.
    pub fn turn(&self) -> TurnStore {
        TurnStore::new(Arc::clone(&self.backend))
    }

    /// Which engine this handle talks to.
    pub fn backend(&self) -> BackendKind {
        self.backend.kind()
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<u32> {
        self.backend.schema_version().await
    }

    /// The schema version this build creates.
    pub fn latest_schema_version() -> u32 {
        migrate::latest()
    }

    /// Closes the connections cleanly if this is the last handle (clones and
    /// [`TurnStore`]s included); otherwise just drops this one. Dropping
    /// without closing loses no data.
    pub async fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.backend) {
            Ok(backend) => backend.close().await,
            Err(_shared) => Ok(()),
        }
    }
}
