//! Requests parked while the shell looks up keys ([`Event::NeedKey`]).
//!
//! Lookups are deduplicated per (realm, query): a burst of requests for one
//! user costs one database query. Parked requests are bounded in number and
//! size; a retransmission of a parked request is absorbed; a lookup the shell
//! never answers is dropped after `lookup_timeout_secs` (the client retransmits).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rtc_stun::{Message, TransactionId};

use super::credentials::{KeyQuery, Known};
use super::reply::Reply;
use super::server::Server;
use super::timers::TimerKey;
use super::types::{Event, FiveTuple, KeyAnswer, LookupId};

/// Requests larger than this are never parked (a legitimate TURN request with
/// credentials is a few hundred bytes).
const MAX_PARKED_REQUEST: usize = 8 * 1024;

#[derive(Debug)]
struct Parked {
    from: FiveTuple,
    tid: TransactionId,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    realm: String,
    query: KeyQuery,
    parked: Vec<Parked>,
    deadline: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Lookups {
    by_id: HashMap<u64, Pending>,
    inflight: HashMap<(String, KeyQuery), u64>,
    parked_total: usize,
    parked_keys: HashSet<(FiveTuple, TransactionId)>,
}

impl Lookups {
    pub(crate) fn is_parked(&self, from: &FiveTuple, tid: TransactionId) -> bool {
        self.parked_keys.contains(&(*from, tid))
    }

    fn forget(&mut self, p: &Pending) {
        self.inflight.remove(&(p.realm.clone(), p.query.clone()));
        self.parked_total = self.parked_total.saturating_sub(p.parked.len());
        for r in &p.parked {
            self.parked_keys.remove(&(r.from, r.tid));
        }
    }
}

impl Known {
    /// What to cache for an answer; `None` for a failed lookup (never cached).
    pub(crate) fn from_answer(answer: KeyAnswer) -> Option<Self> {
        match answer {
            KeyAnswer::User { username, keys } => Some(Known::User { username, keys }),
            KeyAnswer::Secrets(s) => Some(Known::Secrets(s.into_iter().map(String::into_bytes).collect())),
            KeyAnswer::NotFound => Some(Known::Unknown),
            KeyAnswer::Failed => None,
        }
    }
}

impl Server {
    /// Park `msg` until `query` is answered, asking the shell if nobody has yet.
    pub(crate) fn park(&mut self, from: &FiveTuple, msg: &Message<'_>, query: KeyQuery, now: Instant) {
        let bytes = msg.as_bytes();
        if self.lookups.parked_total >= self.config.auth.max_pending_lookups || bytes.len() > MAX_PARKED_REQUEST {
            return;
        }
        let realm = self.config.realm.clone();
        let parked = Parked { from: *from, tid: msg.transaction_id(), bytes: bytes.to_vec() };
        let key = (realm.clone(), query.clone());
        let id = match self.lookups.inflight.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.next_id();
                let deadline = now + Duration::from_secs(self.config.auth.lookup_timeout_secs);
                self.lookups.by_id.insert(id, Pending { realm: realm.clone(), query: query.clone(), parked: Vec::new(), deadline });
                self.lookups.inflight.insert(key, id);
                self.timers.push(deadline, TimerKey::Lookup(id));
                self.metrics.key_lookups += 1;
                self.emit(Event::NeedKey { lookup: LookupId(id), realm, query });
                id
            }
        };
        if let Some(p) = self.lookups.by_id.get_mut(&id) {
            self.lookups.parked_keys.insert((parked.from, parked.tid));
            self.lookups.parked_total += 1;
            p.parked.push(parked);
        }
    }

    /// The shell's answer to [`Event::NeedKey`]: cache it and finish the parked requests.
    pub fn handle_key_result(&mut self, lookup: LookupId, answer: KeyAnswer, now: Instant) {
        let Some(p) = self.lookups.by_id.remove(&lookup.0) else {
            return;
        };
        self.lookups.forget(&p);
        match Known::from_answer(answer) {
            Some(known) => {
                let ttl = Duration::from_secs(self.config.auth.key_cache_ttl_secs);
                self.keys.insert(&p.realm, p.query.clone(), known.clone(), ttl, now);
                for r in p.parked {
                    let _ = self.handle_stun(&r.from, &r.bytes, now, Some((&p.query, &known)));
                }
            }
            None => {
                for r in p.parked {
                    if let Ok(msg) = Message::parse(&r.bytes) {
                        self.send_error(&r.from, &Reply::to(&msg), 500);
                    }
                }
            }
        }
    }

    pub(crate) fn on_lookup_timer(&mut self, id: u64, now: Instant) {
        let due = self.lookups.by_id.get(&id).is_some_and(|p| now >= p.deadline);
        if due {
            if let Some(p) = self.lookups.by_id.remove(&id) {
                self.lookups.forget(&p);
            }
        }
    }
}
