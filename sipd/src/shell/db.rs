//! Answering the core's database events from `rtc-userdb`, without ever
//! blocking a core: each event becomes a small task whose answer goes back
//! to the core that asked, through its input channel.
//!
//! Registrations are written through: a REGISTER's 200 OK is built only from
//! the bindings [`rtc_userdb::SipStore::save_bindings`] returns after its
//! transaction committed, so an acknowledged registration survives `kill -9`
//! (no write-back window like kamailio's `db_mode=2`).
//!
//! Stored columns (kamailio's `location` layout): the core's flow is kept as
//! `socket` (`udp:198.51.100.5:5060`, the listener), `received`
//! (`sip:192.0.2.7:40312;transport=udp`, the source) and `flow` (the
//! connection id in hex); `flags` bit 0 is the core's `via_flow`.

mod binding;
mod routes;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rtc_userdb::{BindingChange, UserDb};

pub(crate) use binding::ListenerTable;
pub(crate) use routes::{db_routes, DbState};

use super::inbound::Inbound;
use super::net::{lock, Net};
use crate::core::{Aor, Binding, BindingChanges, ConnectionId, DigestKeys, Event, LookupFailed, LookupId};

/// A database answer for one core.
#[derive(Debug)]
pub(crate) enum Answer {
    /// For [`Event::NeedCredentials`].
    Credentials(LookupId, Result<Option<DigestKeys>, LookupFailed>),
    /// For [`Event::NeedBindings`].
    Location(LookupId, Result<Vec<Binding>, LookupFailed>),
    /// For [`Event::SaveBindings`].
    Saved(LookupId, Result<Vec<Binding>, LookupFailed>),
}

/// The current time in Unix seconds (the clock of stored expiry times).
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs the core's database events.
#[derive(Debug)]
pub(crate) struct DbService {
    db: UserDb,
    listeners: ListenerTable,
    /// AoRs with a binding routed through a connection, for
    /// [`Event::FlowBindingsGone`].
    by_connection: Mutex<HashMap<ConnectionId, HashSet<String>>>,
}

impl DbService {
    /// Events on `db` for cores whose listeners are `listeners`.
    pub(crate) fn new(db: UserDb, listeners: ListenerTable) -> Self {
        Self { db, listeners, by_connection: Mutex::default() }
    }

    /// Start the work an event asks for; the answer goes to core `core`.
    pub(crate) fn handle(self: &Arc<Self>, net: &Arc<Net>, core: usize, event: Event) {
        match event {
            Event::NeedCredentials { id, user, realm } => {
                let this = Arc::clone(self);
                let net = Arc::clone(net);
                tokio::spawn(async move {
                    let keys = this.credentials(&realm, &user).await;
                    net.to_core(core, Inbound::Db(Answer::Credentials(id, keys))).await;
                });
            }
            Event::NeedBindings { id, aor } => {
                let this = Arc::clone(self);
                let net = Arc::clone(net);
                tokio::spawn(async move {
                    let found = this.bindings(&aor).await;
                    net.to_core(core, Inbound::Db(Answer::Location(id, found))).await;
                });
            }
            Event::SaveBindings { id, aor, changes } => {
                let this = Arc::clone(self);
                let net = Arc::clone(net);
                tokio::spawn(async move {
                    let saved = this.save(&aor, &changes).await;
                    net.to_core(core, Inbound::Db(Answer::Saved(id, saved))).await;
                });
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
            Event::SourceBanned { source } => tracing::warn!(%source, "flood limit exceeded: source banned"),
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

    async fn credentials(&self, realm: &str, user: &str) -> Result<Option<DigestKeys>, LookupFailed> {
        match self.db.sip().subscriber_digests(realm, user).await {
            Ok(Some(d)) => Ok(Some(DigestKeys { md5: unhex(&d.ha1), sha256: unhex(&d.ha1_sha256) })),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!("credential lookup failed: {e}");
                Err(LookupFailed)
            }
        }
    }

    async fn bindings(&self, aor: &Aor) -> Result<Vec<Binding>, LookupFailed> {
        let now = unix_now();
        match self.db.sip().bindings(&aor.to_string(), now).await {
            Ok(list) => Ok(list.iter().map(|b| self.listeners.to_core(b, now)).collect()),
            Err(e) => {
                tracing::warn!("location lookup failed: {e}");
                Err(LookupFailed)
            }
        }
    }

    async fn save(&self, aor: &Aor, changes: &BindingChanges) -> Result<Vec<Binding>, LookupFailed> {
        let now = unix_now();
        let key = aor.to_string();
        let store = self.db.sip();
        let stored = store.bindings(&key, now).await.map_err(|e| {
            tracing::warn!("location lookup failed: {e}");
            LookupFailed
        })?;
        let list = binding::translate(&self.listeners, &stored, changes, now);
        let saved = match store.save_bindings(&key, &list, now, None).await {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!(aor = %printable(&key), "saving the registration failed: {e}");
                return Err(LookupFailed);
            }
        };
        self.remember_flows(&key, &list);
        Ok(saved.iter().map(|b| self.listeners.to_core(b, now)).collect())
    }

    fn remember_flows(&self, aor: &str, list: &[BindingChange]) {
        let mut map = lock(&self.by_connection);
        for change in list {
            if let BindingChange::Set(b) = change {
                if let Some(c) = binding::via_connection(b) {
                    map.entry(c).or_default().insert(aor.to_owned());
                }
            }
        }
    }

    /// RFC 5626 §5.3: bindings that can only be reached through a closed
    /// connection are gone with it.
    async fn flow_gone(&self, connection: ConnectionId) {
        let Some(aors) = lock(&self.by_connection).remove(&connection) else { return };
        let store = self.db.sip();
        let now = unix_now();
        for aor in aors {
            let Ok(list) = store.bindings(&aor, now).await else { continue };
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
