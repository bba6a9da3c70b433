//! The account cache: roster, block list and counters of accounts in use,
//! loaded from storage on demand and dropped when nothing uses them.
//!
//! An account is loaded while it has sessions, while a write for it is in
//! flight, or briefly to deliver a stanza to an offline user. Stanzas for an
//! account that is still loading wait in a bounded queue.

use std::collections::{BTreeMap, HashSet};

use rtc_xmlstream::Element;

use super::error::{StanzaCondition, StanzaError, StreamCondition};
use super::jid::Jid;
use super::pending::Pending;
use super::server::Server;
use super::sm::Origin;
use super::storage::{AccountData, RosterItem, StorageError, StorageRequest};
use super::types::{ConnId, RequestId};

/// In-memory state of a loaded account.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loaded {
    /// All roster items by contact (listed or not).
    pub(crate) roster: BTreeMap<Jid, RosterItem>,
    /// Roster version (RFC 6121 §2.6).
    pub(crate) version: u64,
    /// Blocked JIDs (XEP-0191).
    pub(crate) blocklist: Vec<Jid>,
    /// Offline messages stored or being stored (XEP-0160).
    pub(crate) offline_count: u32,
    /// XEP-0153 photo hash.
    pub(crate) avatar_hash: Option<String>,
    /// Offline messages handed to a session and not yet deleted, so that
    /// a second session does not get them too.
    pub(crate) offline_claimed: HashSet<u64>,
}

impl From<AccountData> for Loaded {
    fn from(d: AccountData) -> Self {
        Self {
            roster: d
                .roster
                .into_iter()
                .map(|i| (i.jid.bare(), i))
                .collect(),
            version: d.roster_version,
            blocklist: d.blocklist,
            offline_count: d.offline_count,
            avatar_hash: d.avatar_hash,
            offline_claimed: HashSet::new(),
        }
    }
}

/// Something waiting for an account to load.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// A connection binding a resource (RFC 6120 §7).
    Bind { conn: ConnId, iq: Element },
    /// A stanza for a local user.
    Stanza {
        stanza: Element,
        to: Jid,
        origin: Option<Origin>,
    },
}

#[derive(Debug)]
pub(crate) enum AccountState {
    Loading { id: RequestId, waiters: Vec<Waiter> },
    Ready(Box<Loaded>),
}

/// A cache entry.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) state: AccountState,
    /// Writes in flight for this account.
    pub(crate) busy: u32,
}

impl Server {
    pub(crate) fn account(&self, user: &Jid) -> Option<&Loaded> {
        match &self.accounts.get(user)?.state {
            AccountState::Ready(l) => Some(l),
            AccountState::Loading { .. } => None,
        }
    }

    pub(crate) fn account_mut(&mut self, user: &Jid) -> Option<&mut Loaded> {
        match &mut self.accounts.get_mut(user)?.state {
            AccountState::Ready(l) => Some(l),
            AccountState::Loading { .. } => None,
        }
    }

    /// Run `waiter` once `user`'s account is loaded: now if it is, else
    /// after loading. Returns the load request a connection should wait for.
    pub(crate) fn with_account(&mut self, user: &Jid, waiter: Waiter) -> Option<RequestId> {
        let max = self.config.limits.max_waiting_per_account;
        match self.accounts.get_mut(user).map(|a| &mut a.state) {
            Some(AccountState::Ready(_)) => {
                self.run_waiter(waiter, Ok(true));
                None
            }
            Some(AccountState::Loading { id, waiters }) => {
                if waiters.len() >= max {
                    self.run_waiter(waiter, Err(StanzaCondition::ResourceConstraint));
                    return None;
                }
                let id = *id;
                if let Waiter::Stanza { origin, .. } = &waiter {
                    let origin = *origin;
                    self.hold(origin);
                }
                if let Some(Account {
                    state: AccountState::Loading { waiters, .. },
                    ..
                }) = self.accounts.get_mut(user)
                {
                    waiters.push(waiter);
                }
                Some(id)
            }
            None => {
                if let Waiter::Stanza { origin, .. } = &waiter {
                    let origin = *origin;
                    self.hold(origin);
                }
                let id = self.request(
                    StorageRequest::LoadAccount { user: user.clone() },
                    Pending::Account { user: user.clone() },
                );
                self.accounts.insert(
                    user.clone(),
                    Account {
                        state: AccountState::Loading {
                            id,
                            waiters: vec![waiter],
                        },
                        busy: 0,
                    },
                );
                Some(id)
            }
        }
    }

    /// The storage answered a `LoadAccount`.
    pub(crate) fn account_loaded(
        &mut self,
        user: Jid,
        id: RequestId,
        result: Result<Option<AccountData>, StorageError>,
    ) {
        let Some(account) = self.accounts.get_mut(&user) else {
            return;
        };
        let AccountState::Loading { id: expected, .. } = &account.state else {
            return;
        };
        if *expected != id {
            return;
        }
        let status = match result {
            Ok(Some(data)) => {
                let waiters = match std::mem::replace(
                    &mut account.state,
                    AccountState::Ready(Box::new(Loaded::from(data))),
                ) {
                    AccountState::Loading { waiters, .. } => waiters,
                    AccountState::Ready(_) => Vec::new(),
                };
                (waiters, Ok(true))
            }
            other => {
                let status = match other {
                    Ok(_) => Ok(false),
                    Err(_) => Err(StanzaCondition::InternalServerError),
                };
                match self.accounts.remove(&user).map(|a| a.state) {
                    Some(AccountState::Loading { waiters, .. }) => (waiters, status),
                    _ => (Vec::new(), status),
                }
            }
        };
        let (waiters, status) = status;
        for w in waiters {
            let held = matches!(&w, Waiter::Stanza { .. });
            let origin = match &w {
                Waiter::Stanza { origin, .. } => *origin,
                Waiter::Bind { .. } => None,
            };
            self.run_waiter(w, status);
            if held {
                self.release(origin);
            }
        }
        self.maybe_unload(&user);
    }

    /// `status`: `Ok(true)` loaded, `Ok(false)` no such account, `Err` failure.
    fn run_waiter(&mut self, waiter: Waiter, status: Result<bool, StanzaCondition>) {
        match waiter {
            Waiter::Bind { conn, iq } => {
                if status == Err(StanzaCondition::ResourceConstraint) {
                    self.stream_error(conn, StreamCondition::ResourceConstraint);
                    return;
                }
                let load_id = self.conns.get(&conn).and_then(|c| c.waiting);
                self.complete_bind(conn, iq, status.map_err(|_| ()));
                if let Some(id) = load_id {
                    self.resume_after(conn, id);
                }
            }
            Waiter::Stanza { stanza, to, origin } => match status {
                Ok(true) => self.deliver_to_account(stanza, to, origin),
                Ok(false) => self.no_such_user(stanza, to),
                Err(condition) => {
                    if !matches!(super::stanza::Kind::of(&stanza), Some(super::stanza::Kind::Presence)) {
                        self.bounce(&stanza, StanzaError::new(condition));
                    }
                }
            },
        }
    }

    /// Mark a write for `user` as started (`true`) or finished (`false`).
    pub(crate) fn account_busy(&mut self, user: &Jid, started: bool) {
        if let Some(a) = self.accounts.get_mut(user) {
            a.busy = if started {
                a.busy.saturating_add(1)
            } else {
                a.busy.saturating_sub(1)
            };
        }
        if !started {
            self.maybe_unload(user);
        }
    }

    /// Drop a loaded account nobody uses any more.
    pub(crate) fn maybe_unload(&mut self, user: &Jid) {
        let idle = self
            .accounts
            .get(user)
            .is_some_and(|a| a.busy == 0 && matches!(a.state, AccountState::Ready(_)));
        if idle && !self.resources.contains_key(user) {
            self.accounts.remove(user);
        }
    }
}
