//! The two storage engines behind one set of calls. Service modules talk to
//! [`Backend`] only, in terms of [`Sql`], [`Value`], [`Row`] and [`Exec`].

mod mysql;
mod sqlite;

use crate::config::DatabaseConfig;
use crate::error::{BackendKind, Error, Result};
use crate::migrate::MIGRATIONS;
use crate::sql::{Exec, Row, Sql, Value};
use crate::Change;

/// How often an upsert retries when concurrent writers keep inserting and
/// deleting the same key under it.
const UPSERT_ATTEMPTS: usize = 3;

/// An open database of either kind.
#[derive(Debug)]
pub(crate) enum Backend {
    Sqlite(sqlite::Sqlite),
    Mysql(mysql::Mysql),
}

impl Backend {
    /// Opens the configured database and brings its schema up to date.
    pub(crate) async fn open(cfg: &DatabaseConfig) -> Result<Self> {
        match cfg {
            DatabaseConfig::Sqlite(c) => sqlite::Sqlite::open(c, MIGRATIONS)
                .await
                .map(Backend::Sqlite),
            DatabaseConfig::Mysql(c) => mysql::Mysql::open(c, MIGRATIONS).await.map(Backend::Mysql),
        }
    }

    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Mysql(_) => BackendKind::Mysql,
        }
    }

    /// Runs a data-changing statement in its own (auto-committed)
    /// transaction.
    pub(crate) async fn exec(&self, sql: Sql, params: Vec<Value>) -> Result<Exec> {
        match self {
            Backend::Sqlite(db) => db.exec(sql.sqlite, params).await,
            Backend::Mysql(db) => db.exec(sql.mysql, params).await,
        }
    }

    /// Runs a query and collects every row.
    pub(crate) async fn query(&self, sql: Sql, params: Vec<Value>) -> Result<Vec<Row>> {
        match self {
            Backend::Sqlite(db) => db.query(sql.sqlite, params).await,
            Backend::Mysql(db) => db.query(sql.mysql, params).await,
        }
    }

    /// Runs a query expected to return at most one row.
    pub(crate) async fn query_opt(&self, sql: Sql, params: Vec<Value>) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Updates the row if it exists, inserts it otherwise. Portable and safe
    /// against a concurrent insert of the same key: the UPDATE reports
    /// matched rows on both backends, and a duplicate-key INSERT retries the
    /// UPDATE.
    pub(crate) async fn upsert(
        &self,
        update: Sql,
        update_params: Vec<Value>,
        insert: Sql,
        insert_params: Vec<Value>,
    ) -> Result<Change> {
        for _ in 0..UPSERT_ATTEMPTS {
            if let Exec::Rows(n) = self.exec(update, update_params.clone()).await? {
                if n > 0 {
                    return Ok(Change::Updated);
                }
            }
            if let Exec::Rows(_) = self.exec(insert, insert_params.clone()).await? {
                return Ok(Change::Created);
            }
        }
        Err(Error::Backend {
            backend: self.kind(),
            context: "upsert",
            message: "the row kept changing under concurrent writers; try again".into(),
        })
    }

    pub(crate) async fn schema_version(&self) -> Result<u32> {
        match self {
            Backend::Sqlite(db) => db.schema_version().await,
            Backend::Mysql(db) => db.schema_version().await,
        }
    }

    /// Releases connections cleanly (SQLite connections simply drop).
    pub(crate) async fn close(self) -> Result<()> {
        match self {
            Backend::Sqlite(_) => Ok(()),
            Backend::Mysql(db) => db.close().await,
        }
    }
}
