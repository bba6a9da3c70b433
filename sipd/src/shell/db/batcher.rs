//! Group commit: the cores' credential lookups, location lookups and
//! registrations queue up on one channel, and one task hands whatever is
//! queued to [`rtc_userdb::LocationBatch::run`] at once: the registrations
//! in one transaction and one fsync, the lookups served from its cache.
//!
//! A REGISTER's 200 OK is still built from the answer of the commit that
//! contains it. How long a registration waits for its commit: at most the
//! batch in flight plus its own, each at most `location.max_batch`
//! operations; if the queue holds more than `location.max_queue`, new work
//! is refused at once (the core answers 500) rather than waiting longer.

use std::sync::Arc;

use rtc_userdb::{LocationBatch, SipOp, SipOpResult};
use tokio::sync::mpsc;

use super::{binding, unhex, unix_now, Answer, ListenerTable};
use crate::core::{Aor, BindingChanges, DigestKeys, LookupFailed, LookupId};
use crate::shell::inbound::Inbound;
use crate::shell::net::Net;

/// Limits of the location store's queue (the `location:` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocationConfig {
    /// Most operations (registrations and lookups) in one batch: bounds how
    /// long one commit holds the write lock.
    pub max_batch: usize,
    /// Most operations waiting for a batch; more are refused at once.
    pub max_queue: usize,
    /// Addresses of record (and, separately, subscribers) kept in the
    /// in-memory cache; SQLite only; 0 turns the cache off.
    pub cache_entries: usize,
}

impl Default for LocationConfig {
    fn default() -> Self {
        Self { max_batch: 4096, max_queue: 16_384, cache_entries: 100_000 }
    }
}

/// What a core asked for.
#[derive(Debug)]
pub(crate) enum Work {
    /// With the bindings of `bindings_of` (a REGISTER's AoR) in the same batch.
    Credentials { user: String, realm: String, bindings_of: Option<Aor> },
    Bindings { aor: Aor },
    Save { aor: Aor, changes: BindingChanges },
}

/// One queued request and who gets the answer.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) core: usize,
    pub(crate) id: LookupId,
    pub(crate) work: Work,
}

impl Job {
    /// The core's answer when the job failed without an answer.
    fn failed(&self) -> Answer {
        match self.work {
            Work::Credentials { .. } => Answer::Credentials(self.id, Err(LookupFailed), None),
            Work::Bindings { .. } => Answer::Location(self.id, Err(LookupFailed)),
            Work::Save { .. } => Answer::Saved(self.id, Err(LookupFailed)),
        }
    }
}

/// Starts the batching task; jobs go in through the returned sender.
pub(crate) fn start(
    batch: LocationBatch,
    listeners: Arc<ListenerTable>,
    net: Arc<Net>,
    cfg: LocationConfig,
    flows: Arc<super::Flows>,
) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(cfg.max_queue.max(1));
    tokio::spawn(run(batch, listeners, net, cfg.max_batch.max(1), rx, flows));
    tx
}

/// The job could not be queued: answer the core at once.
pub(crate) fn refuse(net: &Arc<Net>, job: Job) {
    let net = Arc::clone(net);
    tokio::spawn(async move {
        let answer = job.failed();
        net.to_core(job.core, Inbound::Db(answer)).await;
    });
}

async fn run(
    batch: LocationBatch,
    listeners: Arc<ListenerTable>,
    net: Arc<Net>,
    max_batch: usize,
    mut rx: mpsc::Receiver<Job>,
    flows: Arc<super::Flows>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let now = unix_now();
        let mut ops = Vec::with_capacity(jobs.len() + jobs.len() / 2);
        for job in &mut jobs {
            push_ops(job, &listeners, now, &mut ops);
        }
        let answers = batch.run(ops, now).await;
        let mut answers = answers.into_iter();
        for job in jobs.drain(..) {
            let answer = match answers.next() {
                Some(r) => answer(&job, r, &listeners, &flows, now),
                None => job.failed(),
            };
            // A credential lookup's bindings are the next answer of the batch.
            let answer = match (answer, &job.work) {
                (Answer::Credentials(id, keys, _), Work::Credentials { bindings_of: Some(_), .. }) => {
                    let bindings = answers.next().map(|r| location(r, &listeners, now));
                    Answer::Credentials(id, keys, Some(bindings.unwrap_or(Err(LookupFailed))))
                }
                (other, _) => other,
            };
            net.to_core(job.core, Inbound::Db(answer)).await;
        }
    }
}

/// The store's operations for a job, in answer order (a save's changes
/// move into its plan; a credential lookup may bring a bindings lookup).
fn push_ops(job: &mut Job, listeners: &Arc<ListenerTable>, now: i64, ops: &mut Vec<SipOp>) {
    let op = match &mut job.work {
        Work::Credentials { user, realm, bindings_of } => {
            ops.push(SipOp::Digests { domain: realm.clone(), username: user.clone() });
            match bindings_of {
                Some(aor) => SipOp::Bindings { aor: aor.to_string() },
                None => return,
            }
        }
        Work::Bindings { aor } => SipOp::Bindings { aor: aor.to_string() },
        Work::Save { aor, changes } => {
            let changes = std::mem::take(changes);
            let table = Arc::clone(listeners);
            SipOp::Save {
                aor: aor.to_string(),
                plan: Box::new(move |stored| binding::translate(&table, stored, &changes, now)),
                max_bindings: None,
            }
        }
    };
    ops.push(op);
}

fn answer(job: &Job, result: SipOpResult, listeners: &ListenerTable, flows: &super::Flows, now: i64) -> Answer {
    match (&job.work, result) {
        (Work::Credentials { .. }, SipOpResult::Digests(r)) => Answer::Credentials(
            job.id,
            match r {
                Ok(Some(d)) => Ok(Some(DigestKeys { md5: unhex(&d.ha1), sha256: unhex(&d.ha1_sha256) })),
                Ok(None) => Ok(None),
                Err(e) => {
                    tracing::warn!("credential lookup failed: {e}");
                    Err(LookupFailed)
                }
            },
            None,
        ),
        (Work::Bindings { .. }, r @ SipOpResult::Bindings(_)) => Answer::Location(job.id, location(r, listeners, now)),
        (Work::Save { aor, .. }, SipOpResult::Saved(r)) => Answer::Saved(
            job.id,
            match r {
                Ok(saved) => {
                    flows.remember(&aor.to_string(), &saved);
                    Ok(saved.iter().map(|b| listeners.to_core(b, now)).collect())
                }
                Err(e) => {
                    tracing::warn!(aor = %super::printable(&aor.to_string()), "saving the registration failed: {e}");
                    Err(LookupFailed)
                }
            },
        ),
        (_, other) => {
            tracing::warn!("location batch answered {other:?} to the wrong request");
            job.failed()
        }
    }
}

/// The core's view of a bindings lookup's result.
fn location(result: SipOpResult, listeners: &ListenerTable, now: i64) -> Result<Vec<crate::core::Binding>, LookupFailed> {
    match result {
        SipOpResult::Bindings(Ok(list)) => Ok(list.iter().map(|b| listeners.to_core(b, now)).collect()),
        SipOpResult::Bindings(Err(e)) => {
            tracing::warn!("location lookup failed: {e}");
            Err(LookupFailed)
        }
        other => {
            tracing::warn!("location batch answered {other:?} to a bindings lookup");
            Err(LookupFailed)
        }
    }
}
