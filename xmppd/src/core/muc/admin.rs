//! Administration (XEP-0045 §8, §9, §10): roles (kick, voice, moderator),
//! affiliations (ban, member, admin, owner), the configuration form
//! (`muc#roomconfig`), instant rooms and destruction.

use rtc_xmlstream::{ns, Element};

use super::form::{Form, Submitted, NS_DATA};
use super::occupants::Exit;
use super::room::{Affiliation, Role};
use super::{MucService, NS_ADMIN, NS_OWNER, NS_USER};
use crate::core::error::StanzaCondition;
use crate::core::jid::Jid;
use crate::core::stanza;

/// `FORM_TYPE` of the configuration form.
const ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
/// Items changed by one admin request at most.
const MAX_ITEMS: usize = 100;

/// One requested change.
enum Change {
    Role { nick: String, role: Role },
    Affiliation { jid: Jid, affiliation: Affiliation },
}

impl MucService {
    /// `muc#admin` (XEP-0045 §8, §9).
    pub(super) fn admin_iq(&mut self, e: &Element, node: &str, from: &Jid, get: bool) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let mine = r.state.affiliation(from);
        let my_role = self
            .nick_of(node, from)
            .and_then(|n| r.occupants.get(&n).map(|o| o.role))
            .unwrap_or(Role::None);
        let Some(query) = stanza::iq_payload(e) else {
            return self.reject(e, StanzaCondition::BadRequest);
        };
        if get {
            // §9.5, §10.5: lists by affiliation (admins and owners only).
            let wanted = query
                .find_child("item", NS_ADMIN)
                .and_then(|i| i.attribute("affiliation"))
                .and_then(Affiliation::parse);
            let Some(wanted) = wanted else {
                return self.reject(e, StanzaCondition::BadRequest);
            };
            if !mine.is_admin() {
                return self.reject(e, StanzaCondition::Forbidden);
            }
            let mut q = Element::new("query", NS_ADMIN);
            for (jid, a) in r.state.affiliations.iter().filter(|(_, a)| **a == wanted) {
                q.push_child(
                    Element::new("item", NS_ADMIN)
                        .attr("affiliation", a.as_str())
                        .attr("jid", jid.to_string()),
                );
            }
            return self.out.push(stanza::iq_result_with(e, q));
        }
        let mut changes = Vec::new();
        for item in query.find_children("item", NS_ADMIN).take(MAX_ITEMS) {
            let role = item.attribute("role").and_then(Role::parse);
            let aff = item.attribute("affiliation").and_then(Affiliation::parse);
            let change = match (role, aff, item.attribute("nick"), item.attribute("jid")) {
                (Some(role), None, Some(nick), _) => Change::Role {
                    nick: nick.to_owned(),
                    role,
                },
                (None, Some(affiliation), _, Some(jid)) => match Jid::parse(jid) {
                    Ok(j) => Change::Affiliation {
                        jid: j.bare(),
                        affiliation,
                    },
                    Err(_) => return self.reject(e, StanzaCondition::JidMalformed),
                },
                _ => return self.reject(e, StanzaCondition::BadRequest),
            };
            // Permissions (XEP-0045 §8.2-§8.6, §9, §10.3-§10.8).
            let allowed = match &change {
                Change::Role { nick, role } => {
                    let Some(target) = r.occupants.get(nick) else {
                        return self.reject(e, StanzaCondition::ItemNotFound);
                    };
                    let theirs = r.state.affiliation(&target.real);
                    let outranks = theirs > mine
                        || (mine == Affiliation::Owner && theirs != Affiliation::Owner);
                    match role {
                        Role::Moderator => mine.is_admin(),
                        Role::None | Role::Visitor => {
                            my_role == Role::Moderator && (outranks || !theirs.is_admin())
                        }
                        Role::Participant => my_role == Role::Moderator,
                    }
                }
                Change::Affiliation { jid, affiliation } => {
                    let theirs = r.state.affiliation(jid);
                    match mine {
                        Affiliation::Owner => {
                            // The last owner cannot step down (§10.7).
                            !(theirs == Affiliation::Owner
                                && *affiliation != Affiliation::Owner
                                && r.state.owners() <= 1)
                        }
                        Affiliation::Admin => {
                            !theirs.is_admin()
                                && matches!(
                                    affiliation,
                                    Affiliation::Member | Affiliation::None | Affiliation::Outcast
                                )
                        }
                        _ => false,
                    }
                }
            };
            if !allowed {
                let c =
                    if matches!(change, Change::Affiliation { .. }) && mine == Affiliation::Owner {
                        StanzaCondition::Conflict
                    } else {
                        StanzaCondition::NotAllowed
                    };
                return self.reject(e, c);
            }
            changes.push(change);
        }
        for change in changes {
            match change {
                Change::Role {
                    nick,
                    role: Role::None,
                } => self.exit(node, &nick, Exit::Kicked, None),
                Change::Role { nick, role } => {
                    if let Some(o) = self
                        .rooms
                        .get_mut(node)
                        .and_then(|r| r.occupants.get_mut(&nick))
                    {
                        o.role = role;
                    }
                    self.broadcast_occupant(node, &nick, &[]);
                }
                Change::Affiliation { jid, affiliation } => {
                    self.set_affiliation(node, jid, affiliation)
                }
            }
        }
        self.out.push(stanza::iq_result(e));
    }

    /// Apply an affiliation change and its effect on present occupants.
    fn set_affiliation(&mut self, node: &str, jid: Jid, affiliation: Affiliation) {
        let Some(r) = self.rooms.get_mut(node) else {
            return;
        };
        r.state.set_affiliation(jid.clone(), affiliation);
        let members_only = r.state.config.members_only;
        let present: Vec<String> = r
            .occupants
            .iter()
            .filter(|(_, o)| o.real.bare() == jid)
            .map(|(n, _)| n.clone())
            .collect();
        self.save(node);
        for nick in present {
            if affiliation == Affiliation::Outcast {
                self.exit(node, &nick, Exit::Banned, None);
            } else if members_only && affiliation == Affiliation::None {
                self.exit(node, &nick, Exit::NotMember, None);
            } else {
                let role = self.initial_role(node, &jid);
                if let Some(o) = self
                    .rooms
                    .get_mut(node)
                    .and_then(|r| r.occupants.get_mut(&nick))
                {
                    o.role = role;
                }
                self.broadcast_occupant(node, &nick, &[]);
            }
        }
    }

    /// `muc#owner` (XEP-0045 §10): the configuration form, its submission
    /// (which also unlocks a new room) and destruction.
    pub(super) fn owner_iq(&mut self, e: &Element, node: &str, from: &Jid, get: bool) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        if r.state.affiliation(from) != Affiliation::Owner {
            return self.reject(e, StanzaCondition::Forbidden);
        }
        let Some(query) = stanza::iq_payload(e) else {
            return self.reject(e, StanzaCondition::BadRequest);
        };
        if get {
            let q = Element::new("query", NS_OWNER).child(self.config_form(node));
            return self.out.push(stanza::iq_result_with(e, q));
        }
        if let Some(d) = query.find_child("destroy", NS_OWNER) {
            let reason = d.child_text("reason", NS_OWNER).map(|r| r.into_owned());
            self.destroy(node, reason);
            return self.out.push(stanza::iq_result(e));
        }
        let Some(x) = query.find_child("x", NS_DATA) else {
            return self.reject(e, StanzaCondition::BadRequest);
        };
        let form = Submitted::parse(x);
        if form.kind == "cancel" {
            // §10.1.3: cancelling the initial configuration destroys the room.
            if r.locked {
                self.destroy(node, None);
            }
            return self.out.push(stanza::iq_result(e));
        }
        if form.kind != "submit" {
            return self.reject(e, StanzaCondition::BadRequest);
        }
        let max = self.config.max_occupants;
        let Some(r) = self.rooms.get_mut(node) else {
            return;
        };
        let c = &mut r.state.config;
        let was_members_only = c.members_only;
        let set = |v: Option<bool>, slot: &mut bool| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        if let Some(n) = form.text("muc#roomconfig_roomname") {
            c.name = n.chars().take(256).collect();
        }
        if let Some(d) = form.text("muc#roomconfig_roomdesc") {
            d.chars()
                .take(1024)
                .collect::<String>()
                .clone_into(&mut c.description);
        }
        set(
            form.flag("muc#roomconfig_persistentroom"),
            &mut c.persistent,
        );
        set(form.flag("muc#roomconfig_publicroom"), &mut c.public);
        set(form.flag("muc#roomconfig_membersonly"), &mut c.members_only);
        set(form.flag("muc#roomconfig_moderatedroom"), &mut c.moderated);
        set(
            form.flag("muc#roomconfig_changesubject"),
            &mut c.change_subject,
        );
        set(
            form.flag("muc#roomconfig_allowinvites"),
            &mut c.allow_invites,
        );
        set(
            form.flag("muc#roomconfig_enablearchiving"),
            &mut c.archiving,
        );
        if let Some(w) = form.text("muc#roomconfig_whois") {
            c.whois_anyone = w == "anyone";
        }
        if let Some(m) = form
            .text("muc#roomconfig_maxusers")
            .and_then(|m| m.parse::<usize>().ok())
        {
            c.max_occupants = m.clamp(1, max);
        }
        let protected = form.flag("muc#roomconfig_passwordprotectedroom");
        let secret = form.text("muc#roomconfig_roomsecret").map(str::to_owned);
        match (protected, secret) {
            (Some(false), _) => c.password = None,
            (_, Some(s)) if !s.is_empty() => c.password = Some(s.chars().take(256).collect()),
            (Some(true), _) if c.password.is_none() => {
                return self.reject(e, StanzaCondition::NotAcceptable)
            }
            _ => {}
        }
        let now_members_only = c.members_only;
        let was_locked = r.locked;
        r.locked = false;
        let persistent = c.persistent;
        let jid = r.jid.clone();
        let empty = r.occupants.is_empty();
        if persistent {
            self.save(node);
        } else {
            self.storage
                .push(crate::core::storage::StorageRequest::DeleteMucRoom { room: jid });
        }
        if now_members_only && !was_members_only {
            // §9.4 / §10.2: non-members leave a room that became members-only.
            let outsiders: Vec<String> = self
                .rooms
                .get(node)
                .map(|r| {
                    r.occupants
                        .iter()
                        .filter(|(_, o)| r.state.affiliation(&o.real) > Affiliation::Member)
                        .map(|(n, _)| n.clone())
                        .collect()
                })
                .unwrap_or_default();
            for n in outsiders {
                self.exit(node, &n, Exit::NotMember, None);
            }
        }
        let _ = was_locked;
        self.out.push(stanza::iq_result(e));
        if empty && !persistent {
            self.rooms.remove(node);
        }
    }

    /// The current configuration as a `form` (XEP-0045 §10.2).
    fn config_form(&self, node: &str) -> Element {
        let Some(r) = self.rooms.get(node) else {
            return Element::new("x", NS_DATA);
        };
        let c = &r.state.config;
        let max = c.max_occupants.to_string();
        Form::to_fill(ROOMCONFIG, "Room configuration")
            .typed(
                "muc#roomconfig_roomname",
                Some("text-single"),
                "Name",
                &[c.name.as_str()],
            )
            .typed(
                "muc#roomconfig_roomdesc",
                Some("text-single"),
                "Description",
                &[c.description.as_str()],
            )
            .boolean("muc#roomconfig_persistentroom", "Persistent", c.persistent)
            .boolean("muc#roomconfig_publicroom", "Public", c.public)
            .boolean("muc#roomconfig_membersonly", "Members only", c.members_only)
            .boolean("muc#roomconfig_moderatedroom", "Moderated", c.moderated)
            .boolean(
                "muc#roomconfig_changesubject",
                "Occupants may change the subject",
                c.change_subject,
            )
            .boolean(
                "muc#roomconfig_allowinvites",
                "Occupants may invite",
                c.allow_invites,
            )
            .boolean(
                "muc#roomconfig_passwordprotectedroom",
                "Password protected",
                c.password.is_some(),
            )
            .typed(
                "muc#roomconfig_roomsecret",
                Some("text-private"),
                "Password",
                &[c.password.as_deref().unwrap_or("")],
            )
            .typed(
                "muc#roomconfig_whois",
                Some("list-single"),
                "Who may see real JIDs",
                &[if c.whois_anyone {
                    "anyone"
                } else {
                    "moderators"
                }],
            )
            .typed(
                "muc#roomconfig_maxusers",
                Some("text-single"),
                "Maximum occupants",
                &[max.as_str()],
            )
            .boolean(
                "muc#roomconfig_enablearchiving",
                "Archive messages",
                c.archiving,
            )
            .into_element()
    }

    /// XEP-0045 §10.9: everyone leaves with `<destroy/>`; the room is gone.
    fn destroy(&mut self, node: &str, reason: Option<String>) {
        let Some(r) = self.rooms.remove(node) else {
            return;
        };
        for (nick, o) in &r.occupants {
            let from = r
                .jid
                .with_resource(nick)
                .map(|j| j.to_string())
                .unwrap_or_default();
            let mut destroy = Element::new("destroy", NS_USER);
            if let Some(reason) = &reason {
                destroy.push_child(Element::new("reason", NS_USER).text(reason));
            }
            let x = Element::new("x", NS_USER)
                .child(
                    Element::new("item", NS_USER)
                        .attr("affiliation", "none")
                        .attr("role", "none"),
                )
                .child(destroy);
            self.out.push(
                Element::new("presence", ns::CLIENT)
                    .attr("from", from)
                    .attr("to", o.real.to_string())
                    .attr("type", "unavailable")
                    .child(x),
            );
        }
        self.storage
            .push(crate::core::storage::StorageRequest::DeleteMucRoom { room: r.jid });
    }
}
