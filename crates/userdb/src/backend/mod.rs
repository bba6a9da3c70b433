//! The two storage engines behind one set of calls. Service modules talk to
//! [`Backend`] only, in terms of [`Sql`], [`Value`], [`Row`] and [`Exec`].

mod mysql;
mod sqlite;

pub(crate) use sqlite::{exec_on as sqlite_exec, run_query as sqlite_query};

use crate::config::DatabaseConfig;
use crate::error::{BackendKind, Error, Result};
use crate::migrate::MIGRATIONS;
use crate::sql::{Exec, Row, Sql, Value};
use crate::Change;

/// How often an upsert retries when concurrent writers keep inserting and
/// deleting the same key under it.
const UPSERT_ATTEMPTS: usize = 3;

/// How often [`retry_conflicts`] runs a transaction that keeps losing to
/// concurrent writers.
const TRANSACTION_ATTEMPTS: u32 = 8;

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

    /// Runs an INSERT in its own transaction and returns the new row's
    /// auto-increment id; `None` if a unique constraint rejected it.
    pub(crate) async fn insert(&self, sql: Sql, params: Vec<Value>) -> Result<Option<i64>> {
        match self {
            Backend::Sqlite(db) => db.insert(sql.sqlite, params).await,
            Backend::Mysql(db) => db.insert(sql.mysql, params).await,
        }
    }

    /// Starts a write transaction. Dropping it without [`Tx::commit`]
    /// rolls it back.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        match self {
            Backend::Sqlite(db) => db.begin().await.map(Tx::Sqlite),
            Backend::Mysql(db) => db.begin().await.map(Tx::Mysql),
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

    /// Runs `f` on the SQLite writer connection in one blocking-pool hop
    /// (see `sqlite::Sqlite::batch`); `None` on MySQL.
    pub(crate) async fn sqlite_batch<T, F>(&self, f: F) -> Option<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection, u64) -> T + Send + 'static,
    {
        match self {
            Backend::Sqlite(db) => Some(db.batch(f).await),
            Backend::Mysql(_) => None,
        }
    }

    /// The error a transaction returns when it lost a race it should retry.
    pub(crate) fn conflict(&self) -> Error {
        Error::Conflict {
            backend: self.kind(),
        }
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

/// One write transaction on either backend. All statements in it commit
/// together or not at all.
#[derive(Debug)]
pub(crate) enum Tx {
    Sqlite(sqlite::SqliteTx),
    Mysql(mysql::MysqlTx),
}

impl Tx {
    /// Runs a data-changing statement inside the transaction.
    pub(crate) async fn exec(&mut self, sql: Sql, params: Vec<Value>) -> Result<Exec> {
        match self {
            Tx::Sqlite(tx) => tx.exec(sql.sqlite, params).await,
            Tx::Mysql(tx) => tx.exec(sql.mysql, params).await,
        }
    }

    /// Runs an INSERT inside the transaction; see [`Backend::insert`].
    pub(crate) async fn insert(&mut self, sql: Sql, params: Vec<Value>) -> Result<Option<i64>> {
        match self {
            Tx::Sqlite(tx) => tx.insert(sql.sqlite, params).await,
            Tx::Mysql(tx) => tx.insert(sql.mysql, params).await,
        }
    }

    /// Reads inside the transaction (its own writes included). Use the
    /// `FOR UPDATE` spelling on MySQL for rows the transaction will change.
    pub(crate) async fn query(&mut self, sql: Sql, params: Vec<Value>) -> Result<Vec<Row>> {
        match self {
            Tx::Sqlite(tx) => tx.query(sql.sqlite, params).await,
            Tx::Mysql(tx) => tx.query(sql.mysql, params).await,
        }
    }

    /// Reads at most one row inside the transaction.
    pub(crate) async fn query_opt(&mut self, sql: Sql, params: Vec<Value>) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Commits. Returns once the commit is durable.
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Mysql(tx) => tx.commit().await,
        }
    }
}

/// Runs `attempt` (one whole transaction) again while it fails with
/// [`Error::Conflict`], a few times with a short growing pause, then gives
/// up with that error. Any other outcome is returned as is.
pub(crate) async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(Error::Conflict { backend }) if tries < TRANSACTION_ATTEMPTS => {
                tracing::debug!(%backend, tries, "transaction conflicted; retrying");
                let pause = std::time::Duration::from_millis(2u64 << tries);
                tokio::time::sleep(pause).await;
                tries += 1;
            }
            other => return other,
        }
    }
}
