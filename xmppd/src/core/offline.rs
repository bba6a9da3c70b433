//! Offline messages (XEP-0160): stored with a delay stamp (XEP-0203) when
//! no resource can take them, delivered when the user next sends initial
//! presence with non-negative priority, deleted once delivered (with
//! XEP-0198: once acknowledged). A message counts as accepted only when the
//! storage confirmed the write; a full queue bounces it.

use rtc_xmlstream::Element;

use super::error::{StanzaCondition, StanzaError};
use super::jid::Jid;
use super::pending::{AfterWrite, Pending};
use super::server::Server;
use super::sm::Origin;
use super::storage::{OfflineMessage, StorageRequest};
use super::types::SessionId;

/// Delayed delivery (XEP-0203).
pub(crate) const NS_DELAY: &str = "urn:xmpp:delay";

impl Server {
    /// Store a message for an account without usable resources.
    pub(crate) fn store_offline(&mut self, user: &Jid, mut e: Element, origin: Option<Origin>) {
        let limit = self.config.limits.offline_queue;
        let stamp = self.clock.stamp(self.now);
        let Some(account) = self.account_mut(user) else {
            return;
        };
        if account.offline_count >= limit {
            return self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable));
        }
        account.offline_count += 1;
        let original = e.clone();
        if e.find_child("delay", NS_DELAY).is_none() {
            e.push_child(
                Element::new("delay", NS_DELAY)
                    .attr("from", user.domain())
                    .attr("stamp", stamp),
            );
        }
        let request = StorageRequest::StoreOffline {
            user: user.clone(),
            message: e,
        };
        self.write(user, request, AfterWrite::Offline(original), origin);
    }

    /// Fetch stored messages for a session that just became available.
    pub(crate) fn offline_fetch(&mut self, sid: SessionId) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        if self.account(&user).is_some_and(|a| a.offline_count == 0) {
            return;
        }
        self.request(StorageRequest::LoadOffline { user }, Pending::OfflineLoad { sid });
    }

    pub(crate) fn offline_loaded(&mut self, sid: SessionId, messages: Vec<OfflineMessage>) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let Some(account) = self.account_mut(&user) else {
            return;
        };
        let fresh: Vec<OfflineMessage> = messages
            .into_iter()
            .filter(|m| account.offline_claimed.insert(m.key))
            .collect();
        for m in fresh {
            self.deliver_keyed(sid, m.message, Some(m.key));
        }
    }

    /// Offline messages a session never acknowledged stay stored; let the
    /// next session have them.
    pub(crate) fn offline_unclaim(&mut self, user: &Jid, key: u64) {
        if let Some(a) = self.account_mut(user) {
            a.offline_claimed.remove(&key);
        }
    }

    /// Delete delivered messages.
    pub(crate) fn offline_delete(&mut self, user: &Jid, keys: Vec<u64>) {
        if let Some(a) = self.account_mut(user) {
            let n = u32::try_from(keys.len()).unwrap_or(u32::MAX);
            a.offline_count = a.offline_count.saturating_sub(n);
            for k in &keys {
                a.offline_claimed.remove(k);
            }
        }
        let request = StorageRequest::DeleteOffline {
            user: user.clone(),
            keys,
        };
        self.write(user, request, AfterWrite::Nothing, None);
    }
}
