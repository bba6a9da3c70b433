//! Occupants (XEP-0045 §7): entering (creation, passwords, members-only,
//! bans, nickname conflicts, limits), presence broadcast, nickname changes,
//! leaving, groupchat messages and subject changes, private messages,
//! mediated invitations, history on entering and XEP-0410 self-ping.

use std::collections::BTreeMap;

use rtc_xmlstream::{ns, Element};

use super::room::{Affiliation, Logged, Role, RoomConfig, RoomState};
use super::{body, delay, status, MucService, Room, NS_MUC, NS_SID, NS_USER};
use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::jid::Jid;
use crate::core::stanza::{self, MessageType, PresenceType};

/// One occupant: a real full JID under a nickname.
#[derive(Debug, Clone)]
pub(crate) struct Occupant {
    pub(crate) real: Jid,
    pub(crate) role: Role,
    /// The occupant's last available presence (its children are rebroadcast).
    pub(crate) presence: Element,
}

/// How a presence broadcast ends an occupancy (XEP-0045 status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Left on its own.
    Left,
    /// Kicked: status 307 (XEP-0045 §9.2).
    Kicked,
    /// Banned: status 301 (XEP-0045 §9.1).
    Banned,
    /// Removed as not a member: status 321 (XEP-0045 §9.4).
    NotMember,
}

impl MucService {
    /// Presence to `room@service/nick`.
    pub(super) fn presence(&mut self, e: Element, from: Jid, to: Jid) {
        let node = to.node().unwrap_or_default().to_owned();
        let Some(nick) = to.resource().map(str::to_owned) else {
            // XEP-0045 §7.2.1: entering needs a nickname.
            return self.reject_with(&e, StanzaError::new(StanzaCondition::JidMalformed));
        };
        let current = self.nick_of(&node, &from);
        match PresenceType::of(&e) {
            Some(PresenceType::Unavailable) => {
                if let Some(current) = current {
                    self.exit(&node, &current, Exit::Left, Some(&e));
                }
            }
            Some(PresenceType::Error) => {
                if let Some(current) = current {
                    self.exit(&node, &current, Exit::Left, None);
                }
            }
            Some(PresenceType::Available) => match current {
                Some(c) if c == nick => self.update_presence(&node, &nick, e),
                Some(c) => self.change_nick(&node, &c, &nick, e),
                None => self.enter(&node, &nick, &from, e),
            },
            _ => {}
        }
    }

    /// The nickname `real` (a full JID) occupies in `node`.
    pub(crate) fn nick_of(&self, node: &str, real: &Jid) -> Option<String> {
        let r = self.rooms.get(node)?;
        r.occupants
            .iter()
            .find(|(_, o)| &o.real == real)
            .map(|(n, _)| n.clone())
    }

    fn rooms_owned_by(&self, user: &Jid) -> usize {
        self.rooms
            .values()
            .filter(|r| r.state.affiliation(user) == Affiliation::Owner)
            .count()
    }

    /// XEP-0045 §7.2 and §10.1: enter, creating the room if needed.
    fn enter(&mut self, node: &str, nick: &str, from: &Jid, e: Element) {
        let muc = e.find_child("x", NS_MUC).cloned();
        let muc = muc.as_ref();
        let mut created = false;
        if !self.rooms.contains_key(node) {
            let bare = from.bare();
            let allowed = !self.config.restrict_creation_to_admins || self.admins.contains(&bare);
            if !allowed {
                return self.reject(&e, StanzaCondition::NotAllowed);
            }
            if self.rooms.len() >= self.config.max_rooms
                || self.rooms_owned_by(&bare) >= self.config.max_rooms_per_user
            {
                return self.reject(&e, StanzaCondition::ResourceConstraint);
            }
            let Ok(jid) = Jid::bare_from(node, &self.domain) else {
                return self.reject(&e, StanzaCondition::JidMalformed);
            };
            let mut state = RoomState {
                config: RoomConfig::new(self.config.default_persistent, self.config.max_occupants),
                affiliations: BTreeMap::new(),
                subject: None,
                log: Default::default(),
            };
            state.set_affiliation(bare, Affiliation::Owner);
            // XEP-0045 §10.1.1: a room created by a MUC-aware client stays
            // locked until configured; a GC 1.0 client gets an instant room.
            let locked = muc.is_some();
            self.rooms.insert(
                node.to_owned(),
                Room {
                    jid,
                    state,
                    occupants: BTreeMap::new(),
                    locked,
                },
            );
            created = true;
            if !locked {
                self.save(node);
            }
        }
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let affiliation = r.state.affiliation(from);
        let c = &r.state.config;
        let refusal = if r.locked && affiliation != Affiliation::Owner {
            Some(StanzaError::new(StanzaCondition::ItemNotFound)) // §10.1.1
        } else if affiliation == Affiliation::Outcast {
            Some(StanzaError::new(StanzaCondition::Forbidden)) // §7.2.7
        } else if c.members_only && affiliation > Affiliation::Member {
            Some(StanzaError::new(StanzaCondition::RegistrationRequired)) // §7.2.6
        } else if c.password.is_some()
            && !affiliation.is_admin()
            && muc
                .and_then(|m| m.child_text("password", NS_MUC))
                .as_deref()
                != c.password.as_deref()
        {
            Some(StanzaError::new(StanzaCondition::NotAuthorized)) // §7.2.5
        } else if r.occupants.contains_key(nick) {
            Some(StanzaError::new(StanzaCondition::Conflict)) // §7.2.9
        } else if r.occupants.len() >= c.max_occupants.min(self.config.max_occupants)
            && !affiliation.is_admin()
        {
            Some(StanzaError::new(StanzaCondition::ServiceUnavailable)) // §7.2.10
        } else {
            None
        };
        if let Some(err) = refusal {
            return self.reject_with(&e, err);
        }
        let role = self.initial_role(node, from);
        let Some(r) = self.rooms.get_mut(node) else {
            return;
        };
        let room_jid = r.jid.clone();
        // §7.2.3: existing occupants' presence first, to the newcomer.
        let existing: Vec<(String, Occupant)> = r
            .occupants
            .iter()
            .map(|(n, o)| (n.clone(), o.clone()))
            .collect();
        let state = r.state.clone();
        r.occupants.insert(
            nick.to_owned(),
            Occupant {
                real: from.clone(),
                role,
                presence: e.clone(),
            },
        );
        let newcomer_sees_jids = state.config.whois_anyone || role == Role::Moderator;
        for (n, o) in &existing {
            let p = occupant_presence(&room_jid, n, o, &state, from, newcomer_sees_jids, &[]);
            self.out.push(p);
        }
        // Then the newcomer's presence to everyone, itself last with 110.
        let me = Occupant {
            real: from.clone(),
            role,
            presence: e,
        };
        for (_, o) in &existing {
            let sees = state.config.whois_anyone || o.role == Role::Moderator;
            let p = occupant_presence(&room_jid, nick, &me, &state, &o.real, sees, &[]);
            self.out.push(p);
        }
        let mut codes = vec![110];
        if state.config.whois_anyone {
            codes.push(100);
        }
        if created {
            codes.push(201);
        }
        let p = occupant_presence(&room_jid, nick, &me, &state, from, true, &codes);
        self.out.push(p);
        self.send_history(node, from, muc);
        // §7.2.16: the subject last (empty when there is none).
        let subject = state.subject.clone().unwrap_or_default();
        let subject_from = if subject.1.is_empty() {
            room_jid.clone()
        } else {
            room_jid
                .with_resource(&subject.1)
                .unwrap_or_else(|_| room_jid.clone())
        };
        let m = Element::new("message", ns::CLIENT)
            .attr("from", subject_from.to_string())
            .attr("to", from.to_string())
            .attr("type", "groupchat")
            .attr("id", self.fresh_id())
            .child(Element::new("subject", ns::CLIENT).text(&subject.0));
        self.out.push(m);
    }

    /// XEP-0045 §7.2.15: the requested part of the history.
    fn send_history(&mut self, node: &str, to: &Jid, muc: Option<&Element>) {
        let h = muc.and_then(|m| m.find_child("history", NS_MUC));
        let num = |k: &str| {
            h.and_then(|h| h.attribute(k))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let mut max = self.config.max_history;
        if let Some(n) = num("maxstanzas") {
            max = max.min(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if num("maxchars") == Some(0) {
            max = 0;
        }
        let oldest = num("seconds").map(|s| self.now.saturating_sub(s));
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let room_jid = r.jid.clone();
        let mut picked: Vec<&Logged> = r
            .state
            .log
            .iter()
            .rev()
            .filter(|l| oldest.is_none_or(|o| l.stamp >= o))
            .take(max)
            .collect();
        picked.reverse();
        let msgs: Vec<Element> = picked
            .into_iter()
            .map(|l| {
                let mut m = l.message.clone();
                m.set_attr("to", to.to_string());
                m.push_child(delay(&room_jid, l.stamp));
                m
            })
            .collect();
        self.out.extend(msgs);
    }

    /// A presence update from a present occupant (§7.7): rebroadcast.
    fn update_presence(&mut self, node: &str, nick: &str, e: Element) {
        if let Some(o) = self
            .rooms
            .get_mut(node)
            .and_then(|r| r.occupants.get_mut(nick))
        {
            o.presence = e;
        }
        self.broadcast_occupant(node, nick, &[]);
    }

    /// Send `nick`'s current presence to every occupant.
    pub(crate) fn broadcast_occupant(&mut self, node: &str, nick: &str, codes: &[u16]) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let Some(me) = r.occupants.get(nick) else {
            return;
        };
        let mut out = Vec::new();
        for o in r.occupants.values() {
            let sees = r.state.config.whois_anyone || o.role == Role::Moderator;
            let mut codes = codes.to_vec();
            if o.real == me.real {
                codes.push(110);
            }
            out.push(occupant_presence(
                &r.jid, nick, me, &r.state, &o.real, sees, &codes,
            ));
        }
        self.out.extend(out);
    }

    /// XEP-0045 §7.6: a nickname change.
    fn change_nick(&mut self, node: &str, old: &str, new: &str, e: Element) {
        let Some(r) = self.rooms.get_mut(node) else {
            return;
        };
        if r.occupants.contains_key(new) {
            return self.reject(&e, StanzaCondition::Conflict);
        }
        let Some(mut me) = r.occupants.remove(old) else {
            return;
        };
        let state = r.state.clone();
        let jid = r.jid.clone();
        let mut out = Vec::new();
        let gone = Occupant {
            presence: unavailable(),
            ..me.clone()
        };
        for o in r.occupants.values().chain(std::iter::once(&me)) {
            let sees = state.config.whois_anyone || o.role == Role::Moderator;
            let mut codes = vec![303];
            if o.real == me.real {
                codes.push(110);
            }
            let mut p = occupant_presence(&jid, old, &gone, &state, &o.real, sees, &codes);
            if let Some(item) = p
                .find_child_mut("x", NS_USER)
                .and_then(|x| x.find_child_mut("item", NS_USER))
            {
                item.set_attr("nick", new);
            }
            out.push(p);
        }
        me.presence = e;
        r.occupants.insert(new.to_owned(), me);
        self.out.extend(out);
        self.broadcast_occupant(node, new, &[]);
    }

    /// An occupant leaves, is kicked or banned: unavailable presence to
    /// everyone (itself included); an empty temporary room goes away.
    pub(crate) fn exit(&mut self, node: &str, nick: &str, how: Exit, own: Option<&Element>) {
        let Some(r) = self.rooms.get_mut(node) else {
            return;
        };
        let Some(mut me) = r.occupants.remove(nick) else {
            return;
        };
        me.role = Role::None;
        me.presence = own.cloned().unwrap_or_else(unavailable);
        me.presence.set_attr("type", "unavailable");
        let code = match how {
            Exit::Left => None,
            Exit::Kicked => Some(307),
            Exit::Banned => Some(301),
            Exit::NotMember => Some(321),
        };
        let state = r.state.clone();
        let jid = r.jid.clone();
        let mut out = Vec::new();
        for o in r.occupants.values().chain(std::iter::once(&me)) {
            let sees = state.config.whois_anyone || o.role == Role::Moderator;
            let mut codes: Vec<u16> = code.into_iter().collect();
            if o.real == me.real {
                codes.push(110);
            }
            out.push(occupant_presence(
                &jid, nick, &me, &state, &o.real, sees, &codes,
            ));
        }
        let empty_temporary = r.occupants.is_empty() && !r.state.config.persistent;
        self.out.extend(out);
        if empty_temporary {
            self.rooms.remove(node);
        }
    }

    /// Messages to a room or an occupant (XEP-0045 §7.4, §7.5, §7.8, §8.1).
    pub(super) fn message(&mut self, e: Element, from: Jid, to: Jid) {
        let node = to.node().unwrap_or_default().to_owned();
        if !self.rooms.contains_key(&node) {
            return self.reject(&e, StanzaCondition::ItemNotFound);
        }
        let kind = MessageType::of(&e);
        let sender = self.nick_of(&node, &from);
        if kind == MessageType::Error {
            // §7.2.? An error from an occupant's client: it is gone.
            if let Some(nick) = sender {
                self.exit(&node, &nick, Exit::Left, None);
            }
            return;
        }
        let too_big = body(&e).is_some_and(|b| b.len() > self.config.max_message_bytes)
            || e.child_text("subject", ns::CLIENT)
                .is_some_and(|s| s.len() > self.config.max_message_bytes);
        if too_big {
            return self.reject(&e, StanzaCondition::NotAcceptable);
        }
        if let Some(target) = to.resource() {
            return self.private_message(&node, target, sender.as_deref(), e);
        }
        if kind == MessageType::Groupchat {
            let Some(nick) = sender else {
                return self.reject(&e, StanzaCondition::NotAcceptable); // §7.4
            };
            return self.groupchat(&node, &nick, e);
        }
        if let Some(x) = e.find_child("x", NS_USER) {
            if x.find_child("invite", NS_USER).is_some() {
                return self.invite(&node, &from, sender.is_some(), &e);
            }
        }
        self.reject(&e, StanzaCondition::BadRequest);
    }

    /// A groupchat message or subject change from `nick`.
    fn groupchat(&mut self, node: &str, nick: &str, e: Element) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let Some(me) = r.occupants.get(nick) else {
            return;
        };
        let role = me.role;
        let real = me.real.bare();
        let subject = e.child_text("subject", ns::CLIENT).map(|s| s.into_owned());
        let has_body = e.find_child("body", ns::CLIENT).is_some();
        if role == Role::Visitor {
            return self.reject(&e, StanzaCondition::Forbidden); // §7.4 moderated
        }
        if let (Some(text), false) = (&subject, has_body) {
            // §8.1: who may change the subject.
            let allowed = role == Role::Moderator || r.state.config.change_subject;
            if !allowed {
                return self.reject(&e, StanzaCondition::Forbidden);
            }
            let text = text.clone();
            if let Some(r) = self.rooms.get_mut(node) {
                r.state.subject = (!text.is_empty()).then(|| (text, nick.to_owned()));
            }
            self.save(node);
        }
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let Ok(from) = r.jid.with_resource(nick) else {
            return;
        };
        let id = self.fresh_id();
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let mut m = Element::new("message", ns::CLIENT)
            .attr("from", from.to_string())
            .attr("type", "groupchat");
        if let Some(i) = e.attribute("id") {
            m.set_attr("id", i);
        }
        for child in e.children() {
            // Strip the sender's own stanza ids (XEP-0359 §5).
            if child.ns() == NS_SID {
                continue;
            }
            m.push_child(child.clone());
        }
        m.push_child(
            Element::new("stanza-id", NS_SID)
                .attr("id", id.as_str())
                .attr("by", r.jid.to_string()),
        );
        let targets: Vec<Jid> = r.occupants.values().map(|o| o.real.clone()).collect();
        for t in targets {
            let mut copy = m.clone();
            copy.set_attr("to", t.to_string());
            self.out.push(copy);
        }
        if has_body {
            let logged = Logged {
                id,
                stamp: self.now,
                nick: nick.to_owned(),
                real: Some(real),
                message: m,
            };
            self.log_message(node, logged);
        }
    }

    /// §7.5: a private message to `room/target`.
    fn private_message(&mut self, node: &str, target: &str, sender: Option<&str>, e: Element) {
        let Some(sender) = sender else {
            return self.reject(&e, StanzaCondition::NotAcceptable);
        };
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let Some(t) = r.occupants.get(target) else {
            return self.reject(&e, StanzaCondition::ItemNotFound);
        };
        if MessageType::of(&e) == MessageType::Groupchat {
            return self.reject(&e, StanzaCondition::BadRequest);
        }
        let Ok(from) = r.jid.with_resource(sender) else {
            return;
        };
        let mut m = Element::new("message", ns::CLIENT)
            .attr("from", from.to_string())
            .attr("to", t.real.to_string());
        for (k, v) in [("type", e.attribute("type")), ("id", e.attribute("id"))] {
            if let Some(v) = v {
                m.set_attr(k, v);
            }
        }
        for child in e.children() {
            m.push_child(child.clone());
        }
        m.push_child(Element::new("x", NS_USER));
        self.out.push(m);
    }

    /// §7.8.2: a mediated invitation, relayed from the room.
    fn invite(&mut self, node: &str, from: &Jid, is_occupant: bool, e: &Element) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let affiliation = r.state.affiliation(from);
        let may = is_occupant
            && (affiliation.is_admin()
                || r.state.config.allow_invites
                || !r.state.config.members_only);
        if !may {
            return self.reject(e, StanzaCondition::Forbidden);
        }
        let room_jid = r.jid.clone();
        let password = r.state.config.password.clone();
        let members_only = r.state.config.members_only;
        let invites: Vec<(Jid, Option<String>)> = e
            .find_child("x", NS_USER)
            .into_iter()
            .flat_map(|x| x.find_children("invite", NS_USER))
            .take(10)
            .filter_map(|i| {
                let to = Jid::parse(i.attribute("to")?).ok()?;
                Some((to, i.child_text("reason", NS_USER).map(|r| r.into_owned())))
            })
            .collect();
        for (to, reason) in invites {
            if members_only && affiliation.is_admin() {
                // §9.3: inviting to a members-only room makes a member.
                if let Some(r) = self.rooms.get_mut(node) {
                    if r.state.affiliation(&to) == Affiliation::None {
                        r.state.set_affiliation(to.bare(), Affiliation::Member);
                    }
                }
                self.save(node);
            }
            let mut invite = Element::new("invite", NS_USER).attr("from", from.bare().to_string());
            if let Some(reason) = reason {
                invite.push_child(Element::new("reason", NS_USER).text(reason));
            }
            let mut x = Element::new("x", NS_USER).child(invite);
            if let Some(p) = &password {
                x.push_child(Element::new("password", NS_USER).text(p));
            }
            let id = self.fresh_id();
            self.out.push(
                Element::new("message", ns::CLIENT)
                    .attr("from", room_jid.to_string())
                    .attr("to", to.to_string())
                    .attr("id", id)
                    .child(x),
            );
        }
    }

    /// IQs to `room/nick`: XEP-0410 self-ping is answered by the room;
    /// other IQs to occupants are not forwarded.
    pub(super) fn occupant_iq(&mut self, e: &Element, node: &str, nick: &str, from: &Jid) {
        let mine = self.nick_of(node, from);
        if mine.is_none() {
            // XEP-0410 §4: not an occupant (any more).
            return self.reject(e, StanzaCondition::NotAcceptable);
        }
        let ping = stanza::iq_payload(e).is_some_and(|p| p.is("ping", "urn:xmpp:ping"));
        if ping && mine.as_deref() == Some(nick) {
            return self.out.push(stanza::iq_result(e));
        }
        self.reject(e, StanzaCondition::FeatureNotImplemented);
    }
}

/// A bare `<presence type='unavailable'/>`.
fn unavailable() -> Element {
    Element::new("presence", ns::CLIENT).attr("type", "unavailable")
}

/// The presence of occupant `nick` as `to` sees it (XEP-0045 §7.2.3).
pub(crate) fn occupant_presence(
    room: &Jid,
    nick: &str,
    o: &Occupant,
    state: &RoomState,
    to: &Jid,
    show_jid: bool,
    codes: &[u16],
) -> Element {
    let from = room
        .with_resource(nick)
        .map(|j| j.to_string())
        .unwrap_or_else(|_| room.to_string());
    let mut p = Element::new("presence", ns::CLIENT)
        .attr("from", from)
        .attr("to", to.to_string());
    if o.presence.attribute("type") == Some("unavailable") {
        p.set_attr("type", "unavailable");
    }
    for child in o.presence.children() {
        let ours = child.ns() == NS_MUC || child.ns() == NS_USER;
        if !ours {
            p.push_child(child.clone());
        }
    }
    let mut item = Element::new("item", NS_USER)
        .attr("affiliation", state.affiliation(&o.real).as_str())
        .attr("role", o.role.as_str());
    if show_jid {
        item.set_attr("jid", o.real.to_string());
    }
    let mut x = Element::new("x", NS_USER).child(item);
    for c in codes {
        x.push_child(status(*c));
    }
    p.push_child(x);
    p
}
