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
//! * SIP ([`SipStore`]): local domains, digest subscribers (HA1 values
//!   only), registrations (the location service) and static routes.
//! * XMPP ([`XmppStore`]): accounts (SCRAM-SHA-1 and SCRAM-SHA-256 keys
//!   only), rosters with a version counter, offline messages with a
//!   per-user quota, vCards, private XML storage and block lists.
//! * `schema_version`: which migrations have been applied.
//!
//! # What it deliberately does not store or do
//!
//! * No plaintext passwords, ever. Only REST shared secrets are kept as
//!   given, because the server must compute HMACs with them. Note that the
//!   TURN keys and SIP HA1 values are still password-equivalent *for that
//!   protocol*: the SQLite file is created with mode 0600 and MySQL should
//!   be reached over TLS (required by default for non-local servers).
//! * No allocation state, quotas, peer filters or origin mappings: those
//!   belong in daemon configuration, not in the account database.
//! * No caching: every lookup reads the database, so a change made with the
//!   admin tool is seen by the running daemon at once, and several daemon
//!   nodes sharing a MySQL/MariaDB server see each other's registrations.
//! * No protocol logic: callers decide what a missing user means on the
//!   wire, and parse, normalise and serialise URIs, JIDs and stanzas. The
//!   one exception is where correctness needs the check inside the write
//!   transaction: the REGISTER Call-ID/CSeq ordering rule and the per-user
//!   quotas. No string-built SQL: every name, realm and secret is a bound
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
//! Each service has its own module and its own store type ([`TurnStore`],
//! [`SipStore`], [`XmppStore`]) and appends its schema to the single
//! migration list; see `migrate.rs`. Operations that must see and change
//! several rows atomically run in one transaction (see `backend/mod.rs`),
//! which on MySQL is retried a few times if InnoDB reports a deadlock.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rtc_userdb::Error> {
//! use rtc_userdb::{DatabaseConfig, UserDb};
//! let db = UserDb::open(&DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite")).await?;
//! db.turn().set_user("falcot.com", "roland", "secret_password").await?;
//! let keys = db.turn().user_keys("falcot.com", "roland").await?;
//! assert!(keys.is_some());
//!
//! // sipd: digest lookup, then a REGISTER committed before the 200 OK.
//! use rtc_userdb::{Binding, BindingChange};
//! let digests = db.sip().subscriber_digests("sip.falcot.com", "roland").await?;
//! let now = 1_700_000_000;
//! let contact = Binding::new("sip:roland@192.0.2.7:5060", now + 3600, "a84b4c76e66710", 314159);
//! let live = db.sip()
//!     .save_bindings("roland@sip.falcot.com", &[BindingChange::Set(contact)], now, Some(10))
//!     .await?;
//!
//! // xmppd: SCRAM credentials for SASL, and an offline message.
//! let creds = db.xmpp().credentials("falcot.com", "roland").await?;
//! let id = db.xmpp().push_offline("falcot.com", "roland", "<message/>", 1000).await?;
//! # let _ = (digests, live, creds, id);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod backend;
mod config;
pub mod credentials;
mod error;
mod migrate;
mod sip;
mod sql;
mod turn;
mod xmpp;

use std::sync::Arc;

use backend::Backend;

pub use config::{
    DatabaseConfig, MysqlConfig, SqliteConfig, DEFAULT_BUSY_TIMEOUT_MS,
    DEFAULT_MYSQL_MAX_CONNECTIONS, DEFAULT_SQLITE_READERS,
};
pub use credentials::{ScramAlgorithm, SipDigests, TurnKeys};
pub use error::{BackendKind, Entity, Error, Result};
pub use sip::{
    AorPage, Binding, BindingChange, BindingCursor, BindingKey, BindingPage, BindingScan,
    LocationBatch, LocationEntry, OnlineScan, RouteEntry, RouteMatch, SipCounts, SipOp,
    SipOpResult, SipStore, SipSubscriber, StaticRoute, MAX_CHANGES_PER_SAVE, MAX_URI_LEN,
};
pub use sql::MAX_NAME_LEN;
pub use turn::{SharedSecret, TurnAdmin, TurnCounts, TurnStore, TurnUser};
pub use xmpp::{
    ArchiveAppend, ArchiveEntry, ArchivePage, ArchiveQuery, ArchivedMessage, PushRegistration, MAX_ARCHIVE_ID_LEN,
    MAX_ARCHIVE_PAGE,
    MucArchived, MucRoom, OfflineMessage, PepItem, PepNode, MAX_PEP_NAME_LEN, Roster, RosterItem, ScramCredentials, ScramKeys, Subscription, XmppStore,
    MAX_XML_LEN,
};

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

    /// SIP domains, subscribers, registrations and static routes.
    pub fn sip(&self) -> SipStore {
        SipStore::new(Arc::clone(&self.backend))
    }

    /// XMPP accounts and per-user data, deriving new credentials with
    /// the default SCRAM iteration count (see
    /// [`XmppStore::with_scram_iterations`]).
    pub fn xmpp(&self) -> XmppStore {
        XmppStore::new(Arc::clone(&self.backend))
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
    /// stores included); otherwise just drops this one. Dropping
    /// without closing loses no data.
    pub async fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.backend) {
            Ok(backend) => backend.close().await,
            Err(_shared) => Ok(()),
        }
    }
}
