//! Test databases for both backends.
//!
//! SQLite: a file in a fresh temporary directory.
//! MySQL/MariaDB: a uniquely named database created on the server named by
//! `USERDB_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`) and
//! dropped when the fixture is dropped, even if the test panicked. If the
//! server cannot be reached the test fails; it is never skipped.
#![allow(
    dead_code,
    unused_macros,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use rtc_userdb::DatabaseConfig;

/// Turns each listed `async fn name(&Fixture)` of the including test file
/// into two tests, `sqlite::name` and `mysql::name`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fx = crate::common::Fixture::sqlite();
                    crate::$name(&fx).await;
                }
            )+
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fx = crate::common::Fixture::mysql().await;
                    crate::$name(&fx).await;
                }
            )+
        }
    };
}

pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub enum Fixture {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Mysql {
        admin_url: String,
        database: String,
        url: String,
    },
}

impl Fixture {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create temporary directory");
        let path = dir.path().join("turnd.sqlite");
        Fixture::Sqlite { _dir: dir, path }
    }

    /// Creates a fresh database; panics with instructions if the server is
    /// not reachable.
    pub async fn mysql() -> Self {
        let admin_url = mysql_admin_url();
        let database = unique_database_name();
        let mut conn = admin_conn(&admin_url).await;
        conn.query_drop(format!("CREATE DATABASE `{database}`"))
            .await
            .unwrap_or_else(|e| {
                panic!("CREATE DATABASE {database} on {admin_url} failed: {e}; the test user needs CREATE and DROP privileges")
            });
        let _ = conn.disconnect().await;
        let url = with_database(&admin_url, &database);
        Fixture::Mysql {
            admin_url,
            database,
            url,
        }
    }

    pub fn config(&self) -> DatabaseConfig {
        match self {
            Fixture::Sqlite { path, .. } => DatabaseConfig::sqlite(path),
            Fixture::Mysql { url, .. } => DatabaseConfig::mysql(url.clone()),
        }
    }

    /// Runs a statement behind the crate's back (to simulate other tools).
    pub async fn raw_exec(&self, sql: &str) {
        match self {
            Fixture::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            Fixture::Mysql { url, .. } => {
                let mut conn = admin_conn(url).await;
                conn.query_drop(sql).await.unwrap();
                let _ = conn.disconnect().await;
            }
        }
    }

    /// Runs a single-column text query behind the crate's back.
    pub async fn raw_strings(&self, sql: &str) -> Vec<String> {
        match self {
            Fixture::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                stmt.query_map([], |r| r.get::<_, String>(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Fixture::Mysql { url, .. } => {
                let mut conn = admin_conn(url).await;
                let rows: Vec<Vec<u8>> = conn.query(sql).await.unwrap();
                let _ = conn.disconnect().await;
                rows.into_iter()
                    .map(|b| String::from_utf8(b).unwrap())
                    .collect()
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Fixture::Mysql {
            admin_url,
            database,
            ..
        } = self
        else {
            return;
        };
        // Async cleanup from a synchronous Drop, possibly while unwinding:
        // use a private runtime on a private thread.
        let admin_url = admin_url.clone();
        let name = database.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let opts = mysql_async::Opts::from_url(&admin_url).unwrap();
                let mut conn = mysql_async::Conn::new(opts).await?;
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await?;
                conn.disconnect().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {database}: {dropped:?}");
        }
    }
}

pub fn mysql_admin_url() -> String {
    std::env::var("USERDB_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_owned())
}

async fn admin_conn(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url)
        .unwrap_or_else(|e| panic!("USERDB_TEST_MYSQL_URL is not a valid MySQL URL: {e}"));
    match tokio::time::timeout(Duration::from_secs(10), mysql_async::Conn::new(opts)).await {
        Ok(Ok(conn)) => conn,
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer within 10 s".to_owned(),
            };
            panic!(
                "MySQL/MariaDB tests need a server and none answered at {url}: {why}.\n\
                 Start one (Debian: `apt-get install mariadb-server && service mariadb start`, \
                 then allow TCP login for root@127.0.0.1 with an empty password), \
                 or point USERDB_TEST_MYSQL_URL at a server where the user may CREATE and DROP \
                 databases, e.g. USERDB_TEST_MYSQL_URL=mysql://user:pass@host:3306/test"
            )
        }
    }
}

fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "userdb_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Replaces the database part of `mysql://auth@host:port/db?params`.
fn with_database(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let (head, tail) = url.split_at(authority_start);
    let path_start = tail.find(['/', '?']).unwrap_or(tail.len());
    let (authority, rest) = tail.split_at(path_start);
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    format!("{head}{authority}/{database}{query}")
}
