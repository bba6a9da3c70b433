//! Presence notifications (RFC 6121 §4): initial presence with probes and
//! redelivery of pending subscription requests, updates, directed presence,
//! unavailable presence on logout, and inbound presence and probes.
//!
//! Presence for a local contact with no sessions is not delivered (nothing
//! would show it), so broadcasting never loads offline accounts.

use rtc_xmlstream::Element;

use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::features::vcard;
use crate::core::jid::Jid;
use crate::core::server::Server;
use crate::core::sm::Origin;
use crate::core::stanza::{self, PresenceType};
use crate::core::types::SessionId;

impl Server {
    /// A presence stanza from a bound client.
    pub(crate) fn presence_from_client(
        &mut self,
        sid: SessionId,
        e: Element,
        to: Option<Jid>,
        origin: Option<Origin>,
    ) {
        let Some(kind) = PresenceType::of(&e) else {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::BadRequest));
        };
        match (to, kind) {
            (None, PresenceType::Available) => self.presence_available(sid, e),
            (None, PresenceType::Unavailable) => self.presence_unavailable(sid, Some(e)),
            (None, _) => {}
            (Some(to), k) if k.is_subscription() => self.subscription_outbound(sid, e, to, k, origin),
            (Some(to), PresenceType::Probe) => self.probe_answer(&to.bare(), &e),
            (Some(to), k) => self.directed_presence(sid, e, to, k, origin),
        }
    }

    /// Initial presence or an update (RFC 6121 §4.2, §4.4).
    fn presence_available(&mut self, sid: SessionId, mut e: Element) {
        let Ok(priority) = stanza::priority(&e) else {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::BadRequest));
        };
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        if let Some(hash) = self.account(&user).and_then(|a| a.avatar_hash.clone()) {
            vcard::add_avatar(&mut e, &hash);
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let initial = !s.available;
        s.available = true;
        s.priority = priority;
        s.presence = Some(e.clone());
        self.broadcast(sid, &e, false);
        if initial {
            self.initial_presence(sid, priority);
        }
    }

    /// RFC 6121 §4.2.2-§4.2.4: what a session gets when it becomes available.
    fn initial_presence(&mut self, sid: SessionId, priority: i8) {
        let Some(full) = self.sessions.get(&sid).map(|s| s.jid.clone()) else {
            return;
        };
        let user = full.bare();
        let Some(account) = self.account(&user) else {
            return;
        };
        let contacts: Vec<Jid> = account
            .roster
            .values()
            .filter(|i| i.subscription.has_to())
            .map(|i| i.jid.clone())
            .collect();
        let pending_in: Vec<Jid> = account
            .roster
            .values()
            .filter(|i| i.pending_in)
            .map(|i| i.jid.clone())
            .collect();
        // Probes, answered locally for local contacts (§4.3).
        for contact in contacts {
            if self.is_local_domain(contact.domain()) {
                let probe = stanza::presence(PresenceType::Probe, &full, &contact);
                self.probe_answer(&contact, &probe);
            }
        }
        // The user's other resources (§4.2.2).
        for other in self.available_sessions(&user) {
            if other == sid {
                continue;
            }
            if let Some(mut p) = self.sessions.get(&other).and_then(|s| s.presence.clone()) {
                p.set_attr("to", full.to_string());
                self.deliver(sid, p);
            }
        }
        // Subscription requests that arrived while offline (§3.1.3).
        for contact in pending_in {
            let p = stanza::presence(PresenceType::Subscribe, &contact, &user);
            self.deliver(sid, p);
        }
        if priority >= 0 {
            self.offline_fetch(sid);
        }
    }

    /// `<presence type='unavailable'/>` without `to`, or the end of a session
    /// (`None`): tell everyone who had the session's presence (§4.5).
    pub(crate) fn presence_unavailable(&mut self, sid: SessionId, e: Option<Element>) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        if !s.available {
            return;
        }
        let e = e.unwrap_or_else(|| {
            let mut p = stanza::presence(PresenceType::Unavailable, &s.jid, &s.jid);
            p.remove_attr("to");
            p
        });
        self.broadcast(sid, &e, true);
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.available = false;
            s.presence = None;
            s.directed.clear();
        }
    }

    /// The session ends while available.
    pub(crate) fn broadcast_unavailable(&mut self, sid: SessionId) {
        self.presence_unavailable(sid, None);
    }

    /// Send `e` to the user's subscribers and other available resources
    /// (and, for unavailable presence, to directed-presence recipients).
    fn broadcast(&mut self, sid: SessionId, e: &Element, with_directed: bool) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let full = s.jid.clone();
        let user = full.bare();
        let mut targets: Vec<Jid> = self
            .account(&user)
            .map(|a| {
                a.roster
                    .values()
                    .filter(|i| i.subscription.has_from())
                    .map(|i| i.jid.clone())
                    .collect()
            })
            .unwrap_or_default();
        if with_directed {
            targets.extend(s.directed.iter().filter(|d| !targets.contains(d)).cloned().collect::<Vec<_>>());
        }
        for target in targets {
            if self.blocks(&user, &target) {
                continue;
            }
            let mut p = e.clone();
            p.set_attr("to", target.to_string());
            self.presence_to(p, target);
        }
        for other in self.available_sessions(&user) {
            if other == sid {
                continue;
            }
            if let Some(to) = self.sessions.get(&other).map(|s| s.jid.to_string()) {
                let mut p = e.clone();
                p.set_attr("to", to);
                self.deliver(other, p);
            }
        }
    }

    /// Route presence, skipping local accounts that have no session.
    fn presence_to(&mut self, p: Element, target: Jid) {
        if self.is_local_domain(target.domain()) && !self.resources.contains_key(&target.bare()) {
            return;
        }
        self.route(p, target, None);
    }

    /// The current presence of each of `user`'s available sessions, to `to`.
    pub(crate) fn presence_from_sessions(&mut self, user: &Jid, to: &Jid) {
        for sid in self.available_sessions(user) {
            if let Some(mut p) = self.sessions.get(&sid).and_then(|s| s.presence.clone()) {
                p.set_attr("to", to.to_string());
                self.presence_to(p, to.clone());
            }
        }
    }

    /// Unavailable presence from each of `user`'s available sessions, to `to`.
    pub(crate) fn unavailable_from_sessions(&mut self, user: &Jid, to: &Jid) {
        for sid in self.available_sessions(user) {
            if let Some(from) = self.sessions.get(&sid).map(|s| s.jid.clone()) {
                let p = stanza::presence(PresenceType::Unavailable, &from, to);
                self.presence_to(p, to.clone());
            }
        }
    }

    /// Directed presence (RFC 6121 §4.6): delivered, and remembered so that
    /// the recipient learns when the session goes away.
    fn directed_presence(
        &mut self,
        sid: SessionId,
        e: Element,
        to: Jid,
        kind: PresenceType,
        origin: Option<Origin>,
    ) {
        let max = self.config.limits.max_directed_presences;
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        if self.blocks(&user, &to) {
            return;
        }
        let subscriber = self
            .account(&user)
            .and_then(|a| a.roster.get(&to.bare()))
            .is_some_and(|i| i.subscription.has_from());
        if let Some(s) = self.sessions.get_mut(&sid) {
            match kind {
                PresenceType::Available if !subscriber && s.directed.len() < max => {
                    s.directed.insert(to.clone());
                }
                PresenceType::Unavailable => {
                    s.directed.remove(&to);
                }
                _ => {}
            }
        }
        self.route(e, to, origin);
    }

    /// Presence for a loaded local account (RFC 6121 §4.3.2, §8.5).
    pub(crate) fn presence_inbound(&mut self, e: Element, to: Jid, origin: Option<Origin>) {
        match PresenceType::of(&e) {
            None => {}
            Some(k) if k.is_subscription() => self.subscription_inbound(e, to, k, origin),
            Some(PresenceType::Probe) => self.probe_answer(&to.bare(), &e),
            Some(_) if to.is_bare() => {
                for sid in self.available_sessions(&to) {
                    self.deliver(sid, e.clone());
                }
            }
            Some(_) => {
                if let Some(sid) = self.session_by_jid(&to) {
                    self.deliver(sid, e);
                }
            }
        }
    }

    /// Answer a probe from `probe`'s sender about local account `user`: its
    /// available sessions' presence, if the sender is subscribed (§4.3.2).
    fn probe_answer(&mut self, user: &Jid, probe: &Element) {
        let Some(from) = stanza::from_jid(probe) else {
            return;
        };
        let subscribed = self
            .account(user)
            .and_then(|a| a.roster.get(&from.bare()))
            .is_some_and(|i| i.subscription.has_from());
        if !subscribed || self.blocks(user, &from) {
            return;
        }
        for sid in self.available_sessions(user) {
            if let Some(mut p) = self.sessions.get(&sid).and_then(|s| s.presence.clone()) {
                p.set_attr("to", from.to_string());
                self.presence_to(p, from.clone());
            }
        }
    }
}
