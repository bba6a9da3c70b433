//! The one error type of this crate.

use std::fmt;

/// Which kind of record an operation was about; carried by
/// [`Error::NotFound`] and [`Error::AlreadyExists`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entity {
    /// A TURN long-term-credential user (realm, name).
    TurnUser,
    /// A TURN administrator account.
    TurnAdmin,
    /// A TURN REST shared secret (realm, secret).
    TurnSecret,
    /// A local SIP domain.
    SipDomain,
    /// A SIP digest-authentication subscriber (domain, username).
    SipSubscriber,
    /// A SIP registration binding (address of record, contact).
    SipBinding,
    /// A static SIP route (id).
    SipRoute,
    /// An XMPP account (host, username).
    XmppAccount,
    /// An item of an XMPP roster (account, contact JID).
    XmppRosterItem,
    /// An XMPP offline message.
    XmppOfflineMessage,
    /// A document in an XMPP user's private XML storage.
    XmppPrivateData,
    /// A JID on an XMPP user's block list.
    XmppBlockedJid,
    /// A message in an XMPP user's archive (XEP-0313).
    XmppArchivedMessage,
    /// An XMPP push registration (XEP-0357).
    XmppPushRegistration,
    /// An XMPP PEP node (XEP-0163).
    XmppPepNode,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::TurnUser => "TURN user",
            Entity::TurnAdmin => "TURN admin",
            Entity::TurnSecret => "TURN shared secret",
            Entity::SipDomain => "SIP domain",
            Entity::SipSubscriber => "SIP subscriber",
            Entity::SipBinding => "SIP registration binding",
            Entity::SipRoute => "SIP static route",
            Entity::XmppAccount => "XMPP account",
            Entity::XmppRosterItem => "XMPP roster item",
            Entity::XmppOfflineMessage => "XMPP offline message",
            Entity::XmppPrivateData => "XMPP private XML document",
            Entity::XmppBlockedJid => "XMPP blocked JID",
            Entity::XmppArchivedMessage => "XMPP archived message",
            Entity::XmppPushRegistration => "XMPP push registration",
            Entity::XmppPepNode => "XMPP PEP node",
        })
    }
}

/// Which storage engine produced an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The embedded SQLite file.
    Sqlite,
    /// A MySQL or MariaDB server.
    Mysql,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Mysql => "mysql",
        })
    }
}

/// Everything that can go wrong in the account database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record to update or delete does not exist.
    #[error("{0} not found")]
    NotFound(Entity),

    /// A record with the same key already exists.
    #[error("{0} already exists")]
    AlreadyExists(Entity),

    /// Storing one more record would exceed the limit the caller set
    /// (offline messages per user, bindings per address of record).
    /// Nothing was changed.
    #[error("{entity} limit of {limit} reached")]
    QuotaExceeded {
        /// What kind of record would have been added.
        entity: Entity,
        /// The limit that applied.
        limit: u64,
    },

    /// A REGISTER carried the Call-ID of a stored binding with a CSeq that
    /// is not higher than the stored one, so it is older or a replay
    /// (RFC 3261 §10.3 step 7). Nothing was changed.
    #[error(
        "registration out of order: CSeq {cseq} is not above the stored {stored} for this Call-ID"
    )]
    OutOfOrder {
        /// CSeq of the rejected request.
        cseq: u32,
        /// CSeq stored with the binding.
        stored: u32,
    },

    /// Concurrent writers on a shared server kept conflicting (InnoDB
    /// deadlock or a racing insert of the same key); the operation was
    /// rolled back and retried a few times before giving up. Nothing was
    /// changed; the caller may try again.
    #[error("{backend} backend: concurrent writers conflicted; nothing was changed, try again")]
    Conflict {
        /// Which engine.
        backend: BackendKind,
    },

    /// A name, realm, password or secret was rejected before touching the
    /// database (empty, too long, or containing control characters).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument was rejected.
        field: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The [`DatabaseConfig`](crate::DatabaseConfig) cannot be used.
    #[error("database configuration: {0}")]
    Config(String),

    /// The database was migrated by a newer build than this one.
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); \
         upgrade this program or restore a matching backup"
    )]
    SchemaTooNew {
        /// Highest version recorded in `schema_version`.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },

    /// Applying a schema migration failed; nothing of it was recorded.
    #[error("schema migration {version} ({name}) failed: {message}")]
    Migration {
        /// The migration's version number.
        version: u32,
        /// The migration's short name.
        name: &'static str,
        /// What the backend reported.
        message: String,
    },

    /// The database engine reported an error (I/O, locking, connection,
    /// authentication, SQL).
    #[error("{backend} backend: {context}: {message}")]
    Backend {
        /// Which engine.
        backend: BackendKind,
        /// What this crate was doing.
        context: &'static str,
        /// What the engine reported.
        message: String,
    },

    /// A stored value does not have the shape this crate writes, e.g. a key
    /// of the wrong length. Indicates tampering or a foreign schema.
    #[error("malformed stored data: {0}")]
    Corrupt(&'static str),

    /// Hashing an administrator password failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

impl Error {
    pub(crate) fn sqlite(context: &'static str, err: impl fmt::Display) -> Self {
        Error::Backend {
            backend: BackendKind::Sqlite,
            context,
            message: err.to_string(),
        }
    }

    pub(crate) fn mysql(context: &'static str, err: impl fmt::Display) -> Self {
        Error::Backend {
            backend: BackendKind::Mysql,
            context,
            message: err.to_string(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
