//! Blocking command (XEP-0191): the user's block list, block/unblock with
//! pushes, and the checks the router applies in both directions.

use rtc_xmlstream::{ns, Element};

use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::jid::Jid;
use crate::core::pending::{AfterWrite, IqReply};
use crate::core::server::Server;
use crate::core::sm::Origin;
use crate::core::stanza::{self, PresenceType};
use crate::core::storage::StorageRequest;
use crate::core::types::SessionId;

/// XEP-0191 namespace.
pub(crate) const NS: &str = "urn:xmpp:blocking";
/// XEP-0191 application error namespace.
pub(crate) const NS_ERRORS: &str = "urn:xmpp:blocking:errors";

/// XEP-0191 §3.5: what the user gets for contacting someone they blocked.
pub(crate) fn blocked_error() -> StanzaError {
    StanzaError::new(StanzaCondition::NotAcceptable).with_app(Element::new("blocked", NS_ERRORS))
}

/// Whether block-list `item` covers `other` (full JID, bare JID, domain,
/// or domain/resource, as XEP-0016 §2.1 matches JIDs).
fn covers(item: &Jid, other: &Jid) -> bool {
    if item.node().is_some() {
        return item == other || *item == other.bare();
    }
    item.domain() == other.domain() && (item.resource().is_none() || item.resource() == other.resource())
}

fn items(list: &[Jid]) -> impl Iterator<Item = Element> + '_ {
    list.iter()
        .map(|j| Element::new("item", NS).attr("jid", j.to_string()))
}

impl Server {
    /// Whether account `owner` blocks `other`.
    pub(crate) fn blocks(&self, owner: &Jid, other: &Jid) -> bool {
        if other.bare() == *owner {
            return false;
        }
        self.account(owner)
            .is_some_and(|a| a.blocklist.iter().any(|i| covers(i, other)))
    }

    /// `<blocklist/>`, `<block/>`, `<unblock/>` from the user.
    pub(crate) fn blocking_iq(&mut self, sid: SessionId, e: Element, get: bool, origin: Option<Origin>) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let Some(p) = stanza::iq_payload(&e) else {
            return;
        };
        let mut listed = Vec::new();
        for item in p.find_children("item", NS) {
            match item.attribute("jid").map(Jid::parse) {
                Some(Ok(j)) => listed.push(j),
                _ => {
                    let err = StanzaError::new(StanzaCondition::JidMalformed);
                    return self.reply_error_to(sid, &e, err);
                }
            }
        }
        let name = p.name().to_owned();
        let current = self.account(&user).map(|a| a.blocklist.clone()).unwrap_or_default();
        let (list, changed) = match (get, name.as_str()) {
            (true, "blocklist") => {
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.blocklist_requested = true;
                }
                let mut reply = Element::new("blocklist", NS);
                items(&current).for_each(|i| reply.push_child(i));
                return self.deliver(sid, stanza::iq_result_with(&e, reply));
            }
            (false, "block") if !listed.is_empty() => {
                let new: Vec<Jid> = listed.into_iter().filter(|j| !current.contains(j)).collect();
                if current.len() + new.len() > self.config.limits.max_blocklist_items {
                    let err = StanzaError::new(StanzaCondition::PolicyViolation);
                    return self.reply_error_to(sid, &e, err);
                }
                let mut list = current.clone();
                list.extend(new.iter().cloned());
                self.unavailable_to_blocked(&user, &new);
                (list, new)
            }
            (false, "unblock") if listed.is_empty() => (Vec::new(), current),
            (false, "unblock") => {
                let list = current.iter().filter(|j| !listed.contains(j)).cloned().collect();
                (list, listed)
            }
            _ => return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::BadRequest)),
        };
        if let Some(a) = self.account_mut(&user) {
            a.blocklist = list.clone();
        }
        let reply = AfterWrite::Reply(IqReply { sid, iq: e }, None);
        self.write(&user, StorageRequest::SaveBlocklist { user: user.clone(), list }, reply, origin);
        self.push_blocklist(&user, &name, &changed);
    }

    /// XEP-0191 §3.3.1 / §3.4.1: tell the interested sessions.
    fn push_blocklist(&mut self, user: &Jid, name: &str, changed: &[Jid]) {
        for sid in self.sessions_of(user) {
            let Some(s) = self.sessions.get(&sid).filter(|s| s.blocklist_requested) else {
                continue;
            };
            let to = s.jid.to_string();
            let mut payload = Element::new(name, NS);
            items(changed).for_each(|i| payload.push_child(i));
            let id = format!("push-{}", self.fresh_id());
            let push = Element::new("iq", ns::CLIENT)
                .attr("type", "set")
                .attr("id", id)
                .attr("to", to)
                .child(payload);
            self.deliver(sid, push);
        }
    }

    /// Newly blocked entities that had the user's presence see it go away.
    fn unavailable_to_blocked(&mut self, user: &Jid, blocked: &[Jid]) {
        let Some(account) = self.account(user) else {
            return;
        };
        let subscribers: Vec<Jid> = account
            .roster
            .values()
            .filter(|i| i.subscription.has_from())
            .map(|i| i.jid.clone())
            .collect();
        for sid in self.available_sessions(user) {
            let Some(s) = self.sessions.get(&sid) else {
                continue;
            };
            let from = s.jid.clone();
            let targets: Vec<Jid> = subscribers
                .iter()
                .chain(s.directed.iter())
                .filter(|t| blocked.iter().any(|b| covers(b, t)))
                .cloned()
                .collect();
            for t in targets {
                let p = stanza::presence(PresenceType::Unavailable, &from, &t);
                self.route(p, t, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn block_items_match_like_privacy_lists() {
        let j = |s: &str| Jid::parse(s).unwrap();
        assert!(covers(&j("a@x"), &j("a@x/r")));
        assert!(covers(&j("a@x/r"), &j("a@x/r")));
        assert!(!covers(&j("a@x/r"), &j("a@x/s")));
        assert!(covers(&j("x"), &j("b@x/r")));
        assert!(covers(&j("x/r"), &j("b@x/r")));
        assert!(!covers(&j("x/r"), &j("b@x/s")));
        assert!(!covers(&j("y"), &j("b@x")));
    }
}
