//! Roster management (RFC 6121 §2): get with versioning (§2.6), set and
//! remove with pushes to every session that asked for the roster, and the
//! saves that subscription handling makes.

use rtc_xmlstream::{ns, Element};

use super::error::{StanzaCondition, StanzaError};
use super::jid::{Jid, MAX_PART_BYTES};
use super::pending::{AfterWrite, IqReply};
use super::server::Server;
use super::sm::Origin;
use super::stanza::{self, PresenceType};
use super::storage::{RosterItem, StorageRequest};
use super::types::SessionId;

/// RFC 6121 roster namespace.
pub(crate) const NS_ROSTER: &str = "jabber:iq:roster";

/// Most groups one roster item may be in.
const MAX_GROUPS: usize = 64;

/// `<item/>` as the client sees it (RFC 6121 §2.1.2).
pub(crate) fn item_element(item: &RosterItem) -> Element {
    let mut e = Element::new("item", NS_ROSTER)
        .attr("jid", item.jid.to_string())
        .attr("subscription", item.subscription.as_str());
    if let Some(name) = &item.name {
        e.set_attr("name", name.clone());
    }
    if item.ask {
        e.set_attr("ask", "subscribe");
    }
    if item.approved {
        e.set_attr("approved", "true");
    }
    for g in &item.groups {
        e.push_child(Element::new("group", NS_ROSTER).text(g));
    }
    e
}

/// Whether an item records nothing worth keeping.
fn is_empty(item: &RosterItem) -> bool {
    !item.listed
        && item.subscription == super::storage::Subscription::None
        && !item.ask
        && !item.pending_in
        && !item.approved
}

impl Server {
    /// `<query xmlns='jabber:iq:roster'/>` from the user.
    pub(crate) fn roster_iq(&mut self, sid: SessionId, e: Element, get: bool, origin: Option<Origin>) {
        if get {
            self.roster_get(sid, e);
        } else {
            self.roster_set(sid, e, origin);
        }
    }

    /// RFC 6121 §2.2, with §2.6.3 versioning: an empty result when the
    /// client's version is current.
    fn roster_get(&mut self, sid: SessionId, e: Element) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.roster_requested = true;
        let user = s.jid.bare();
        let Some(account) = self.account(&user) else {
            return;
        };
        let version = account.version.to_string();
        let client_ver = stanza::iq_payload(&e).and_then(|q| q.attribute("ver"));
        if client_ver == Some(version.as_str()) {
            return self.deliver(sid, stanza::iq_result(&e));
        }
        let mut query = Element::new("query", NS_ROSTER).attr("ver", version);
        for item in account.roster.values().filter(|i| i.listed) {
            query.push_child(item_element(item));
        }
        self.deliver(sid, stanza::iq_result_with(&e, query));
    }

    /// RFC 6121 §2.3 (add, update) and §2.5 (remove).
    fn roster_set(&mut self, sid: SessionId, e: Element, origin: Option<Origin>) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let parsed = stanza::iq_payload(&e).ok_or(StanzaCondition::BadRequest).and_then(parse_set);
        let (contact, remove, name, groups) = match parsed {
            Ok(p) => p,
            Err(c) => return self.reply_error_to(sid, &e, StanzaError::new(c)),
        };
        let max = self.config.limits.max_roster_items;
        let Some(account) = self.account(&user) else {
            return;
        };
        let existing = account.roster.get(&contact).filter(|i| i.listed).cloned();
        let listed = account.roster.values().filter(|i| i.listed).count();
        let reply = AfterWrite::Reply(IqReply { sid, iq: e.clone() }, None);
        if remove {
            let Some(item) = existing else {
                let err = StanzaError::new(StanzaCondition::ItemNotFound);
                return self.reply_error_to(sid, &e, err);
            };
            return self.roster_remove_item(&user, item, reply, origin);
        }
        if existing.is_none() && listed >= max {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::NotAllowed));
        }
        let mut item = self
            .account(&user)
            .and_then(|a| a.roster.get(&contact).cloned())
            .unwrap_or_else(|| RosterItem::new(contact));
        item.listed = true;
        item.name = name;
        item.groups = groups;
        self.roster_save(&user, item, reply, origin);
    }

    /// §2.5.2: cancel subscriptions both ways, then delete the item.
    fn roster_remove_item(&mut self, user: &Jid, item: RosterItem, reply: AfterWrite, origin: Option<Origin>) {
        let contact = item.jid.clone();
        if item.subscription.has_to() || item.ask {
            let p = stanza::presence(PresenceType::Unsubscribe, user, &contact);
            self.route(p, contact.clone(), None);
        }
        if item.subscription.has_from() || item.pending_in {
            if item.subscription.has_from() {
                self.unavailable_from_sessions(user, &contact);
            }
            let p = stanza::presence(PresenceType::Unsubscribed, user, &contact);
            self.route(p, contact.clone(), None);
        }
        let Some(account) = self.account_mut(user) else {
            return;
        };
        account.roster.remove(&contact);
        account.version += 1;
        let version = account.version;
        let removed = Element::new("item", NS_ROSTER)
            .attr("jid", contact.to_string())
            .attr("subscription", "remove");
        let request = StorageRequest::RemoveRosterItem {
            user: user.clone(),
            contact,
            version,
        };
        self.write(user, request, reply, origin);
        self.roster_push(user, removed, version);
    }

    /// Store a changed item (or drop it when it records nothing), bump the
    /// version and push it if the user can see it.
    pub(crate) fn roster_save(&mut self, user: &Jid, item: RosterItem, after: AfterWrite, origin: Option<Origin>) {
        let Some(account) = self.account_mut(user) else {
            return;
        };
        account.version += 1;
        let version = account.version;
        let contact = item.jid.clone();
        let push = item.listed.then(|| item_element(&item));
        let request = if is_empty(&item) {
            account.roster.remove(&contact);
            StorageRequest::RemoveRosterItem {
                user: user.clone(),
                contact,
                version,
            }
        } else {
            account.roster.insert(contact, item.clone());
            StorageRequest::SaveRosterItem {
                user: user.clone(),
                item,
                version,
            }
        };
        self.write(user, request, after, origin);
        if let Some(p) = push {
            self.roster_push(user, p, version);
        }
    }

    /// RFC 6121 §2.1.6: a push to each session that requested the roster.
    fn roster_push(&mut self, user: &Jid, item: Element, version: u64) {
        for sid in self.sessions_of(user) {
            let Some(s) = self.sessions.get(&sid).filter(|s| s.roster_requested) else {
                continue;
            };
            let to = s.jid.to_string();
            let id = format!("push-{}", self.fresh_id());
            let push = Element::new("iq", ns::CLIENT)
                .attr("type", "set")
                .attr("id", id)
                .attr("to", to)
                .child(
                    Element::new("query", NS_ROSTER)
                        .attr("ver", version.to_string())
                        .child(item.clone()),
                );
            self.deliver(sid, push);
        }
    }
}

/// The contact, whether it is a removal, the name and the groups of a
/// roster set (RFC 6121 §2.3.3, §2.1.2).
#[allow(clippy::type_complexity)]
fn parse_set(query: &Element) -> Result<(Jid, bool, Option<String>, Vec<String>), StanzaCondition> {
    let mut items = query.find_children("item", NS_ROSTER);
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(StanzaCondition::BadRequest);
    };
    let jid = item
        .attribute("jid")
        .ok_or(StanzaCondition::BadRequest)
        .and_then(|j| Jid::parse(j).map_err(|_| StanzaCondition::JidMalformed))?;
    if !jid.is_bare() {
        return Err(StanzaCondition::BadRequest);
    }
    let remove = item.attribute("subscription") == Some("remove");
    let name = item.attribute("name").filter(|n| !n.is_empty()).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.len() > MAX_PART_BYTES) {
        return Err(StanzaCondition::NotAcceptable);
    }
    let mut groups: Vec<String> = Vec::new();
    for g in item.find_children("group", NS_ROSTER) {
        let g = g.text_content().into_owned();
        if g.is_empty() || g.len() > MAX_PART_BYTES {
            return Err(StanzaCondition::NotAcceptable);
        }
        if groups.contains(&g) {
            return Err(StanzaCondition::BadRequest);
        }
        if groups.len() >= MAX_GROUPS {
            return Err(StanzaCondition::NotAcceptable);
        }
        groups.push(g);
    }
    Ok((jid, remove, name, groups))
}
