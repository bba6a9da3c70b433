//! Multi-user chat (XEP-0045) as a component domain (`conference.<host>`),
//! sans-IO like the rest of the core.
//!
//! A [`MucService`] takes stanzas addressed to its domain (their `from`
//! already stamped by the router) and produces stanzas to route and
//! storage requests to perform; the server drains both after each call.
//! Rooms, their configuration, affiliations and subject are stored with
//! [`StorageRequest::SaveMucRoom`] when they change; each groupchat message
//! of a persistent room is appended with [`StorageRequest::ArchiveMucMessage`].
//! The service loads its rooms (and each room's most recent messages, the
//! source of history and of the XEP-0313 archive) once, at start; stanzas
//! arriving before that answer are queued.
//!
//! Files by phase: `room.rs` (durable state), `occupants.rs` (entering,
//! leaving, nicknames, groupchat, subject, private messages, invitations,
//! history, self-ping), `admin.rs` (roles, affiliations, configuration
//! forms, destruction), `archive.rs` (XEP-0313 queries), `form.rs` (data
//! forms, XEP-0004).
//!
//! Not here: multi-session nicknames (one real JID per nickname), IQ
//! forwarding between occupants, voice requests, XEP-0317 hats.

mod admin;
mod archive;
pub(crate) mod form;
mod occupants;
pub(crate) mod room;

use std::collections::BTreeMap;

use rtc_xmlstream::{ns, Element};
use serde::Deserialize;

use super::error::{StanzaCondition, StanzaError};
use super::features::disco;
use super::jid::Jid;
use super::stanza::{self, IqType, Kind};
use super::storage::StorageRequest;
use room::{Role, RoomState};

/// XEP-0045 namespaces.
pub(crate) const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub(crate) const NS_USER: &str = "http://jabber.org/protocol/muc#user";
pub(crate) const NS_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub(crate) const NS_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0359 stanza ids.
pub(crate) const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0203 delayed delivery.
pub(crate) const NS_DELAY: &str = "urn:xmpp:delay";

/// Limits and defaults of one MUC service (`components[].muc`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MucConfig {
    /// Rooms on the service. Default: 1000.
    pub max_rooms: usize,
    /// Rooms one user may own. Default: 20.
    pub max_rooms_per_user: usize,
    /// Occupants per room (and the highest `muc#roomconfig_maxusers`). Default: 1000.
    pub max_occupants: usize,
    /// Messages replayed on join at most (XEP-0045 §7.2.15). Default: 20.
    pub max_history: usize,
    /// Messages kept per room for the XEP-0313 archive. Default: 1000.
    pub max_archive: usize,
    /// Largest groupchat or private message body and subject, in bytes. Default: 10000.
    pub max_message_bytes: usize,
    /// Results per XEP-0313 page at most. Default: 100.
    pub max_page: usize,
    /// Whether new rooms are persistent until configured otherwise. Default: false.
    pub default_persistent: bool,
    /// Who may create rooms: users of any hosted domain (`false`) or only the
    /// server admins (`true`). Default: false.
    pub restrict_creation_to_admins: bool,
}

impl Default for MucConfig {
    fn default() -> Self {
        Self {
            max_rooms: 1000,
            max_rooms_per_user: 20,
            max_occupants: 1000,
            max_history: 20,
            max_archive: 1000,
            max_message_bytes: 10_000,
            max_page: 100,
            default_persistent: false,
            restrict_creation_to_admins: false,
        }
    }
}

/// One room in memory.
#[derive(Debug)]
pub(crate) struct Room {
    /// The room's bare JID.
    pub(crate) jid: Jid,
    pub(crate) state: RoomState,
    /// Nickname → occupant.
    pub(crate) occupants: BTreeMap<String, occupants::Occupant>,
    /// Created and not yet configured (XEP-0045 §10.1.1): others may not enter.
    pub(crate) locked: bool,
}

/// A room as stored, for [`MucService::handle_loaded`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRoom {
    /// The room's localpart.
    pub name: String,
    /// The room document (configuration, affiliations, subject).
    pub state: Element,
    /// Its most recent archived messages, oldest first.
    pub archive: Vec<ArchivedMessage>,
}

/// One archived groupchat message.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedMessage {
    /// XEP-0359 stanza id.
    pub id: String,
    /// Unix seconds.
    pub stamp: u64,
    /// The message as broadcast, with `from` = room/nick.
    pub message: Element,
}

/// The MUC service of one component domain.
#[derive(Debug)]
pub(crate) struct MucService {
    pub(crate) domain: String,
    pub(crate) config: MucConfig,
    pub(crate) rooms: BTreeMap<String, Room>,
    pub(crate) loaded: bool,
    queued: Vec<Element>,
    /// Stanzas to route.
    pub(crate) out: Vec<Element>,
    /// Storage requests to emit.
    pub(crate) storage: Vec<StorageRequest>,
    /// Unix seconds of the current input.
    pub(crate) now: u64,
    /// Server admins (may create rooms when creation is restricted).
    pub(crate) admins: Vec<Jid>,
    /// Seed of stanza ids, unique per process start.
    pub(crate) id_prefix: String,
    next_id: u64,
}

impl MucService {
    pub(crate) fn new(
        domain: String,
        config: MucConfig,
        admins: Vec<Jid>,
        id_prefix: String,
    ) -> Self {
        Self {
            domain,
            config,
            rooms: BTreeMap::new(),
            loaded: false,
            queued: Vec::new(),
            out: Vec::new(),
            storage: Vec::new(),
            now: 0,
            admins,
            id_prefix,
            next_id: 1,
        }
    }

    /// The request that loads the stored rooms.
    pub(crate) fn load_request(&self) -> Option<StorageRequest> {
        let service = Jid::domain_only(&self.domain).ok()?;
        Some(StorageRequest::LoadMucRooms {
            service,
            archive: self.config.max_archive,
        })
    }

    /// The stored rooms arrived (or failed to: the service then starts empty).
    pub(crate) fn handle_loaded(&mut self, rooms: Vec<StoredRoom>, now: u64) {
        self.now = now;
        for r in rooms {
            let Ok(jid) = Jid::bare_from(&r.name, &self.domain) else {
                continue;
            };
            let Some(mut state) = RoomState::from_element(&r.state, self.config.max_occupants)
            else {
                continue;
            };
            for a in r.archive {
                let nick = stanza::from_jid(&a.message)
                    .and_then(|j| j.resource().map(str::to_owned))
                    .unwrap_or_default();
                state.log.push_back(room::Logged {
                    id: a.id,
                    stamp: a.stamp,
                    nick,
                    real: None,
                    message: a.message,
                });
            }
            let node = jid.node().unwrap_or_default().to_owned();
            self.rooms.insert(
                node,
                Room {
                    jid,
                    state,
                    occupants: BTreeMap::new(),
                    locked: false,
                },
            );
        }
        self.loaded = true;
        for e in std::mem::take(&mut self.queued) {
            self.handle_stanza(e, now);
        }
    }

    /// A stanza for the service or one of its rooms.
    pub(crate) fn handle_stanza(&mut self, e: Element, now: u64) {
        self.now = now;
        if !self.loaded {
            if self.queued.len() < 10_000 {
                self.queued.push(e);
            } else {
                self.reject(&e, StanzaCondition::ResourceConstraint);
            }
            return;
        }
        let (Some(from), Some(to)) = (stanza::from_jid(&e), stanza::to_jid(&e)) else {
            return;
        };
        match (to.node(), Kind::of(&e)) {
            (None, Some(Kind::Iq)) => self.service_iq(&e),
            (None, _) => self.reject(&e, StanzaCondition::ServiceUnavailable),
            (Some(_), Some(Kind::Presence)) => self.presence(e, from, to),
            (Some(_), Some(Kind::Message)) => self.message(e, from, to),
            (Some(_), Some(Kind::Iq)) => self.room_iq(e, from, to),
            (Some(_), None) => {}
        }
    }

    /// A fresh XEP-0359 stanza id.
    pub(crate) fn fresh_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{}-{n}", self.id_prefix)
    }

    /// Answer `req` with an error (never an error to an error).
    pub(crate) fn reject(&mut self, req: &Element, c: StanzaCondition) {
        self.reject_with(req, StanzaError::new(c));
    }

    /// Errors to presence carry `<x xmlns='…muc'/>` (XEP-0045 §7.2.6-§7.2.10),
    /// which is how clients tell a failed entry from other presence errors.
    pub(crate) fn reject_with(&mut self, req: &Element, err: StanzaError) {
        if let Some(mut reply) = stanza::error_reply(req, &err) {
            if Kind::of(req) == Some(Kind::Presence) {
                reply.push_child(Element::new("x", NS_MUC));
            }
            self.out.push(reply);
        }
    }

    /// Queue the room's durable state for storage (persistent rooms only).
    pub(crate) fn save(&mut self, node: &str) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        if r.state.config.persistent && !r.locked {
            self.storage.push(StorageRequest::SaveMucRoom {
                room: r.jid.clone(),
                state: r.state.to_element(),
            });
        }
    }

    /// IQs to the service domain: disco#info and the public room list.
    fn service_iq(&mut self, e: &Element) {
        if !IqType::of(e).is_some_and(IqType::is_request) {
            return;
        }
        let get = IqType::of(e) == Some(IqType::Get);
        let payload = stanza::iq_payload(e).map(|p| (p.name().to_owned(), p.ns().to_owned()));
        let reply = match payload.as_ref().map(|(n, s)| (n.as_str(), s.as_str())) {
            Some(("query", disco::NS_INFO)) if get => {
                let q = Element::new("query", disco::NS_INFO)
                    .child(
                        Element::new("identity", disco::NS_INFO)
                            .attr("category", "conference")
                            .attr("type", "text")
                            .attr("name", "Chatrooms"),
                    )
                    .child(feature(disco::NS_INFO))
                    .child(feature(disco::NS_ITEMS))
                    .child(feature(NS_MUC))
                    .child(feature("urn:xmpp:ping"));
                stanza::iq_result_with(e, q)
            }
            Some(("query", disco::NS_ITEMS)) if get => {
                let mut q = Element::new("query", disco::NS_ITEMS);
                for r in self
                    .rooms
                    .values()
                    .filter(|r| r.state.config.public && !r.locked)
                {
                    let mut item =
                        Element::new("item", disco::NS_ITEMS).attr("jid", r.jid.to_string());
                    if !r.state.config.name.is_empty() {
                        item.set_attr("name", r.state.config.name.as_str());
                    }
                    q.push_child(item);
                }
                stanza::iq_result_with(e, q)
            }
            Some(("ping", "urn:xmpp:ping")) => stanza::iq_result(e),
            _ => return self.reject(e, StanzaCondition::ServiceUnavailable),
        };
        self.out.push(reply);
    }

    /// IQs to a room or an occupant.
    fn room_iq(&mut self, e: Element, from: Jid, to: Jid) {
        if !IqType::of(&e).is_some_and(IqType::is_request) {
            return;
        }
        let node = to.node().unwrap_or_default().to_owned();
        if !self.rooms.contains_key(&node) {
            return self.reject(&e, StanzaCondition::ItemNotFound);
        }
        if let Some(nick) = to.resource() {
            return self.occupant_iq(&e, &node, nick, &from);
        }
        let get = IqType::of(&e) == Some(IqType::Get);
        let Some(p) = stanza::iq_payload(&e) else {
            return self.reject(&e, StanzaCondition::BadRequest);
        };
        match (p.name(), p.ns()) {
            ("query", disco::NS_INFO) if get => {
                let reply = self.room_info(&node, &e);
                self.out.push(reply);
            }
            ("query", disco::NS_ITEMS) if get => {
                let mut q = Element::new("query", disco::NS_ITEMS);
                if let Some(r) = self.rooms.get(&node) {
                    if r.state.config.public {
                        for nick in r.occupants.keys() {
                            let j = r
                                .jid
                                .with_resource(nick)
                                .map(|j| j.to_string())
                                .unwrap_or_default();
                            q.push_child(Element::new("item", disco::NS_ITEMS).attr("jid", j));
                        }
                    }
                }
                self.out.push(stanza::iq_result_with(&e, q));
            }
            ("query", NS_ADMIN) => self.admin_iq(&e, &node, &from, get),
            ("query", NS_OWNER) => self.owner_iq(&e, &node, &from, get),
            ("query", archive::NS_MAM) if !get => self.mam_query(&e, &node, &from),
            ("ping", "urn:xmpp:ping") => self.out.push(stanza::iq_result(&e)),
            _ => self.reject(&e, StanzaCondition::FeatureNotImplemented),
        }
    }

    /// disco#info of a room (XEP-0045 §6.4).
    fn room_info(&self, node: &str, e: &Element) -> Element {
        let Some(r) = self.rooms.get(node) else {
            return stanza::iq_result(e);
        };
        let c = &r.state.config;
        let pick = |b: bool, yes: &'static str, no: &'static str| if b { yes } else { no };
        let name = if c.name.is_empty() {
            node
        } else {
            c.name.as_str()
        };
        let mut q = Element::new("query", disco::NS_INFO).child(
            Element::new("identity", disco::NS_INFO)
                .attr("category", "conference")
                .attr("type", "text")
                .attr("name", name),
        );
        for f in [
            NS_MUC,
            NS_SID,
            "urn:xmpp:mam:2",
            "jabber:x:conference",
            pick(c.persistent, "muc_persistent", "muc_temporary"),
            pick(c.public, "muc_public", "muc_hidden"),
            pick(c.members_only, "muc_membersonly", "muc_open"),
            pick(c.moderated, "muc_moderated", "muc_unmoderated"),
            pick(
                c.password.is_some(),
                "muc_passwordprotected",
                "muc_unsecured",
            ),
            pick(c.whois_anyone, "muc_nonanonymous", "muc_semianonymous"),
        ] {
            q.push_child(feature(f));
        }
        let info = form::Form::result("http://jabber.org/protocol/muc#roominfo")
            .field("muc#roominfo_description", &[c.description.as_str()])
            .field(
                "muc#roominfo_occupants",
                &[r.occupants.len().to_string().as_str()],
            )
            .field(
                "muc#roominfo_subject",
                &[r.state.subject.as_ref().map_or("", |s| s.0.as_str())],
            );
        q.push_child(info.into_element());
        stanza::iq_result_with(e, q)
    }

    /// The role a user gets on entering, from its affiliation.
    pub(crate) fn initial_role(&self, node: &str, who: &Jid) -> Role {
        let Some(r) = self.rooms.get(node) else {
            return Role::None;
        };
        match r.state.affiliation(who) {
            room::Affiliation::Owner | room::Affiliation::Admin => Role::Moderator,
            room::Affiliation::Member => Role::Participant,
            room::Affiliation::None if r.state.config.moderated => Role::Visitor,
            room::Affiliation::None => Role::Participant,
            room::Affiliation::Outcast => Role::None,
        }
    }

    /// Remember a broadcast groupchat message (history, archive).
    pub(crate) fn log_message(&mut self, node: &str, logged: room::Logged) {
        let keep = self.config.max_archive.max(self.config.max_history);
        let Some(r) = self.rooms.get_mut(node) else {
            return;
        };
        if r.state.config.persistent && r.state.config.archiving {
            self.storage.push(StorageRequest::ArchiveMucMessage {
                room: r.jid.clone(),
                id: logged.id.clone(),
                stamp: logged.stamp,
                message: logged.message.clone(),
                keep,
            });
        }
        r.state.log.push_back(logged);
        while r.state.log.len() > keep {
            r.state.log.pop_front();
        }
    }
}

/// `<feature var='...'/>` (XEP-0030).
fn feature(var: &str) -> Element {
    Element::new("feature", disco::NS_INFO).attr("var", var)
}

/// A `<status code='...'/>` of `muc#user`.
pub(crate) fn status(code: u16) -> Element {
    Element::new("status", NS_USER).attr("code", code.to_string())
}

/// A `<delay/>` stamp (XEP-0203).
pub(crate) fn delay(from: &Jid, unix: u64) -> Element {
    Element::new("delay", NS_DELAY)
        .attr("from", from.to_string())
        .attr("stamp", super::clock::format_datetime(unix))
}

/// Text of the body, if any.
pub(crate) fn body(e: &Element) -> Option<String> {
    e.find_child("body", ns::CLIENT)
        .map(|b| b.text_content().into_owned())
}
