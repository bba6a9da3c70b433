//! Message carbons (XEP-0280): copies of a user's one-to-one messages for
//! the user's other resources that enabled carbons.

use rtc_xmlstream::{ns, Element};

use crate::core::jid::Jid;
use crate::core::server::Server;
use crate::core::stanza::MessageType;
use crate::core::types::SessionId;

/// XEP-0280 namespace.
pub(crate) const NS: &str = "urn:xmpp:carbons:2";
/// Stanza forwarding (XEP-0297).
pub(crate) const NS_FORWARD: &str = "urn:xmpp:forward:0";
/// Message processing hints (XEP-0334).
const NS_HINTS: &str = "urn:xmpp:hints";
/// Chat state notifications (XEP-0085).
const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// Message delivery receipts (XEP-0184).
const NS_RECEIPTS: &str = "urn:xmpp:receipts";

/// Whether a message is itself a carbon copy.
pub(crate) fn is_carbon(e: &Element) -> bool {
    e.find_child("sent", NS).is_some() || e.find_child("received", NS).is_some()
}

/// XEP-0280 §6: one-to-one chat traffic, not marked private.
pub(crate) fn eligible(e: &Element) -> bool {
    if is_carbon(e)
        || e.find_child("private", NS).is_some()
        || e.find_child("no-copy", NS_HINTS).is_some()
    {
        return false;
    }
    match MessageType::of(e) {
        MessageType::Chat => true,
        MessageType::Normal => {
            e.find_child("body", ns::CLIENT).is_some()
                || e.children().any(|c| c.ns() == NS_CHATSTATES || c.ns() == NS_RECEIPTS)
        }
        _ => false,
    }
}

/// `<message from=bare to=full><sent|received><forwarded>msg</forwarded>...`.
fn wrap(direction: &str, account: &Jid, to: &Jid, e: &Element) -> Element {
    let mut copy = Element::new("message", ns::CLIENT)
        .attr("from", account.to_string())
        .attr("to", to.to_string());
    if let Some(t) = e.attribute("type") {
        copy.set_attr("type", t);
    }
    copy.child(
        Element::new(direction, NS).child(Element::new("forwarded", NS_FORWARD).child(e.clone())),
    )
}

impl Server {
    /// Other sessions of `account` with carbons on, except `except`.
    fn carbon_targets(&self, account: &Jid, except: &[SessionId]) -> Vec<(SessionId, Jid)> {
        self.sessions_of(account)
            .into_iter()
            .filter(|sid| !except.contains(sid))
            .filter_map(|sid| self.sessions.get(&sid))
            .filter(|s| s.carbons)
            .map(|s| (s.id, s.jid.clone()))
            .collect()
    }

    /// A message the user sent from `sid`: `<sent/>` copies (XEP-0280 §7).
    pub(crate) fn carbons_sent(&mut self, sid: SessionId, e: &Element) {
        if !eligible(e) {
            return;
        }
        let Some(account) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        for (target, jid) in self.carbon_targets(&account, &[sid]) {
            let copy = wrap("sent", &account, &jid, e);
            self.deliver(target, copy);
        }
    }

    /// A message delivered to the sessions `delivered` of `account`:
    /// `<received/>` copies for the others (XEP-0280 §6).
    pub(crate) fn carbons_received(&mut self, account: &Jid, delivered: &[SessionId], e: &Element) {
        if !eligible(e) {
            return;
        }
        for (target, jid) in self.carbon_targets(account, delivered) {
            let copy = wrap("received", account, &jid, e);
            self.deliver(target, copy);
        }
    }
}
