//! Answering the core's database events from `rtc-userdb`, without ever
//! blocking a core: each event becomes a small task whose answer goes back
//! to the core that asked, through its input channel.
//!
//! Registrations are written through: a REGISTER's 200 OK is built only from
//! the bindings the store returns after the transaction holding them
//! committed, so an acknowledged registration survives `kill -9` (no
//! write-back window like kamailio's `db_mode=2`). Credential lookups,
//! location lookups and registrations go through one queue and are run in
//! batches, the registrations of a batch in one transaction (group commit,
//! see `batcher.rs`).
//!
//! Stored columns (kamailio's `location` layout): the core's flow is kept as
//! `socket` (`udp:198.51.100.5:5060`, the listener), `received`
//! (`sip:192.0.2.7:40312;transport=udp`, the source) and `flow` (the
//! connection id in hex); `flags` bit 0 is the core's `via_flow`.

mod batcher;
mod binding;
mod routes;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rtc_userdb::{LocationBatch, UserDb};
use tokio::sync::mpsc;

pub use batcher::LocationConfig;
pub(crate) use binding::ListenerTable;
pub(crate) use routes::{db_routes, DbState};

use super::net::{lock, Net};
use crate::core::{Binding, ConnectionId, DigestKeys, Event, LookupFailed, LookupId};
use batcher::{Job, Work};

/// A database answer for one core.
#[derive(Debug)]
pub(crate) enum Answer {
    /// For [`Event::NeedCredentials`], with the bindings of its
    /// `bindings_of` AoR when it named one.
    Credentials(LookupId, Result<Option<DigestKeys>, LookupFailed>, Option<Result<Vec<Binding>, LookupFailed>>),
    /// For [`Event::NeedBindings`].
    Location(LookupId, Result<Vec<Binding>, LookupFailed>),
    /// For [`Event::SaveBindings`].
    Saved(LookupId, Result<Vec<Binding>, LookupFailed>),
}

/// The current time in Unix seconds (the clock of stored expiry times).
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// AoRs with a binding routed through a connection, for
/// [`Event::FlowBindingsGone`].
#[derive(Debug, Default)]
pub(crate) struct Flows(Mutex<HashMap<ConnectionId, HashSet<String>>>);

impl Flows {
    /// Note the connections `saved` (the AoR's bindings) are routed through.
    fn remember(&self, aor: &str, saved: &[rtc_userdb::Binding]) {
        let mut map = lock(&self.0);
        for b in saved {
            if let Some(c) = binding::via_connection(b) {
                map.entry(c).or_default().insert(aor.to_owned());
            }
        }
    }
}

/// Runs the core's database events.
#[derive(Debug)]
pub(crate) struct DbService {
    db: UserDb,
    flows: Arc<Flows>,
    jobs: mpsc::Sender<Job>,
    /// Requests refused because the queue was full.
    refused: std::sync::atomic::AtomicU64,
}

impl DbService {
    /// Events on `db` for cores whose listeners are `listeners`, answered
    /// through `net`; starts the batching task.
    pub(crate) fn new(db: UserDb, listeners: ListenerTable, net: &Arc<Net>, cfg: LocationConfig) -> Self {
        let flows = Arc::new(Flows::default());
        let batch = LocationBatch::new(db.sip(), cfg.cache_entries);
        let jobs = batcher::start(batch, Arc::new(listeners), Arc::clone(net), cfg, Arc::clone(&flows));
        Self { db, flows, jobs, refused: std::sync::atomic::AtomicU64::new(0) }
    }

    fn queue(&self, net: &Arc<Net>, job: Job) {
        if let Err(e) = self.jobs.try_send(job) {
            let job = match e {
                mpsc::error::TrySendError::Full(job) => {
                    // One line per 1,000 refusals: an overload must not also flood the log.
                    let n = self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n.is_multiple_of(1000) {
                        tracing::warn!(
                            refused = n + 1,
                            "location queue full (location.max_queue): refusing database requests"
                        );
                    }
                    job
                }
                mpsc::error::TrySendError::Closed(job) => job,
            };
            batcher::refuse(net, job);
        }
    }

    /// Start the work an event asks for; the answer goes to core `core`.
    pub(crate) fn handle(self: &Arc<Self>, net: &Arc<Net>, core: usize, event: Event) {
        match event {
            Event::NeedCredentials { id, user, realm, bindings_of } => {
                self.queue(net, Job { core, id, work: Work::Credentials { user, realm, bindings_of } });
            }
            Event::NeedBindings { id, aor } => self.queue(net, Job { core, id, work: Work::Bindings { aor } }),
            Event::SaveBindings { id, aor, changes } => {
                self.queue(net, Job { core, id, work: Work::Save { aor, changes } });
            }
            // Every core reports a closed connection; one deletion is enough.
            Event::FlowBindingsGone { connection } if core == 0 => {
                let this = Arc::clone(self);
                tokio::spawn(async move { this.flow_gone(connection).await });
            }
            Event::FlowBindingsGone { .. } => {}
            Event::AuthFailed { source, user, realm } => {
                tracing::warn!(%source, user = %printable(&user), realm = %printable(&realm), "authentication failed");
            }
            Event::SourceBanned { source } => {
                tracing::warn!(%source, "flood limit exceeded: source banned")
            }
        }
    }

    /// Delete expired bindings, a short transaction at a time (kamailio's
    /// usrloc timer). Reads ignore expired rows anyway; this keeps the table small.
    pub(crate) async fn purge_expired(&self) {
        const BATCH: u32 = 1000;
        let store = self.db.sip();
        loop {
            match store.purge_expired(unix_now(), BATCH).await {
                Ok(n) if n >= u64::from(BATCH) => tokio::task::yield_now().await,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("purging expired registrations failed: {e}");
                    return;
                }
            }
        }
    }

    /// RFC 5626 §5.3: bindings that can only be reached through a closed
    /// connection are gone with it.
    async fn flow_gone(&self, connection: ConnectionId) {
        let Some(aors) = lock(&self.flows.0).remove(&connection) else {
            return;
        };
        let store = self.db.sip();
        let now = unix_now();
        for aor in aors {
            let Ok(list) = store.bindings(&aor, now).await else {
                continue;
            };
            for b in list.iter().filter(|b| binding::via_connection(b) == Some(connection)) {
                if let Err(e) = store.remove_binding(&aor, &b.key()).await {
                    tracing::debug!("removing a binding of a closed connection failed: {e}");
                }
            }
        }
    }
}

/// Hex digest text into bytes; `None` for a malformed or empty value.
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// Network-supplied text made safe for one log line.
fn printable(s: &str) -> String {
    s.chars().take(128).map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_decode_and_bad_ones_are_absent() {
        assert_eq!(unhex::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(unhex::<2>("0aff00"), None);
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<16>(""), None);
        assert_eq!(printable("a\nb"), "a?b");
    }
}
