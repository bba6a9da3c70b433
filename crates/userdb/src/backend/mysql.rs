//! MySQL/MariaDB backend over `mysql_async` with rustls (no OpenSSL).
//!
//! Every statement is a server-side prepared statement with bound
//! parameters. Sessions run with `STRICT_ALL_TABLES`, so an oversized value
//! is an error rather than a silent truncation, and with CLIENT_FOUND_ROWS,
//! so an UPDATE reports matched rows the way SQLite does.
//!
//! Transactions ([`MysqlTx`]) run at READ COMMITTED, set per session so
//! that the server's default does not change their meaning. The service
//! modules lock the rows they decide on with `SELECT ... FOR UPDATE` (an
//! XMPP account row, the bindings of one SIP address of record), so two
//! nodes changing the same record are serialised; READ COMMITTED takes no
//! gap locks, so writers of *different* records (two phones registering
//! for the first time) do not deadlock each other as they would at
//! REPEATABLE READ. A racing insert of the same new key surfaces as a
//! duplicate key, and an InnoDB deadlock or a Galera certification failure
//! as [`Error::Conflict`]; callers retry the whole transaction. (This needs
//! `binlog_format` ROW or MIXED, the defaults, if binary logging is on.) A
//! dropped transaction is rolled back when its connection goes back to the
//! pool.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{
    Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, SslOpts, Transaction, TxOpts,
};

use crate::config::MysqlConfig;
use crate::error::{Error, Result};
use crate::migrate::{self, Migration};
use crate::sql::{unix_now, Exec, Row, Value};

/// How long to wait for a connection (TCP, TLS and login, or a free pool
/// slot) before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the named lock serialising migrators of one database, waiting up
/// to 60 s for another process's migration. GET_LOCK is server-wide, so the
/// name includes a hash of the database name.
const TAKE_LOCK: &str = "SELECT GET_LOCK(CONCAT('rtc_userdb.', SHA1(DATABASE())), 60)";

/// Releases [`TAKE_LOCK`]'s lock.
const RELEASE_LOCK: &str = "DO RELEASE_LOCK(CONCAT('rtc_userdb.', SHA1(DATABASE())))";

/// ER_DUP_ENTRY and ER_DUP_ENTRY_WITH_KEY_NAME.
const DUPLICATE_KEY_CODES: [u16; 2] = [1062, 1586];

/// ER_LOCK_DEADLOCK: InnoDB rolled the whole transaction back. Galera
/// reports a failed certification the same way.
const DEADLOCK_CODE: u16 = 1213;

pub(crate) struct Mysql {
    pool: Pool,
    opts: Opts,
}

impl fmt::Debug for Mysql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mysql")
            .field("host", &self.opts.ip_or_hostname())
            .field("port", &self.opts.tcp_port())
            .field("database", &self.opts.db_name())
            .finish()
    }
}

impl Mysql {
    /// Connects, checks the server answers, and applies pending migrations.
    pub(crate) async fn open(
        cfg: &MysqlConfig,
        migrations: &'static [&'static Migration],
    ) -> Result<Self> {
        let opts = build_opts(cfg)?;
        let db = Mysql {
            pool: Pool::new(opts.clone()),
            opts,
        };
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// Disconnects the pool, waiting for borrowed connections to return.
    pub(crate) async fn close(self) -> Result<()> {
        self.pool
            .disconnect()
            .await
            .map_err(|e| Error::mysql("disconnect", e))
    }

    async fn conn(&self) -> Result<Conn> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(Error::mysql("connect", e)),
            Err(_) => Err(Error::mysql("connect", "timed out after 10 s")),
        }
    }

    /// Runs one data-changing statement.
    pub(crate) async fn exec(&self, sql: &'static str, params: Vec<Value>) -> Result<Exec> {
        let mut conn = self.conn().await?;
        exec_on(&mut conn, sql, params).await
    }

    /// Runs one INSERT and returns the new row's AUTO_INCREMENT id, or
    /// `None` if a unique key rejected it.
    pub(crate) async fn insert(
        &self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Option<i64>> {
        let mut conn = self.conn().await?;
        insert_on(&mut conn, sql, params).await
    }

    /// Starts a transaction on a pooled connection.
    pub(crate) async fn begin(&self) -> Result<MysqlTx> {
        let start = self.pool.start_transaction(TxOpts::default());
        match tokio::time::timeout(CONNECT_TIMEOUT, start).await {
            Ok(Ok(tx)) => Ok(MysqlTx { tx }),
            Ok(Err(e)) => Err(Error::mysql("begin transaction", e)),
            Err(_) => Err(Error::mysql("connect", "timed out after 10 s")),
        }
    }

    /// Runs one query.
    pub(crate) async fn query(&self, sql: &'static str, params: Vec<Value>) -> Result<Vec<Row>> {
        let mut conn = self.conn().await?;
        query_on(&mut conn, sql, params).await
    }

    /// Current schema version as recorded in the database.
    pub(crate) async fn schema_version(&self) -> Result<u32> {
        let rows = self.query(migrate::CURRENT_VERSION, Vec::new()).await?;
        let v = rows
            .first()
            .ok_or(Error::Corrupt("no schema version"))?
            .int(0)?;
        u32::try_from(v).map_err(|_| Error::Corrupt("schema version out of range"))
    }

    /// Applies pending migrations on a dedicated connection holding the
    /// migration lock; closing that connection always releases the lock.
    async fn migrate(&self, list: &[&Migration]) -> Result<u32> {
        let mut conn =
            match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(self.opts.clone())).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(Error::mysql("connect", e)),
                Err(_) => return Err(Error::mysql("connect", "timed out after 10 s")),
            };
        let result = migrate_locked(&mut conn, list).await;
        if let Err(e) = conn.disconnect().await {
            tracing::debug!(error = %e, "closing the migration connection");
        }
        result
    }
}

/// An open transaction on a pooled connection.
#[derive(Debug)]
pub(crate) struct MysqlTx {
    tx: Transaction<'static>,
}

impl MysqlTx {
    pub(crate) async fn exec(&mut self, sql: &'static str, params: Vec<Value>) -> Result<Exec> {
        exec_on(&mut self.tx, sql, params).await
    }

    pub(crate) async fn insert(
        &mut self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Option<i64>> {
        insert_on(&mut self.tx, sql, params).await
    }

    pub(crate) async fn query(
        &mut self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        query_on(&mut self.tx, sql, params).await
    }

    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(|e| write_error("commit", e))
    }
}

async fn exec_on(conn: &mut impl Queryable, sql: &'static str, params: Vec<Value>) -> Result<Exec> {
    match conn.exec_iter(sql, to_params(params)).await {
        Ok(result) => {
            let rows = result.affected_rows();
            result
                .drop_result()
                .await
                .map_err(|e| write_error("write", e))?;
            Ok(Exec::Rows(rows))
        }
        Err(mysql_async::Error::Server(e)) if DUPLICATE_KEY_CODES.contains(&e.code) => {
            Ok(Exec::Duplicate)
        }
        Err(e) => Err(write_error("write", e)),
    }
}

async fn insert_on(
    conn: &mut impl Queryable,
    sql: &'static str,
    params: Vec<Value>,
) -> Result<Option<i64>> {
    match conn.exec_iter(sql, to_params(params)).await {
        Ok(result) => {
            let id = result.last_insert_id();
            result
                .drop_result()
                .await
                .map_err(|e| write_error("write", e))?;
            let id = id.ok_or(Error::Corrupt("INSERT reported no AUTO_INCREMENT id"))?;
            i64::try_from(id)
                .map(Some)
                .map_err(|_| Error::Corrupt("AUTO_INCREMENT id out of range"))
        }
        Err(mysql_async::Error::Server(e)) if DUPLICATE_KEY_CODES.contains(&e.code) => Ok(None),
        Err(e) => Err(write_error("write", e)),
    }
}

async fn query_on(
    conn: &mut impl Queryable,
    sql: &'static str,
    params: Vec<Value>,
) -> Result<Vec<Row>> {
    let rows: Vec<mysql_async::Row> = conn
        .exec(sql, to_params(params))
        .await
        .map_err(|e| write_error("read", e))?;
    rows.into_iter().map(from_row).collect()
}

/// Maps a driver error, singling out deadlocks, which callers retry.
fn write_error(context: &'static str, e: mysql_async::Error) -> Error {
    match e {
        mysql_async::Error::Server(ref s) if s.code == DEADLOCK_CODE => Error::Conflict {
            backend: crate::BackendKind::Mysql,
        },
        e => Error::mysql(context, e),
    }
}

async fn migrate_locked(conn: &mut Conn, list: &[&Migration]) -> Result<u32> {
    let latest = list.last().map_or(0, |m| m.version);
    let got: Option<Option<i64>> = conn
        .query_first(TAKE_LOCK)
        .await
        .map_err(|e| Error::mysql("take migration lock", e))?;
    if got != Some(Some(1)) {
        return Err(Error::mysql(
            "take migration lock",
            "another process has been migrating this database for 60 s",
        ));
    }
    conn.query_drop(migrate::MYSQL_BOOTSTRAP)
        .await
        .map_err(|e| Error::mysql("create schema_version", e))?;
    let current: Option<u64> = conn
        .query_first(migrate::CURRENT_VERSION)
        .await
        .map_err(|e| Error::mysql("read schema_version", e))?;
    let current = u32::try_from(current.unwrap_or(0))
        .map_err(|_| Error::Corrupt("schema version out of range"))?;
    if current > latest {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: latest,
        });
    }
    for m in list.iter().filter(|m| m.version > current) {
        if let Err(e) = apply_one(conn, m).await {
            // Undo whatever data statements are still uncommitted.
            let _ = conn.query_drop("ROLLBACK").await;
            return Err(Error::Migration {
                version: m.version,
                name: m.name,
                message: e.to_string(),
            });
        }
        tracing::info!(version = m.version, name = m.name, "mysql schema migrated");
    }
    conn.query_drop(RELEASE_LOCK)
        .await
        .map_err(|e| Error::mysql("release migration lock", e))?;
    Ok(current.max(latest))
}

async fn apply_one(conn: &mut Conn, m: &Migration) -> std::result::Result<(), mysql_async::Error> {
    conn.query_drop("START TRANSACTION").await?;
    for stmt in m.mysql {
        conn.query_drop(*stmt).await?;
    }
    conn.exec_drop(migrate::RECORD_VERSION, (m.version, m.name, unix_now()))
        .await?;
    conn.query_drop("COMMIT").await
}

/// Turns the configuration into driver options: pool size, session setup,
/// and TLS (required by default unless the server is on this machine).
fn build_opts(cfg: &MysqlConfig) -> Result<Opts> {
    // The driver's URL errors never echo the password.
    let opts = Opts::from_url(&cfg.url).map_err(|e| Error::Config(format!("mysql.url: {e}")))?;
    if opts.db_name().is_none_or(str::is_empty) {
        return Err(Error::Config(
            "mysql.url must name a database, e.g. mysql://user:password@host:3306/rtc".into(),
        ));
    }
    let constraints = PoolConstraints::new(0, cfg.max_connections)
        .ok_or_else(|| Error::Config("mysql.max_connections must be at least 1".into()))?;
    let local = is_local(opts.ip_or_hostname());
    let want_tls = cfg.ca_file.is_some() || cfg.require_tls.unwrap_or(!local);
    let mut ssl = opts.ssl_opts().cloned();
    if want_tls && ssl.is_none() {
        ssl = Some(SslOpts::default());
    }
    if let Some(ca) = &cfg.ca_file {
        ssl = ssl.map(|s| s.with_root_certs(vec![ca.clone().into()]));
    }
    let builder = OptsBuilder::from_opts(opts)
        .ssl_opts(ssl)
        .client_found_rows(true)
        .pool_opts(PoolOpts::default().with_constraints(constraints))
        .init(vec![
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ]);
    Ok(builder.into())
}

fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn to_params(values: Vec<Value>) -> Params {
    if values.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        values
            .into_iter()
            .map(|v| match v {
                Value::Null => mysql_async::Value::NULL,
                Value::Int(n) => mysql_async::Value::Int(n),
                Value::Text(s) => mysql_async::Value::Bytes(s.into_bytes()),
                Value::Blob(b) => mysql_async::Value::Bytes(b),
            })
            .collect(),
    )
}

fn from_row(row: mysql_async::Row) -> Result<Row> {
    row.unwrap_raw()
        .into_iter()
        .map(|v| match v {
            Some(mysql_async::Value::NULL) => Ok(Value::Null),
            Some(mysql_async::Value::Bytes(b)) => Ok(Value::Blob(b)),
            Some(mysql_async::Value::Int(n)) => Ok(Value::Int(n)),
            Some(mysql_async::Value::UInt(n)) => i64::try_from(n)
                .map(Value::Int)
                .map_err(|_| Error::Corrupt("integer out of range")),
            Some(_) => Err(Error::Corrupt("unexpected column type")),
            None => Err(Error::Corrupt("missing column")),
        })
        .collect::<Result<Vec<_>>>()
        .map(Row)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::DatabaseConfig;

    fn cfg(url: &str) -> MysqlConfig {
        match DatabaseConfig::mysql(url) {
            DatabaseConfig::Mysql(m) => m,
            DatabaseConfig::Sqlite(_) => unreachable!(),
        }
    }

    #[test]
    fn tls_is_required_for_remote_servers_by_default() {
        let remote = build_opts(&cfg("mysql://u:p@db.example.net/rtc")).unwrap();
        assert!(remote.ssl_opts().is_some());
        for local in [
            "mysql://u@127.0.0.1/rtc",
            "mysql://u@localhost/rtc",
            "mysql://u@[::1]/rtc",
        ] {
            assert!(
                build_opts(&cfg(local)).unwrap().ssl_opts().is_none(),
                "{local}"
            );
        }
        let mut opt_out = cfg("mysql://u:p@db.example.net/rtc");
        opt_out.require_tls = Some(false);
        assert!(build_opts(&opt_out).unwrap().ssl_opts().is_none());
        let mut with_ca = cfg("mysql://u@127.0.0.1/rtc");
        with_ca.ca_file = Some("/etc/ssl/db-ca.pem".into());
        let opts = build_opts(&with_ca).unwrap();
        assert_eq!(opts.ssl_opts().unwrap().root_certs().len(), 1);
    }

    #[test]
    fn url_without_database_is_a_config_error() {
        for url in [
            "mysql://u:p@host",
            "mysql://u:p@host/",
            "postgres://h/db",
            "nonsense",
        ] {
            let err = build_opts(&cfg(url)).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{url}: {err}");
            assert!(!err.to_string().contains(":p@"), "{err}");
        }
    }

    #[test]
    fn zero_pool_size_is_a_config_error() {
        let mut c = cfg("mysql://u@127.0.0.1/rtc");
        c.max_connections = 0;
        assert!(matches!(build_opts(&c), Err(Error::Config(_))));
    }
}
