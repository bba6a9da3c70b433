//! SQLite backend: one writer connection, a small pool of read-only
//! connections, all used from tokio's blocking thread pool.
//!
//! Durability: the file is in WAL mode with `synchronous = FULL`. A commit
//! returns only after the WAL has been written *and fsynced*, so a committed
//! write survives `kill -9` of the daemon (WAL alone guarantees that) and
//! also a power cut or kernel crash (what FULL adds over NORMAL). Writes are
//! rare administrative actions, so the fsync per commit costs nothing that
//! matters; reads never fsync.
//!
//! Sharing: the daemon and the admin tool open the same file. WAL lets
//! readers proceed during a write; writers wait up to `busy_timeout_ms` for
//! each other instead of failing with `SQLITE_BUSY`.
//!
//! Transactions ([`SqliteTx`]) hold the single writer connection from
//! `BEGIN IMMEDIATE` to `COMMIT`, so within one process they queue behind
//! each other, and across processes SQLite's write lock serialises them.
//! A transaction that is dropped or whose future is cancelled is rolled
//! back where its connection is released, never left open.

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, Semaphore};

use crate::config::SqliteConfig;
use crate::error::{Error, Result};
use crate::migrate::{self, Migration};
use crate::sql::{unix_now, Exec, Row, Value};

/// Statement-cache size per connection; comfortably above the number of
/// distinct statements this crate issues.
const STATEMENT_CACHE: usize = 64;

pub(crate) struct Sqlite {
    path: PathBuf,
    writer: Arc<AsyncMutex<Connection>>,
    /// Bumped whenever the writer connection is used outside
    /// [`Sqlite::batch`], so a batch's caller can tell its cache may be
    /// stale (SQLite's `data_version` does not count this connection's own
    /// commits).
    other_writes: Arc<AtomicU64>,
    readers: Arc<Readers>,
}

struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    path: PathBuf,
    busy_timeout: Duration,
}

impl fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish()
    }
}

impl Sqlite {
    /// Opens (creating if needed) the database file and applies pending
    /// migrations.
    pub(crate) async fn open(
        cfg: &SqliteConfig,
        migrations: &'static [&'static Migration],
    ) -> Result<Self> {
        if cfg.readers == 0 {
            return Err(Error::Config("sqlite.readers must be at least 1".into()));
        }
        let path = cfg.path.clone();
        let busy_timeout = Duration::from_millis(cfg.busy_timeout_ms);
        let writer = blocking({
            let path = path.clone();
            move || {
                let mut conn = open_writer(&path, busy_timeout)?;
                apply_migrations(&mut conn, migrations)?;
                Ok(conn)
            }
        })
        .await?;
        Ok(Sqlite {
            path: path.clone(),
            writer: Arc::new(AsyncMutex::new(writer)),
            other_writes: Arc::new(AtomicU64::new(0)),
            readers: Arc::new(Readers {
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(cfg.readers)),
                path,
                busy_timeout,
            }),
        })
    }

    /// Takes the writer connection, waiting for this process's other
    /// writers.
    async fn writer(&self) -> WriterConn {
        let conn = WriterConn(Arc::clone(&self.writer).lock_owned().await);
        self.other_writes.fetch_add(1, Ordering::Relaxed);
        conn
    }

    /// Runs `f` on the writer connection on the blocking pool, in one hop:
    /// the group-commit path of the location service. `f` gets the count of
    /// other uses of the writer connection so far (see `other_writes`). A
    /// transaction `f` leaves open is rolled back.
    pub(crate) async fn batch<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, u64) -> T + Send + 'static,
    {
        let conn = WriterConn(Arc::clone(&self.writer).lock_owned().await);
        let others = self.other_writes.load(Ordering::Relaxed);
        tokio::task::spawn_blocking(move || f(&conn, others))
            .await
            .map_err(|e| Error::sqlite("worker thread", e))
    }

    /// Runs one data-changing statement on the writer connection.
    pub(crate) async fn exec(&self, sql: &'static str, params: Vec<Value>) -> Result<Exec> {
        let conn = self.writer().await;
        blocking(move || exec_on(&conn, sql, &params)).await
    }

    /// Runs one INSERT on the writer connection and returns the new row's
    /// id, or `None` if a constraint rejected it.
    pub(crate) async fn insert(
        &self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Option<i64>> {
        let conn = self.writer().await;
        blocking(move || insert_on(&conn, sql, &params)).await
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: it takes the write
    /// lock at once, waiting up to the busy timeout for other processes).
    pub(crate) async fn begin(&self) -> Result<SqliteTx> {
        let conn = self.writer().await;
        let conn = blocking(move || {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| Error::sqlite("begin transaction", e))?;
            Ok(conn)
        })
        .await?;
        Ok(SqliteTx { conn: Some(conn) })
    }

    /// Runs one query on a pooled read-only connection.
    pub(crate) async fn query(&self, sql: &'static str, params: Vec<Value>) -> Result<Vec<Row>> {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|e| Error::sqlite("read", e))?;
        let readers = Arc::clone(&self.readers);
        blocking(move || {
            let _permit = permit;
            let pooled = lock(&readers.idle).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&readers.path, readers.busy_timeout)?,
            };
            let out = run_query(&conn, sql, &params);
            lock(&readers.idle).push(conn);
            out
        })
        .await
    }

    /// Current schema version as recorded in the file.
    pub(crate) async fn schema_version(&self) -> Result<u32> {
        let rows = self.query(migrate::CURRENT_VERSION, Vec::new()).await?;
        let v = rows
            .first()
            .ok_or(Error::Corrupt("no schema version"))?
            .int(0)?;
        u32::try_from(v).map_err(|_| Error::Corrupt("schema version out of range"))
    }
}

/// The writer connection while this process holds it. Releasing it rolls
/// back any transaction still open on it, so a dropped [`SqliteTx`] or a
/// cancelled call never leaves the write lock held.
struct WriterConn(OwnedMutexGuard<Connection>);

impl Deref for WriterConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl Drop for WriterConn {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            if let Err(e) = self.0.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "rolling back an abandoned sqlite transaction");
            }
        }
    }
}

/// An open write transaction on the SQLite writer connection.
pub(crate) struct SqliteTx {
    /// `None` only after a call on it was cancelled mid-way.
    conn: Option<WriterConn>,
}

impl fmt::Debug for SqliteTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTx")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl SqliteTx {
    /// Runs `f` on the transaction's connection on the blocking pool.
    async fn with<T, F>(&mut self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| Error::sqlite("transaction", "an earlier call on it was cancelled"))?;
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = f(&conn);
            (conn, out)
        })
        .await
        .map_err(|e| Error::sqlite("worker thread", e))?;
        self.conn = Some(conn);
        out
    }

    pub(crate) async fn exec(&mut self, sql: &'static str, params: Vec<Value>) -> Result<Exec> {
        self.with(move |conn| exec_on(conn, sql, &params)).await
    }

    pub(crate) async fn insert(
        &mut self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Option<i64>> {
        self.with(move |conn| insert_on(conn, sql, &params)).await
    }

    /// Reads inside the transaction, seeing its own uncommitted writes.
    pub(crate) async fn query(
        &mut self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        self.with(move |conn| run_query(conn, sql, &params)).await
    }

    /// Commits; with `synchronous = FULL` this returns after the fsync.
    pub(crate) async fn commit(mut self) -> Result<()> {
        self.with(|conn| {
            conn.execute_batch("COMMIT")
                .map_err(|e| Error::sqlite("commit", e))
        })
        .await
    }
}

pub(crate) fn exec_on(conn: &Connection, sql: &str, params: &[Value]) -> Result<Exec> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| Error::sqlite("prepare", e))?;
    match stmt.execute(params_from_iter(params.iter())) {
        Ok(n) => Ok(Exec::Rows(n as u64)),
        Err(e) if is_constraint_violation(&e) => Ok(Exec::Duplicate),
        Err(e) => Err(Error::sqlite("write", e)),
    }
}

fn insert_on(conn: &Connection, sql: &str, params: &[Value]) -> Result<Option<i64>> {
    match exec_on(conn, sql, params)? {
        Exec::Rows(_) => Ok(Some(conn.last_insert_rowid())),
        Exec::Duplicate => Ok(None),
    }
}

/// Runs `f` on tokio's blocking pool; SQLite calls block on disk and locks.
async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::sqlite("worker thread", e))?
}

/// Locks a mutex, recovering from poisoning: a panic in another thread left
/// no half-done SQL behind, because an open transaction rolls back on drop.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Plain read-write open; no URI interpretation of the configured path.
fn flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// Creates the file with mode 0600 unless it exists: it holds
/// password-equivalent keys. SQLite gives the `-wal` and `-shm` files the
/// database file's permissions.
fn create_private(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::sqlite(
            "create database file",
            format!("{}: {e}", path.display()),
        )),
    }
}

pub(crate) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    create_private(path)?;
    let conn = Connection::open_with_flags(path, flags())
        .map_err(|e| Error::sqlite("open", format!("{}: {e}", path.display())))?;
    let setup = |e| Error::sqlite("configure connection", e);
    conn.busy_timeout(busy_timeout).map_err(setup)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(setup)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::sqlite(
            "configure connection",
            format!("cannot enable WAL mode (journal_mode is {mode})"),
        ));
    }
    // Plans that do not depend on bound values: with STAT4 compiled in,
    // SQLite otherwise re-prepares range queries (`expires > ?`) for each
    // new value, which cost more than running them.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(setup)?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;",
    )
    .map_err(setup)?;
    Ok(conn)
}

fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags())
        .map_err(|e| Error::sqlite("open", format!("{}: {e}", path.display())))?;
    let setup = |e| Error::sqlite("configure connection", e);
    conn.busy_timeout(busy_timeout).map_err(setup)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")
        .map_err(setup)?;
    Ok(conn)
}

/// Applies every migration newer than the file's version in one
/// `BEGIN IMMEDIATE` transaction. Returns the resulting version.
pub(crate) fn apply_migrations(conn: &mut Connection, list: &[&Migration]) -> Result<u32> {
    let latest = list.last().map_or(0, |m| m.version);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Error::sqlite("begin migration", e))?;
    tx.execute_batch(migrate::SQLITE_BOOTSTRAP)
        .map_err(|e| Error::sqlite("create schema_version", e))?;
    let current: i64 = tx
        .query_row(migrate::CURRENT_VERSION, [], |r| r.get(0))
        .map_err(|e| Error::sqlite("read schema_version", e))?;
    let current =
        u32::try_from(current).map_err(|_| Error::Corrupt("schema version out of range"))?;
    if current > latest {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: latest,
        });
    }
    for m in list.iter().filter(|m| m.version > current) {
        let failed = |e: rusqlite::Error| Error::Migration {
            version: m.version,
            name: m.name,
            message: e.to_string(),
        };
        for stmt in m.sqlite {
            tx.execute_batch(stmt).map_err(failed)?;
        }
        tx.execute(
            migrate::RECORD_VERSION,
            rusqlite::params![m.version, m.name, unix_now()],
        )
        .map_err(failed)?;
        tracing::info!(version = m.version, name = m.name, "sqlite schema migrated");
    }
    tx.commit()
        .map_err(|e| Error::sqlite("commit migration", e))?;
    Ok(current.max(latest))
}

pub(crate) fn run_query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let failed = |e| Error::sqlite("read", e);
    let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
    let columns = stmt.column_count();
    let mut rows = stmt
        .query(params_from_iter(params.iter()))
        .map_err(failed)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i).map_err(failed)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(_) => return Err(Error::Corrupt("unexpected REAL column")),
                ValueRef::Text(t) => match std::str::from_utf8(t) {
                    Ok(s) => Value::Text(s.to_owned()),
                    Err(_) => Value::Blob(t.to_vec()),
                },
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

fn is_constraint_violation(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::ConstraintViolation))
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const GOOD: Migration = Migration {
        version: 1,
        name: "good",
        sqlite: &["CREATE TABLE good (x INTEGER)"],
        mysql: &["-"],
    };
    const BAD: Migration = Migration {
        version: 2,
        name: "bad",
        sqlite: &["CREATE TABLE half (x INTEGER)", "THIS IS NOT SQL"],
        mysql: &["-"],
    };

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn failed_migration_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_writer(&dir.path().join("db"), Duration::from_secs(1)).unwrap();
        let err = apply_migrations(&mut conn, &[&GOOD, &BAD]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Migration {
                    version: 2,
                    name: "bad",
                    ..
                }
            ),
            "{err}"
        );
        // One transaction: not even the good migration or the first half of
        // the bad one is visible.
        assert!(!table_exists(&conn, "good"));
        assert!(!table_exists(&conn, "half"));
        assert_eq!(apply_migrations(&mut conn, &[&GOOD]).unwrap(), 1);
        assert!(table_exists(&conn, "good"));
    }

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_writer(&dir.path().join("db"), Duration::from_secs(1)).unwrap();
        assert_eq!(apply_migrations(&mut conn, &[&GOOD]).unwrap(), 1);
        // A second run would fail on CREATE TABLE if it re-applied GOOD.
        assert_eq!(apply_migrations(&mut conn, &[&GOOD]).unwrap(), 1);
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn wal_and_full_sync_are_on() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("db"), Duration::from_secs(1)).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous = FULL");
    }
}
