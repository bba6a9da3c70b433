//! Answering the core's key lookups ([`Event::NeedKey`](crate::core::Event::NeedKey))
//! from the user database, without ever blocking a worker.
//!
//! Database calls run on the control thread's runtime (where the database
//! handle and its connection pool live); a worker only awaits the answer in a
//! small local task and feeds it back into its core. Nothing is cached here:
//! the core keeps answers for `auth.key_cache_ttl_secs`, so users added with
//! `turnadmin` work within that time, and at once after SIGHUP.

use std::rc::Rc;
use std::time::Instant;

use rtc_userdb::UserDb;
use tokio::runtime::Handle;

use super::worker::Worker;
use crate::core::{KeyAnswer, KeyQuery, LookupId, UserKeys};

/// Looks keys and REST secrets up in the user database.
#[derive(Debug, Clone)]
pub(crate) struct KeyService {
    db: UserDb,
    runtime: Handle,
}

impl KeyService {
    /// Lookups on `db`, run on `runtime` (the control thread's).
    pub(crate) fn new(db: UserDb, runtime: Handle) -> Self {
        Self { db, runtime }
    }

    /// The answer for `query` in `realm`; [`KeyAnswer::Failed`] if the
    /// database could not be asked.
    pub(crate) async fn lookup(&self, realm: String, query: KeyQuery) -> KeyAnswer {
        let db = self.db.clone();
        let task = self.runtime.spawn(async move { answer(&db, &realm, query).await });
        task.await.unwrap_or(KeyAnswer::Failed)
    }
}

async fn answer(db: &UserDb, realm: &str, query: KeyQuery) -> KeyAnswer {
    match query {
        KeyQuery::Username(name) => match db.turn().user_keys(realm, &name).await {
            Ok(Some(k)) => KeyAnswer::User {
                username: name,
                keys: UserKeys { md5: Some(k.md5), sha256: Some(k.sha256) },
            },
            Ok(None) => KeyAnswer::NotFound,
            Err(e) => {
                tracing::warn!("user lookup failed: {e}");
                KeyAnswer::Failed
            }
        },
        // The database stores no USERHASH index (RFC 8489 §14.4), so such
        // requests are answered as for an unknown user.
        KeyQuery::Userhash(_) => KeyAnswer::NotFound,
        KeyQuery::RestSecrets => match db.turn().list_secrets(Some(realm)).await {
            Ok(list) if list.is_empty() => KeyAnswer::NotFound,
            Ok(list) => KeyAnswer::Secrets(list.into_iter().map(|s| s.secret).collect()),
            Err(e) => {
                tracing::warn!("REST secret lookup failed: {e}");
                KeyAnswer::Failed
            }
        },
    }
}

/// Answer [`Event::NeedKey`](crate::core::Event::NeedKey) `lookup` in a local task.
pub(crate) fn spawn_lookup(worker: &Rc<Worker>, lookup: LookupId, realm: String, query: KeyQuery) {
    let worker = Rc::clone(worker);
    tokio::task::spawn_local(async move {
        let answer = worker.common.keys.lookup(realm, query).await;
        worker.core.borrow_mut().handle_key_result(lookup, answer, Instant::now());
        worker.pump();
    });
}
