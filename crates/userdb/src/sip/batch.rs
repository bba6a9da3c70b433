//! Group commit for the location service: the registrations (and the
//! lookups) that queued up while the previous batch was running go to the
//! database together, the saves in **one transaction and one fsync**.
//!
//! Each save still returns only after the commit that contains it, so a
//! caller that acknowledges a REGISTER once [`LocationBatch::run`] returned
//! never acknowledges something `kill -9` can lose. One save's failure
//! (out of order, over quota, invalid) is rolled back to its own savepoint
//! and leaves the other saves of the batch alone; a failed COMMIT fails them
//! all.
//!
//! SQLite: the whole batch runs on the writer connection in one hop to the
//! blocking pool. Lookups are answered from an in-memory cache of digests
//! and bindings that is emptied whenever anything else wrote to the file:
//! another process (`sipctl`, a second daemon; SQLite's `PRAGMA
//! data_version` tells) or another call of this process on the writer
//! connection. So a cached answer is always what the database would say.
//!
//! MySQL/MariaDB: several nodes may share the database and there is no
//! cheap way to learn what the others wrote, so nothing is cached. Each
//! operation runs as before on the pool (each save its own transaction),
//! all of a batch at once; InnoDB merges the fsyncs of concurrent commits.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::binding::{binding_from_row, invalid, Binding, BindingChange};
use super::location::{
    Stored, DELETE_AOR, DELETE_BINDING, DELETE_EXPIRED_OF_AOR, INSERT_BINDING, LIVE_BINDINGS,
    UPDATE_BINDING,
};
use super::{SipStore, MAX_CHANGES_PER_SAVE, SUB_DIGESTS};
use crate::backend::{sqlite_exec, sqlite_query};
use crate::credentials::SipDigests;
use crate::error::{BackendKind, Entity, Error, Result};
use crate::sql::{check_name, Exec};

/// Computes a save's changes from the bindings live before it (best first),
/// inside the transaction that applies them.
pub type Plan = Box<dyn FnOnce(&[Binding]) -> Vec<BindingChange> + Send>;

/// One operation of a batch.
pub enum SipOp {
    /// [`SipStore::subscriber_digests`].
    Digests {
        /// The domain (realm).
        domain: String,
        /// The user name.
        username: String,
    },
    /// [`SipStore::bindings`].
    Bindings {
        /// The address of record.
        aor: String,
    },
    /// [`SipStore::save_bindings`] with the changes computed by `plan`.
    Save {
        /// The address of record.
        aor: String,
        /// The changes, from what is stored.
        plan: Plan,
        /// See [`SipStore::save_bindings`].
        max_bindings: Option<usize>,
    },
}

impl fmt::Debug for SipOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SipOp::Digests { domain, username } => {
                write!(f, "Digests({username}@{domain})")
            }
            SipOp::Bindings { aor } => write!(f, "Bindings({aor})"),
            SipOp::Save { aor, .. } => write!(f, "Save({aor})"),
        }
    }
}

/// The answer to one [`SipOp`], in the same position.
#[derive(Debug)]
pub enum SipOpResult {
    /// For [`SipOp::Digests`].
    Digests(Result<Option<SipDigests>>),
    /// For [`SipOp::Bindings`]: live bindings, best first.
    Bindings(Result<Vec<Binding>>),
    /// For [`SipOp::Save`]: live bindings after the commit, best first.
    Saved(Result<Vec<Binding>>),
}

/// Runs batches of [`SipOp`]s; keep one for the life of the daemon (it
/// owns the cache). Cheap to clone; clones share the cache.
#[derive(Debug, Clone)]
pub struct LocationBatch {
    store: SipStore,
    cache: Arc<Mutex<Cache>>,
}

/// What the SQLite path remembers between batches.
#[derive(Debug, Default)]
struct Cache {
    /// `PRAGMA data_version` and the writer's other uses when last checked.
    seen: Option<(i64, u64)>,
    /// Most entries of each map; a full map is emptied.
    limit: usize,
    digests: HashMap<(String, String), Option<SipDigests>>,
    /// Bindings of an address of record, best first, expired ones included
    /// (filtered on every answer).
    bindings: HashMap<String, Vec<Binding>>,
}

impl Cache {
    fn clear(&mut self) {
        self.digests.clear();
        self.bindings.clear();
    }

    /// Empties the cache if anything but a batch wrote since the last check.
    fn check(&mut self, conn: &Connection, others: u64) {
        let version = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
            .ok();
        match version {
            Some(v) if self.seen == Some((v, others)) => {}
            _ => {
                self.clear();
                self.seen = version.map(|v| (v, others));
            }
        }
    }

    /// The live bindings of `aor` at `now`, if cached.
    fn live(&self, aor: &str, now: i64) -> Option<Vec<Binding>> {
        let list = self.bindings.get(aor)?;
        Some(list.iter().filter(|b| b.expires > now).cloned().collect())
    }
}

impl LocationBatch {
    /// A batch runner on `store` caching at most `cache_entries` addresses
    /// of record and as many subscribers (SQLite only; 0 turns it off).
    pub fn new(store: SipStore, cache_entries: usize) -> Self {
        let cache = Cache {
            limit: cache_entries,
            ..Cache::default()
        };
        LocationBatch {
            store,
            cache: Arc::new(Mutex::new(cache)),
        }
    }

    /// Runs `ops` at `now` (Unix seconds) and returns their answers in
    /// order, once every save among them is durable.
    pub async fn run(&self, ops: Vec<SipOp>, now: i64) -> Vec<SipOpResult> {
        let cache = Arc::clone(&self.cache);
        let n = ops.len();
        let ops = Arc::new(Mutex::new(Some(ops)));
        let taken = Arc::clone(&ops);
        let sqlite = self
            .store
            .db
            .sqlite_batch(move |conn, others| {
                let ops = lock(&taken).take().unwrap_or_default();
                run_sqlite(conn, others, &mut lock(&cache), ops, now)
            })
            .await;
        match sqlite {
            Some(Ok(answers)) => answers,
            Some(Err(e)) => {
                let text = e.to_string();
                (0..n)
                    .map(|_| SipOpResult::Saved(Err(Error::sqlite("batch", &text))))
                    .collect()
            }
            None => {
                let ops = lock(&ops).take().unwrap_or_default();
                self.run_concurrently(ops, now).await
            }
        }
    }

    /// The MySQL path: every operation on its own, all at once.
    async fn run_concurrently(&self, ops: Vec<SipOp>, now: i64) -> Vec<SipOpResult> {
        let mut tasks = tokio::task::JoinSet::new();
        let n = ops.len();
        for (i, op) in ops.into_iter().enumerate() {
            let store = self.store.clone();
            tasks.spawn(async move { (i, run_one(&store, op, now).await) });
        }
        let mut out: Vec<Option<SipOpResult>> = (0..n).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, r)) = joined {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    SipOpResult::Saved(Err(Error::Backend {
                        backend: BackendKind::Mysql,
                        context: "batch",
                        message: "a task of the batch failed".into(),
                    }))
                })
            })
            .collect()
    }
}

async fn run_one(store: &SipStore, op: SipOp, now: i64) -> SipOpResult {
    match op {
        SipOp::Digests { domain, username } => {
            SipOpResult::Digests(store.subscriber_digests(&domain, &username).await)
        }
        SipOp::Bindings { aor } => SipOpResult::Bindings(store.bindings(&aor, now).await),
        SipOp::Save {
            aor,
            plan,
            max_bindings,
        } => {
            let saved = match store.bindings(&aor, now).await {
                Ok(stored) => {
                    let changes = plan(&stored);
                    store.save_bindings(&aor, &changes, now, max_bindings).await
                }
                Err(e) => Err(e),
            };
            SipOpResult::Saved(saved)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a statement without parameters or rows (BEGIN, SAVEPOINT...) from
/// the statement cache: parsing it again for every REGISTER costs more than
/// the REGISTER's own SQL.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn sqlite_err(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::sqlite(context, e)
}

/// The SQLite path, on the writer connection.
fn run_sqlite(
    conn: &Connection,
    others: u64,
    cache: &mut Cache,
    ops: Vec<SipOp>,
    now: i64,
) -> Vec<SipOpResult> {
    cache.check(conn, others);
    let caching = cache.seen.is_some() && cache.limit > 0;
    let mut out: Vec<Option<SipOpResult>> = Vec::with_capacity(ops.len());
    let mut saves = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            SipOp::Digests { domain, username } => {
                out.push(Some(SipOpResult::Digests(digests(
                    conn, cache, caching, domain, username,
                ))));
            }
            SipOp::Bindings { aor } => {
                out.push(Some(SipOpResult::Bindings(bindings(
                    conn, cache, caching, aor, now,
                ))));
            }
            SipOp::Save {
                aor,
                plan,
                max_bindings,
            } => {
                out.push(None);
                saves.push((i, aor, plan, max_bindings));
            }
        }
    }
    if !saves.is_empty() {
        let results = save_all(conn, cache, others, saves, now);
        for (i, aor, r) in results {
            if let (true, Ok(live)) = (caching, &r) {
                if cache.bindings.len() >= cache.limit {
                    cache.bindings.clear();
                }
                cache.bindings.insert(aor, live.clone());
            } else {
                cache.bindings.remove(&aor);
            }
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(SipOpResult::Saved(r));
            }
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or(SipOpResult::Saved(Err(Error::Corrupt("lost batch answer")))))
        .collect()
}

fn digests(
    conn: &Connection,
    cache: &mut Cache,
    caching: bool,
    domain: String,
    username: String,
) -> Result<Option<SipDigests>> {
    if check_name("domain", &domain).is_err() || check_name("username", &username).is_err() {
        return Ok(None);
    }
    let key = (domain, username);
    if let Some(hit) = cache.digests.get(&key) {
        return Ok(hit.clone());
    }
    let rows = sqlite_query(
        conn,
        SUB_DIGESTS.sqlite,
        &[key.0.as_str().into(), key.1.as_str().into()],
    )?;
    let found = match rows.first() {
        Some(row) => Some(SipDigests {
            ha1: row.text(0)?,
            ha1b: row.text(1)?,
            ha1_sha256: row.text(2)?,
        }),
        None => None,
    };
    if caching {
        if cache.digests.len() >= cache.limit {
            cache.digests.clear();
        }
        cache.digests.insert(key, found.clone());
    }
    Ok(found)
}

fn bindings(
    conn: &Connection,
    cache: &mut Cache,
    caching: bool,
    aor: String,
    now: i64,
) -> Result<Vec<Binding>> {
    if check_name("aor", &aor).is_err() {
        return Ok(Vec::new());
    }
    if let Some(hit) = cache.live(&aor, now) {
        return Ok(hit);
    }
    let live = live_bindings(conn, &aor, now)?;
    if caching {
        if cache.bindings.len() >= cache.limit {
            cache.bindings.clear();
        }
        cache.bindings.insert(aor, live.clone());
    }
    Ok(live)
}

fn live_bindings(conn: &Connection, aor: &str, now: i64) -> Result<Vec<Binding>> {
    sqlite_query(conn, LIVE_BINDINGS.sqlite, &[aor.into(), now.into()])?
        .iter()
        .map(|r| binding_from_row(r, 0))
        .collect()
}

type Save = (usize, String, Plan, Option<usize>);

/// Every save in one transaction, each under its own savepoint.
fn save_all(
    conn: &Connection,
    cache: &mut Cache,
    others: u64,
    saves: Vec<Save>,
    now: i64,
) -> Vec<(usize, String, Result<Vec<Binding>>)> {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        let text = e.to_string();
        return saves
            .into_iter()
            .map(|(i, aor, ..)| (i, aor, Err(Error::sqlite("begin transaction", &text))))
            .collect();
    }
    // Holding the write lock now: nobody else can write until COMMIT, so
    // what the cache holds after this check is what is stored.
    cache.check(conn, others);
    let mut out = Vec::with_capacity(saves.len());
    for (i, aor, plan, max) in saves {
        let before = if cache.limit > 0 {
            cache.live(&aor, now)
        } else {
            None
        };
        let r = run(conn, "SAVEPOINT reg")
            .map_err(sqlite_err("savepoint"))
            .and_then(|()| {
                let r = save_one(conn, &aor, plan, now, max, before);
                if r.is_err() {
                    run(conn, "ROLLBACK TO reg").map_err(sqlite_err("savepoint"))?;
                }
                run(conn, "RELEASE reg").map_err(sqlite_err("savepoint"))?;
                r
            });
        out.push((i, aor, r));
    }
    if let Err(e) = run(conn, "COMMIT") {
        // The writer's drop rolls back what is left open.
        let text = e.to_string();
        for (_, _, r) in &mut out {
            if r.is_ok() {
                *r = Err(Error::sqlite("commit", &text));
            }
        }
    }
    out
}

/// `save_bindings` on the open transaction (see `location.rs`).
fn save_one(
    conn: &Connection,
    aor: &str,
    plan: Plan,
    now: i64,
    max_bindings: Option<usize>,
    cached: Option<Vec<Binding>>,
) -> Result<Vec<Binding>> {
    check_name("aor", aor)?;
    let before = match cached {
        Some(list) => list,
        None => live_bindings(conn, aor, now)?,
    };
    let changes = plan(&before);
    if changes.len() > MAX_CHANGES_PER_SAVE {
        return Err(invalid("changes", "more than 256 in one request"));
    }
    for change in &changes {
        match change {
            BindingChange::Set(b) => b.check(now)?,
            BindingChange::Remove { call_id, .. } | BindingChange::RemoveAll { call_id, .. } => {
                check_name("call_id", call_id)?;
            }
        }
    }
    let stored: HashMap<[u8; 32], Stored> = before
        .iter()
        .map(|b| {
            let s = Stored {
                call_id: b.call_id.clone(),
                cseq: b.cseq,
            };
            (b.key().digest(), s)
        })
        .collect();
    sqlite_exec(
        conn,
        DELETE_EXPIRED_OF_AOR.sqlite,
        &[aor.into(), now.into()],
    )?;
    for change in &changes {
        match change {
            BindingChange::Set(b) => {
                let key = b.key().digest();
                if let Some(s) = stored.get(&key) {
                    s.check_order(&b.call_id, b.cseq)?;
                }
                let params = b.params(aor, &key, now);
                let updated = matches!(sqlite_exec(conn, UPDATE_BINDING.sqlite, &params)?, Exec::Rows(n) if n > 0);
                if !updated {
                    if let Exec::Duplicate = sqlite_exec(conn, INSERT_BINDING.sqlite, &params)? {
                        return Err(Error::Conflict {
                            backend: BackendKind::Sqlite,
                        });
                    }
                }
            }
            BindingChange::Remove { key, call_id, cseq } => {
                let key = key.digest();
                if let Some(s) = stored.get(&key) {
                    s.check_order(call_id, *cseq)?;
                }
                sqlite_exec(
                    conn,
                    DELETE_BINDING.sqlite,
                    &[aor.into(), key.as_slice().into()],
                )?;
            }
            BindingChange::RemoveAll { call_id, cseq } => {
                for s in stored.values() {
                    s.check_order(call_id, *cseq)?;
                }
                sqlite_exec(conn, DELETE_AOR.sqlite, &[aor.into()])?;
            }
        }
    }
    let live = live_bindings(conn, aor, now)?;
    if let Some(limit) = max_bindings {
        if live.len() > limit {
            return Err(Error::QuotaExceeded {
                entity: Entity::SipBinding,
                limit: limit as u64,
            });
        }
    }
    Ok(live)
}
