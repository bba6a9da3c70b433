//! XMPP storage for `xmppd` and its admin tool: accounts with SCRAM
//! credentials, rosters, offline messages, vCards, private XML storage and
//! block lists — what Prosody keeps per user, never the password.
//!
//! Tables (see `schema.rs`): `xmpp_account(host, username, salt,
//! iterations, sha1_*/sha256_* stored and server keys, roster_version)`
//! and, keyed by (host, username) and deleted with the account,
//! `xmpp_roster`, `xmpp_offline`, `xmpp_vcard`, `xmpp_private` and
//! `xmpp_blocklist`; schema 4 (`archive.rs`) adds the message archive
//! `xmpp_archive` and push registrations `xmpp_push`, schema 5 (`pep.rs`)
//! PEP nodes and items `xmpp_pep_node` and `xmpp_pep_item`.
//! Schema 6 (`muc.rs`) adds multi-user chat rooms and their archives,
//! `xmpp_muc_room` and `xmpp_muc_archive`.
//!
//! Hosts, usernames and JIDs compare as exact bytes: `xmppd` applies the
//! RFC 7622 preparation (e.g. lowercasing the localpart) before calling
//! in. Usernames and hosts are at most 255 bytes and JIDs at most 1023.
//!
//! Rosters and offline queues are small (the caller caps them, see the
//! `max` arguments), so each is read with a single query. Changes that
//! depend on what is stored (quotas, the roster version) run in one
//! transaction that first locks the account row, so two `xmppd` nodes
//! sharing a MySQL server cannot interleave them.

mod archive;
mod pep;
mod muc;
mod roster;
mod schema;
mod storage;

use std::fmt;
use std::sync::Arc;

use crate::backend::{Backend, Tx};
use crate::credentials::{
    scram_derive, ScramAlgorithm, DEFAULT_SCRAM_ITERATIONS, MIN_SCRAM_ITERATIONS,
};
use crate::error::{Entity, Error, Result};
use crate::sql::{check_name, check_password, expect_some_rows, unix_now, Exec, Sql, Value};

pub use muc::{MucArchived, MucRoom};
pub use roster::{Roster, RosterItem, Subscription};
pub(crate) use archive::XMPP_4_ARCHIVE_PUSH;
pub(crate) use pep::XMPP_5_PEP;
pub use pep::{PepItem, PepNode, MAX_PEP_NAME_LEN};
pub(crate) use muc::XMPP_6_MUC;
pub(crate) use schema::XMPP_3_ACCOUNTS;
pub use archive::{
    ArchiveAppend, ArchiveEntry, ArchivePage, ArchiveQuery, ArchivedMessage, PushRegistration, MAX_ARCHIVE_ID_LEN,
    MAX_ARCHIVE_PAGE,
};
pub use storage::{OfflineMessage, MAX_XML_LEN};

/// Bytes of random salt per account.
const SALT_LEN: usize = 16;
/// Highest iteration count accepted, to bound the work of one login.
const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

const ACCOUNT_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_account (salt, iterations, sha1_stored_key, sha1_server_key, \
     sha256_stored_key, sha256_server_key, updated_at, host, username, roster_version, \
     created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
);
const ACCOUNT_UPDATE: Sql = Sql::both(
    "UPDATE xmpp_account SET salt = ?, iterations = ?, sha1_stored_key = ?, \
     sha1_server_key = ?, sha256_stored_key = ?, sha256_server_key = ?, updated_at = ? \
     WHERE host = ? AND username = ?",
);
const ACCOUNT_DELETE: Sql = Sql::both("DELETE FROM xmpp_account WHERE host = ? AND username = ?");
const ACCOUNT_CREDENTIALS: Sql = Sql::both(
    "SELECT salt, iterations, sha1_stored_key, sha1_server_key, sha256_stored_key, \
     sha256_server_key FROM xmpp_account WHERE host = ? AND username = ?",
);
const ACCOUNT_EXISTS: Sql = Sql::both("SELECT 1 FROM xmpp_account WHERE host = ? AND username = ?");
const ACCOUNT_LIST: Sql =
    Sql::both("SELECT username FROM xmpp_account WHERE host = ? ORDER BY username");
const ACCOUNT_COUNT: Sql = Sql::both("SELECT COUNT(*) FROM xmpp_account");
const ACCOUNT_COUNT_HOST: Sql = Sql::both("SELECT COUNT(*) FROM xmpp_account WHERE host = ?");
/// Locks the account row for the rest of the transaction.
const ACCOUNT_LOCK: Sql = Sql {
    sqlite: "SELECT roster_version FROM xmpp_account WHERE host = ? AND username = ?",
    mysql: "SELECT roster_version FROM xmpp_account WHERE host = ? AND username = ? FOR UPDATE",
};

/// The two SCRAM keys the server keeps for one mechanism (RFC 5802 §3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// StoredKey = H(ClientKey): verifies the client's proof.
    pub stored_key: Vec<u8>,
    /// ServerKey: signs the server-final-message.
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramKeys(<redacted>)")
    }
}

/// Everything `xmppd` needs to run SCRAM-SHA-1 or SCRAM-SHA-256 for one
/// account. Both mechanisms share the salt and the iteration count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// The salt sent in the server-first-message.
    pub salt: Vec<u8>,
    /// The iteration count sent in the server-first-message.
    pub iterations: u32,
    /// Keys for SCRAM-SHA-1.
    pub sha1: ScramKeys,
    /// Keys for SCRAM-SHA-256.
    pub sha256: ScramKeys,
}

impl ScramCredentials {
    /// The keys for one mechanism.
    pub fn keys(&self, alg: ScramAlgorithm) -> &ScramKeys {
        match alg {
            ScramAlgorithm::Sha1 => &self.sha1,
            ScramAlgorithm::Sha256 => &self.sha256,
        }
    }
}

/// XMPP operations on a [`UserDb`](crate::UserDb). Cheap to clone.
#[derive(Debug, Clone)]
pub struct XmppStore {
    db: Arc<Backend>,
    iterations: u32,
}

impl XmppStore {
    pub(crate) fn new(db: Arc<Backend>) -> Self {
        XmppStore {
            db,
            iterations: DEFAULT_SCRAM_ITERATIONS,
        }
    }

    /// The same store, deriving new credentials with `iterations` PBKDF2
    /// rounds (default 10000; allowed 4096..=1000000). Existing accounts
    /// keep theirs until their password is set again.
    pub fn with_scram_iterations(mut self, iterations: u32) -> Result<Self> {
        if !(MIN_SCRAM_ITERATIONS..=MAX_SCRAM_ITERATIONS).contains(&iterations) {
            return Err(Error::InvalidInput {
                field: "iterations",
                reason: "must be between 4096 and 1000000",
            });
        }
        self.iterations = iterations;
        Ok(self)
    }

    /// Creates an account (`register`); [`Error::AlreadyExists`] if it is
    /// there. Only SCRAM keys derived from `password` are stored.
    pub async fn create_account(&self, host: &str, username: &str, password: &str) -> Result<()> {
        let mut params = self.credential_params(host, username, password).await?;
        params.push(unix_now().into());
        match self.db.exec(ACCOUNT_INSERT, params).await? {
            Exec::Rows(_) => Ok(()),
            Exec::Duplicate => Err(Error::AlreadyExists(Entity::XmppAccount)),
        }
    }

    /// Sets a new password (`passwd`), with a fresh salt;
    /// [`Error::NotFound`] if there is no such account.
    pub async fn set_password(&self, host: &str, username: &str, password: &str) -> Result<()> {
        let params = self.credential_params(host, username, password).await?;
        let n = self.db.exec(ACCOUNT_UPDATE, params).await?;
        expect_some_rows(n, Entity::XmppAccount)
    }

    /// Deletes an account (`deluser`) and, in the same statement, its
    /// roster, offline messages, vCard, private storage and block list;
    /// [`Error::NotFound`] if there is no such account.
    pub async fn delete_account(&self, host: &str, username: &str) -> Result<()> {
        let n = self
            .db
            .exec(ACCOUNT_DELETE, vec![host.into(), username.into()])
            .await?;
        expect_some_rows(n, Entity::XmppAccount)
    }

    /// Whether the account exists. `false` for names that could never have
    /// been stored.
    pub async fn account_exists(&self, host: &str, username: &str) -> Result<bool> {
        if check_name("host", host).is_err() || check_name("username", username).is_err() {
            return Ok(false);
        }
        Ok(self
            .db
            .query_opt(ACCOUNT_EXISTS, vec![host.into(), username.into()])
            .await?
            .is_some())
    }

    /// The SCRAM credentials of an account: the per-login lookup, one
    /// primary-key read. `None` if there is no such account.
    pub async fn credentials(
        &self,
        host: &str,
        username: &str,
    ) -> Result<Option<ScramCredentials>> {
        if check_name("host", host).is_err() || check_name("username", username).is_err() {
            return Ok(None);
        }
        let Some(r) = self
            .db
            .query_opt(ACCOUNT_CREDENTIALS, vec![host.into(), username.into()])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(ScramCredentials {
            salt: r.blob(0)?,
            iterations: r.u32(1)?,
            sha1: ScramKeys {
                stored_key: r.bytes::<20>(2)?.to_vec(),
                server_key: r.bytes::<20>(3)?.to_vec(),
            },
            sha256: ScramKeys {
                stored_key: r.bytes::<32>(4)?.to_vec(),
                server_key: r.bytes::<32>(5)?.to_vec(),
            },
        }))
    }

    /// Usernames on `host`, sorted.
    pub async fn accounts(&self, host: &str) -> Result<Vec<String>> {
        let rows = self.db.query(ACCOUNT_LIST, vec![host.into()]).await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Number of accounts on `host`, or on every host.
    pub async fn account_count(&self, host: Option<&str>) -> Result<u64> {
        let rows = match host {
            Some(h) => self.db.query(ACCOUNT_COUNT_HOST, vec![h.into()]).await?,
            None => self.db.query(ACCOUNT_COUNT, Vec::new()).await?,
        };
        rows.first()
            .ok_or(Error::Corrupt("count query returned no row"))?
            .count(0)
    }

    /// Checks the inputs and derives fresh credentials off the async
    /// runtime: the parameters shared by ACCOUNT_INSERT and ACCOUNT_UPDATE.
    async fn credential_params(
        &self,
        host: &str,
        username: &str,
        password: &str,
    ) -> Result<Vec<Value>> {
        check_name("host", host)?;
        check_name("username", username)?;
        check_password(password)?;
        let mut salt = [0u8; SALT_LEN];
        getrandom::getrandom(&mut salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
        let iterations = self.iterations;
        let password = password.to_owned();
        let (sha1, sha256) = tokio::task::spawn_blocking(move || {
            (
                scram_derive(ScramAlgorithm::Sha1, &password, &salt, iterations),
                scram_derive(ScramAlgorithm::Sha256, &password, &salt, iterations),
            )
        })
        .await
        .map_err(|e| Error::PasswordHash(e.to_string()))?;
        Ok(vec![
            salt.as_slice().into(),
            iterations.into(),
            sha1.0.as_slice().into(),
            sha1.1.as_slice().into(),
            sha256.0.as_slice().into(),
            sha256.1.as_slice().into(),
            unix_now().into(),
            host.into(),
            username.into(),
        ])
    }
}

/// Begins a transaction and locks the account row in it, returning the
/// account's roster version; [`Error::NotFound`] if there is no account.
pub(crate) async fn lock_account(db: &Backend, host: &str, username: &str) -> Result<(Tx, u64)> {
    check_name("host", host)?;
    check_name("username", username)?;
    let mut tx = db.begin().await?;
    let row = tx
        .query_opt(ACCOUNT_LOCK, vec![host.into(), username.into()])
        .await?
        .ok_or(Error::NotFound(Entity::XmppAccount))?;
    Ok((tx, row.count(0)?))
}
