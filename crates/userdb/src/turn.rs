//! TURN accounts: long-term-credential users, administrators and REST
//! shared secrets, as used by `turnd` and its coturn-compatible `turnadmin`.
//!
//! Tables (same logical schema on both backends):
//! * `turn_user(realm, name, ha1_md5, key_sha256, created_at, updated_at)`,
//!   primary key (realm, name): the authentication lookup is one
//!   primary-key read.
//! * `turn_admin(name, realm NULL, password_hash, created_at, updated_at)`.
//! * `turn_secret(realm, secret, created_at)`, primary key (realm, secret):
//!   several secrets per realm may coexist during rotation.
//!
//! Names, realms and secrets compare as exact bytes on both backends
//! (`VARBINARY` on MySQL, SQLite's default BINARY collation): `Roland` and
//! `roland`, or `roland` and `roland `, are different users.

use std::fmt;
use std::sync::Arc;

use crate::backend::Backend;
use crate::credentials::{self, TurnKeys};
use crate::error::{Entity, Error, Result};
use crate::migrate::Migration;
use crate::sql::{check_name, check_password, expect_some_rows, unix_now, Exec, Sql, Value};
use crate::Change;

/// Schema version 1: the TURN tables.
pub(crate) const TURN_1_ACCOUNTS: Migration = Migration {
    version: 1,
    name: "turn accounts",
    sqlite: &[
        "CREATE TABLE turn_user (
            realm TEXT NOT NULL,
            name TEXT NOT NULL,
            ha1_md5 BLOB NOT NULL CHECK (length(ha1_md5) = 16),
            key_sha256 BLOB NOT NULL CHECK (length(key_sha256) = 32),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (realm, name)
        ) STRICT",
        "CREATE TABLE turn_admin (
            name TEXT NOT NULL PRIMARY KEY,
            realm TEXT,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) STRICT",
        "CREATE TABLE turn_secret (
            realm TEXT NOT NULL,
            secret TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (realm, secret)
        ) STRICT",
    ],
    mysql: &[
        "CREATE TABLE IF NOT EXISTS turn_user (
            realm VARBINARY(255) NOT NULL,
            name VARBINARY(255) NOT NULL,
            ha1_md5 BINARY(16) NOT NULL,
            key_sha256 BINARY(32) NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (realm, name)
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS turn_admin (
            name VARBINARY(255) NOT NULL PRIMARY KEY,
            realm VARBINARY(255) NULL,
            password_hash VARBINARY(255) NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS turn_secret (
            realm VARBINARY(255) NOT NULL,
            secret VARBINARY(255) NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (realm, secret)
        ) ENGINE=InnoDB",
    ],
};

const USER_UPDATE: Sql = Sql::both(
    "UPDATE turn_user SET ha1_md5 = ?, key_sha256 = ?, updated_at = ? WHERE realm = ? AND name = ?",
);
const USER_INSERT: Sql = Sql::both(
    "INSERT INTO turn_user (ha1_md5, key_sha256, updated_at, realm, name, created_at) \
     VALUES (?, ?, ?, ?, ?, ?)",
);
const USER_DELETE: Sql = Sql::both("DELETE FROM turn_user WHERE realm = ? AND name = ?");
const USER_KEYS: Sql =
    Sql::both("SELECT ha1_md5, key_sha256 FROM turn_user WHERE realm = ? AND name = ?");
const USER_LIST: Sql = Sql::both("SELECT realm, name FROM turn_user ORDER BY realm, name");
const USER_LIST_REALM: Sql =
    Sql::both("SELECT realm, name FROM turn_user WHERE realm = ? ORDER BY name");

const ADMIN_UPDATE: Sql =
    Sql::both("UPDATE turn_admin SET realm = ?, password_hash = ?, updated_at = ? WHERE name = ?");
const ADMIN_INSERT: Sql = Sql::both(
    "INSERT INTO turn_admin (realm, password_hash, updated_at, name, created_at) \
     VALUES (?, ?, ?, ?, ?)",
);
const ADMIN_DELETE: Sql = Sql::both("DELETE FROM turn_admin WHERE name = ?");
const ADMIN_FETCH: Sql =
    Sql::both("SELECT name, realm, password_hash FROM turn_admin WHERE name = ?");
const ADMIN_LIST: Sql = Sql::both("SELECT name, realm FROM turn_admin ORDER BY name");

const SECRET_INSERT: Sql =
    Sql::both("INSERT INTO turn_secret (realm, secret, created_at) VALUES (?, ?, ?)");
const SECRET_DELETE: Sql = Sql::both("DELETE FROM turn_secret WHERE realm = ? AND secret = ?");
const SECRET_DELETE_REALM: Sql = Sql::both("DELETE FROM turn_secret WHERE realm = ?");
const SECRET_LIST: Sql = Sql::both(
    "SELECT realm, secret, created_at FROM turn_secret ORDER BY realm, created_at DESC, secret",
);
const SECRET_LIST_REALM: Sql = Sql::both(
    "SELECT realm, secret, created_at FROM turn_secret WHERE realm = ? \
     ORDER BY created_at DESC, secret",
);

const COUNTS: Sql = Sql::both(
    "SELECT (SELECT COUNT(*) FROM turn_user), (SELECT COUNT(*) FROM turn_admin), \
     (SELECT COUNT(*) FROM turn_secret)",
);

/// A TURN long-term-credential user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUser {
    /// Realm the keys were derived for.
    pub realm: String,
    /// User name, exactly as the client sends it in USERNAME.
    pub name: String,
}

/// A TURN administrator (web/CLI admin of coturn's `admin_user`). The
/// password hash is never handed out; use [`TurnStore::verify_admin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnAdmin {
    /// Login name, unique across realms.
    pub name: String,
    /// Realm the admin is limited to; `None` for a superuser.
    pub realm: Option<String>,
}

/// A TURN REST API shared secret (draft-uberti-behave-turn-rest), stored
/// as given because the server needs it to compute HMACs. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret {
    /// Realm the secret is valid for.
    pub realm: String,
    /// The secret itself.
    pub secret: String,
    /// When it was added, in seconds since the Unix epoch.
    pub created_at: i64,
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSecret")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Row counts, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TurnCounts {
    /// Long-term-credential users over all realms.
    pub users: u64,
    /// Administrators.
    pub admins: u64,
    /// Shared secrets over all realms.
    pub secrets: u64,
}

/// TURN operations on a [`UserDb`](crate::UserDb). Cheap to clone.
#[derive(Debug, Clone)]
pub struct TurnStore {
    db: Arc<Backend>,
}

impl TurnStore {
    pub(crate) fn new(db: Arc<Backend>) -> Self {
        TurnStore { db }
    }

    /// Adds a user or changes its password: stores the MD5 and SHA-256
    /// long-term keys derived from `password`, never the password.
    pub async fn set_user(&self, realm: &str, name: &str, password: &str) -> Result<Change> {
        check_name("realm", realm)?;
        check_name("name", name)?;
        check_password(password)?;
        let keys = TurnKeys::derive(name, realm, password);
        let now = unix_now();
        let set: Vec<Value> = vec![
            keys.md5.as_slice().into(),
            keys.sha256.as_slice().into(),
            now.into(),
            realm.into(),
            name.into(),
        ];
        let mut insert = set.clone();
        insert.push(now.into());
        self.db.upsert(USER_UPDATE, set, USER_INSERT, insert).await
    }

    /// Deletes a user; [`Error::NotFound`] if there is none.
    pub async fn delete_user(&self, realm: &str, name: &str) -> Result<()> {
        let n = self
            .db
            .exec(USER_DELETE, vec![realm.into(), name.into()])
            .await?;
        expect_some_rows(n, Entity::TurnUser)
    }

    /// Users in `realm`, or in every realm, ordered by realm then name.
    pub async fn list_users(&self, realm: Option<&str>) -> Result<Vec<TurnUser>> {
        let rows = match realm {
            Some(realm) => self.db.query(USER_LIST_REALM, vec![realm.into()]).await?,
            None => self.db.query(USER_LIST, Vec::new()).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(TurnUser {
                    realm: r.text(0)?,
                    name: r.text(1)?,
                })
            })
            .collect()
    }

    /// The stored keys for (realm, name): the per-request authentication
    /// lookup, one primary-key read. `None` if there is no such user,
    /// including names that could never have been stored (empty, too long,
    /// control characters), so network input needs no pre-check.
    pub async fn user_keys(&self, realm: &str, name: &str) -> Result<Option<TurnKeys>> {
        if check_name("realm", realm).is_err() || check_name("name", name).is_err() {
            return Ok(None);
        }
        let Some(row) = self
            .db
            .query_opt(USER_KEYS, vec![realm.into(), name.into()])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(TurnKeys {
            md5: row.bytes(0)?,
            sha256: row.bytes(1)?,
        }))
    }

    /// Adds an administrator or replaces its realm and password. The
    /// password is stored as an argon2id hash.
    pub async fn set_admin(
        &self,
        name: &str,
        realm: Option<&str>,
        password: &str,
    ) -> Result<Change> {
        check_name("name", name)?;
        if let Some(realm) = realm {
            check_name("realm", realm)?;
        }
        check_password(password)?;
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || credentials::hash_admin_password(&password))
            .await
            .map_err(|e| Error::PasswordHash(e.to_string()))??;
        let now = unix_now();
        let set: Vec<Value> = vec![realm.into(), hash.as_str().into(), now.into(), name.into()];
        let mut insert = set.clone();
        insert.push(now.into());
        self.db
            .upsert(ADMIN_UPDATE, set, ADMIN_INSERT, insert)
            .await
    }

    /// Checks an administrator's password. `Some(admin)` if it matches;
    /// `None` for a wrong password or an unknown name, which take the same
    /// time so that names cannot be probed.
    pub async fn verify_admin(&self, name: &str, password: &str) -> Result<Option<TurnAdmin>> {
        let row = if check_name("name", name).is_ok() {
            self.db.query_opt(ADMIN_FETCH, vec![name.into()]).await?
        } else {
            None
        };
        let found = match row {
            Some(r) => Some((
                TurnAdmin {
                    name: r.text(0)?,
                    realm: r.opt_text(1)?,
                },
                r.text(2)?,
            )),
            None => None,
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || match found {
            Some((admin, hash)) => {
                credentials::verify_admin_password(&hash, &password).then_some(admin)
            }
            None => {
                credentials::verify_against_dummy(&password);
                None
            }
        })
        .await
        .map_err(|e| Error::PasswordHash(e.to_string()))
    }

    /// Deletes an administrator; [`Error::NotFound`] if there is none.
    pub async fn delete_admin(&self, name: &str) -> Result<()> {
        let n = self.db.exec(ADMIN_DELETE, vec![name.into()]).await?;
        expect_some_rows(n, Entity::TurnAdmin)
    }

    /// All administrators, ordered by name.
    pub async fn list_admins(&self) -> Result<Vec<TurnAdmin>> {
        let rows = self.db.query(ADMIN_LIST, Vec::new()).await?;
        rows.iter()
            .map(|r| {
                Ok(TurnAdmin {
                    name: r.text(0)?,
                    realm: r.opt_text(1)?,
                })
            })
            .collect()
    }

    /// Adds a REST shared secret to `realm`; [`Error::AlreadyExists`] if
    /// that exact secret is already there. Other secrets stay valid.
    pub async fn add_secret(&self, realm: &str, secret: &str) -> Result<()> {
        check_name("realm", realm)?;
        check_name("secret", secret)?;
        let params = vec![realm.into(), secret.into(), unix_now().into()];
        match self.db.exec(SECRET_INSERT, params).await? {
            Exec::Rows(_) => Ok(()),
            Exec::Duplicate => Err(Error::AlreadyExists(Entity::TurnSecret)),
        }
    }

    /// Secrets of `realm`, or of every realm; newest first within a realm.
    pub async fn list_secrets(&self, realm: Option<&str>) -> Result<Vec<SharedSecret>> {
        let rows = match realm {
            Some(realm) => self.db.query(SECRET_LIST_REALM, vec![realm.into()]).await?,
            None => self.db.query(SECRET_LIST, Vec::new()).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(SharedSecret {
                    realm: r.text(0)?,
                    secret: r.text(1)?,
                    created_at: r.int(2)?,
                })
            })
            .collect()
    }

    /// Deletes one secret of `realm`; [`Error::NotFound`] if absent.
    pub async fn delete_secret(&self, realm: &str, secret: &str) -> Result<()> {
        let n = self
            .db
            .exec(SECRET_DELETE, vec![realm.into(), secret.into()])
            .await?;
        expect_some_rows(n, Entity::TurnSecret)
    }

    /// Deletes every secret of `realm`, returning how many there were.
    pub async fn delete_secrets(&self, realm: &str) -> Result<u64> {
        match self
            .db
            .exec(SECRET_DELETE_REALM, vec![realm.into()])
            .await?
        {
            Exec::Rows(n) => Ok(n),
            Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
        }
    }

    /// Number of users, admins and secrets, in one query.
    pub async fn counts(&self) -> Result<TurnCounts> {
        let row = self
            .db
            .query_opt(COUNTS, Vec::new())
            .await?
            .ok_or(Error::Corrupt("count query returned no row"))?;
        Ok(TurnCounts {
            users: row.count(0)?,
            admins: row.count(1)?,
            secrets: row.count(2)?,
        })
    }
}
