//! Personal eventing (XEP-0163) with the pubsub subset clients use:
//! publish with publish-options (XEP-0223), retract, items retrieval and
//! node deletion on the account's bare JID; notifications to the owner's
//! resources and to contacts subscribed to the owner's presence, filtered
//! by the `+notify` features of their entity capabilities (XEP-0115,
//! [`caps`]); the last item when a contact becomes available. This covers
//! bookmarks (XEP-0402), avatars (XEP-0084) and vCard4 (XEP-0292); a
//! vcard-temp photo is also published as an avatar (XEP-0398).
//!
//! Node configurations live with the loaded account; items stay in
//! storage and are read on demand. Limits: nodes per account, items per
//! node, item size.

pub(crate) mod caps;
mod notify;

use rtc_xmlstream::Element;
use serde::Deserialize;

use super::error::{StanzaCondition, StanzaError};
use super::features::mam::NS_DATA;
use super::jid::Jid;
use super::pending::{AfterWrite, IqReply, Pending};
use super::server::Server;
use super::sm::Origin;
use super::stanza;
use super::storage::{
    AccessModel, PepItem, PepNodeConfig, StorageAnswer, StorageError, StorageRequest,
};
use super::types::SessionId;

/// XEP-0060 namespace.
pub(crate) const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 owner namespace.
pub(crate) const NS_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// XEP-0060 event namespace.
pub(crate) const NS_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// XEP-0060 error namespace.
const NS_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// XEP-0223 publish-options form type.
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// XEP-0084 nodes.
pub(crate) const NS_AVATAR_DATA: &str = "urn:xmpp:avatar:data";
pub(crate) const NS_AVATAR_METADATA: &str = "urn:xmpp:avatar:metadata";
/// XEP-0398 feature.
pub(crate) const NS_VCARD_CONVERSION: &str = "urn:xmpp:pep-vcard-conversion:0";

/// Features advertised on accounts (XEP-0163 §8, XEP-0060 §10).
pub(crate) const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#filtered-notifications",
    "http://jabber.org/protocol/pubsub#last-published",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-items",
    NS_VCARD_CONVERSION,
];

/// `pep:` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PepConfig {
    /// Serve PEP on accounts.
    pub enabled: bool,
    /// Most nodes per account.
    pub max_nodes_per_account: u32,
    /// Most items per node (what `max_items: max` means).
    pub max_items_per_node: u32,
    /// Largest item payload, in bytes of XML.
    pub max_item_bytes: usize,
    /// Entity-capabilities hashes remembered (XEP-0115 cache).
    pub caps_cache_size: usize,
}

impl Default for PepConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_nodes_per_account: 64,
            max_items_per_node: 256,
            max_item_bytes: 128 * 1024,
            caps_cache_size: 4096,
        }
    }
}

fn precondition_not_met() -> StanzaError {
    StanzaError::new(StanzaCondition::Conflict)
        .with_app(Element::new("precondition-not-met", NS_ERRORS))
}

/// The node configuration asked for by `<publish-options/>`, on top of
/// `base`; `Err` for values we cannot honour.
fn apply_options(
    base: &PepNodeConfig,
    options: Option<&Element>,
    cap: u32,
) -> Result<PepNodeConfig, StanzaError> {
    let mut c = base.clone();
    let Some(form) = options.and_then(|o| o.find_child("x", NS_DATA)) else {
        return Ok(c);
    };
    for f in form.find_children("field", NS_DATA) {
        let value = f
            .child_text("value", NS_DATA)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        match f.attribute("var") {
            Some("FORM_TYPE") if value != PUBLISH_OPTIONS => return Err(precondition_not_met()),
            Some("pubsub#persist_items") => c.persist = matches!(value.as_str(), "1" | "true"),
            Some("pubsub#access_model") => {
                c.access = AccessModel::parse(&value).ok_or_else(precondition_not_met)?
            }
            Some("pubsub#max_items") => {
                c.max_items = if value == "max" {
                    cap
                } else {
                    value
                        .parse::<u32>()
                        .map_err(|_| precondition_not_met())?
                        .min(cap)
                };
            }
            _ => {}
        }
    }
    Ok(c)
}

fn default_node(node: &str) -> PepNodeConfig {
    PepNodeConfig {
        node: node.to_owned(),
        access: AccessModel::Presence,
        max_items: 1,
        persist: true,
    }
}

impl Server {
    /// A pubsub request to the user's own PEP service.
    pub(crate) fn pep_own_iq(
        &mut self,
        sid: SessionId,
        e: Element,
        get: bool,
        origin: Option<Origin>,
    ) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        if !self.config.pep.enabled {
            let err = StanzaError::new(StanzaCondition::ServiceUnavailable);
            return self.reply_error_to(sid, &e, err);
        }
        let Some(p) = stanza::iq_payload(&e).cloned() else {
            return;
        };
        let bad = StanzaError::new(StanzaCondition::BadRequest);
        if p.ns() == NS_OWNER {
            return match p
                .find_child("delete", NS_OWNER)
                .and_then(|d| d.attribute("node"))
            {
                Some(node) if !get => {
                    self.pep_delete_node(sid, e.clone(), &user, node.to_owned(), origin)
                }
                _ => self.reply_error_to(
                    sid,
                    &e,
                    StanzaError::new(StanzaCondition::FeatureNotImplemented),
                ),
            };
        }
        if get {
            return match p.find_child("items", NS_PUBSUB) {
                Some(items) => self.pep_items_request(sid, e.clone(), user, items),
                None => self.reply_error_to(sid, &e, bad),
            };
        }
        if let Some(publish) = p.find_child("publish", NS_PUBSUB) {
            let options = p.find_child("publish-options", NS_PUBSUB);
            return self.pep_publish_iq(sid, &e, &user, publish, options, origin);
        }
        if let Some(retract) = p.find_child("retract", NS_PUBSUB) {
            return self.pep_retract_iq(sid, &e, &user, retract, origin);
        }
        self.reply_error_to(
            sid,
            &e,
            StanzaError::new(StanzaCondition::FeatureNotImplemented),
        );
    }

    /// Items of another local user's node, if its access model allows.
    pub(crate) fn pep_other_iq(&mut self, e: Element, owner: Jid) {
        let requester = stanza::from_jid(&e);
        let sid = requester.as_ref().and_then(|f| self.session_by_jid(f));
        let (Some(sid), Some(requester)) = (sid, requester) else {
            return self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable));
        };
        let items = stanza::iq_payload(&e)
            .and_then(|p| p.find_child("items", NS_PUBSUB))
            .cloned();
        let Some(items) = items else {
            return self.reply_error_to(
                sid,
                &e,
                StanzaError::new(StanzaCondition::FeatureNotImplemented),
            );
        };
        let node = items.attribute("node").unwrap_or_default();
        if !self.pep_may_read(&owner, node, &requester.bare()) {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::ItemNotFound));
        }
        self.pep_items_request(sid, e, owner, &items);
    }

    fn pep_node(&self, owner: &Jid, node: &str) -> Option<PepNodeConfig> {
        self.account(owner)?
            .pep_nodes
            .iter()
            .find(|n| n.node == node)
            .cloned()
    }

    /// Whether `reader` may see items of `owner`'s node.
    pub(crate) fn pep_may_read(&self, owner: &Jid, node: &str, reader: &Jid) -> bool {
        if reader == owner {
            return true;
        }
        let Some(config) = self.pep_node(owner, node) else {
            return false;
        };
        match config.access {
            AccessModel::Open => true,
            AccessModel::Whitelist => false,
            AccessModel::Presence => self
                .account(owner)
                .and_then(|a| a.roster.get(reader))
                .is_some_and(|i| i.subscription.has_from()),
        }
    }

    fn pep_items_request(&mut self, sid: SessionId, e: Element, owner: Jid, items: &Element) {
        let Some(node) = items.attribute("node").map(str::to_owned) else {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::BadRequest));
        };
        let Some(config) = self.pep_node(&owner, &node) else {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::ItemNotFound));
        };
        let wanted: Vec<String> = items
            .find_children("item", NS_PUBSUB)
            .filter_map(|i| i.attribute("id").map(str::to_owned))
            .collect();
        let max = items
            .attribute("max_items")
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(config.max_items)
            .min(config.max_items);
        let max = if wanted.is_empty() {
            max
        } else {
            config.max_items
        };
        if !self.request_slot(sid) {
            let err = StanzaError::new(StanzaCondition::ResourceConstraint);
            return self.reply_error_to(sid, &e, err);
        }
        let pending = Pending::PepItems {
            reply: IqReply { sid, iq: e },
            node: node.clone(),
            wanted,
        };
        self.request(
            StorageRequest::PepItems {
                user: owner,
                node,
                max,
            },
            pending,
        );
    }

    /// The storage returned items for an IQ.
    pub(crate) fn pep_items_loaded(
        &mut self,
        reply: IqReply,
        node: String,
        wanted: Vec<String>,
        result: Result<StorageAnswer, StorageError>,
    ) {
        self.request_done(reply.sid);
        let Ok(StorageAnswer::PepItems(found)) = result else {
            let err = StanzaError::new(StanzaCondition::InternalServerError);
            return self.reply_error_to(reply.sid, &reply.iq, err);
        };
        let mut items = Element::new("items", NS_PUBSUB).attr("node", node);
        for i in found
            .into_iter()
            .filter(|i| wanted.is_empty() || wanted.contains(&i.id))
        {
            items.push_child(
                Element::new("item", NS_PUBSUB)
                    .attr("id", i.id)
                    .child(i.payload),
            );
        }
        let payload = Element::new("pubsub", NS_PUBSUB).child(items);
        self.deliver(reply.sid, stanza::iq_result_with(&reply.iq, payload));
    }

    fn pep_publish_iq(
        &mut self,
        sid: SessionId,
        e: &Element,
        user: &Jid,
        publish: &Element,
        options: Option<&Element>,
        origin: Option<Origin>,
    ) {
        let bad = || StanzaError::new(StanzaCondition::BadRequest);
        let Some(node) = publish
            .attribute("node")
            .filter(|n| !n.is_empty() && n.len() <= 255)
        else {
            return self.reply_error_to(sid, e, bad());
        };
        let item = publish.find_child("item", NS_PUBSUB);
        let Some(payload) = item.and_then(|i| i.children().next()).cloned() else {
            return self.reply_error_to(sid, e, bad());
        };
        let id = match item
            .and_then(|i| i.attribute("id"))
            .filter(|i| !i.is_empty())
        {
            Some(id) if id.len() <= 255 => id.to_owned(),
            Some(_) => return self.reply_error_to(sid, e, bad()),
            None => self.random_token(16),
        };
        let size = payload.to_bytes().map(|b| b.len()).unwrap_or(usize::MAX);
        if size > self.config.pep.max_item_bytes {
            let err = StanzaError::new(StanzaCondition::NotAcceptable)
                .with_app(Element::new("payload-too-big", NS_ERRORS));
            return self.reply_error_to(sid, e, err);
        }
        let cap = self.config.pep.max_items_per_node;
        let existing = self.pep_node(user, node);
        let config = match &existing {
            Some(current) => match apply_options(current, options, cap) {
                Ok(asked) if &asked == current => asked,
                _ => return self.reply_error_to(sid, e, precondition_not_met()),
            },
            None => match apply_options(&default_node(node), options, cap) {
                Ok(c) => c,
                Err(err) => return self.reply_error_to(sid, e, err),
            },
        };
        let result = Element::new("pubsub", NS_PUBSUB).child(
            Element::new("publish", NS_PUBSUB)
                .attr("node", node)
                .child(Element::new("item", NS_PUBSUB).attr("id", id.as_str())),
        );
        let reply = AfterWrite::Reply(IqReply { sid, iq: e.clone() }, Some(result));
        if let Err(err) =
            self.pep_publish(user, config, existing.is_none(), id, payload, reply, origin)
        {
            self.reply_error_to(sid, e, err);
        }
    }

    /// Store (if persistent) and notify; `after` runs once stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pep_publish(
        &mut self,
        user: &Jid,
        config: PepNodeConfig,
        create: bool,
        id: String,
        payload: Element,
        after: AfterWrite,
        origin: Option<Origin>,
    ) -> Result<(), StanzaError> {
        let max_nodes = self.config.pep.max_nodes_per_account;
        let Some(account) = self.account_mut(user) else {
            return Err(StanzaError::new(StanzaCondition::InternalServerError));
        };
        if create {
            if account.pep_nodes.len() >= max_nodes as usize {
                return Err(StanzaError::new(StanzaCondition::ResourceConstraint));
            }
            account.pep_nodes.push(config.clone());
        } else if let Some(n) = account.pep_nodes.iter_mut().find(|n| n.node == config.node) {
            *n = config.clone();
        }
        self.pep_notify(user, &config, Some((&id, &payload)), None);
        let node = config.node.clone();
        let (persist, max_items) = (config.persist, config.max_items);
        let after = if create || !persist {
            let (then, rest) = if persist {
                (AfterWrite::Nothing, Some(after))
            } else {
                (after, None)
            };
            let request = StorageRequest::PepConfigure {
                user: user.clone(),
                config: Box::new(config),
                max_nodes,
            };
            self.write(user, request, then, origin);
            match rest {
                Some(a) => a,
                None => return Ok(()),
            }
        } else {
            after
        };
        let request = StorageRequest::PepPublish {
            user: user.clone(),
            node,
            item: Box::new(PepItem { id, payload }),
            max_items,
        };
        self.write(user, request, after, origin);
        Ok(())
    }

    fn pep_retract_iq(
        &mut self,
        sid: SessionId,
        e: &Element,
        user: &Jid,
        retract: &Element,
        origin: Option<Origin>,
    ) {
        let node = retract.attribute("node").unwrap_or_default().to_owned();
        let id = retract
            .find_child("item", NS_PUBSUB)
            .and_then(|i| i.attribute("id"))
            .map(str::to_owned);
        let (Some(config), Some(id)) = (self.pep_node(user, &node), id) else {
            return self.reply_error_to(sid, e, StanzaError::new(StanzaCondition::ItemNotFound));
        };
        if matches!(retract.attribute("notify"), Some("1" | "true")) {
            self.pep_notify(user, &config, None, Some(&id));
        }
        let request = StorageRequest::PepRetract {
            user: user.clone(),
            node,
            id,
        };
        self.write(
            user,
            request,
            AfterWrite::Reply(IqReply { sid, iq: e.clone() }, None),
            origin,
        );
    }

    fn pep_delete_node(
        &mut self,
        sid: SessionId,
        e: Element,
        user: &Jid,
        node: String,
        origin: Option<Origin>,
    ) {
        let Some(account) = self.account_mut(user) else {
            return;
        };
        let before = account.pep_nodes.len();
        account.pep_nodes.retain(|n| n.node != node);
        if account.pep_nodes.len() == before {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::ItemNotFound));
        }
        let request = StorageRequest::PepDeleteNode {
            user: user.clone(),
            node,
        };
        self.write(
            user,
            request,
            AfterWrite::Reply(IqReply { sid, iq: e }, None),
            origin,
        );
    }

    /// XEP-0398: a vcard-temp photo becomes the XEP-0084 avatar.
    pub(crate) fn pep_avatar_from_vcard(&mut self, user: &Jid, vcard: &Element) {
        if !self.config.pep.enabled {
            return;
        }
        let Some(photo) = vcard.find_child("PHOTO", super::features::vcard::NS) else {
            return;
        };
        let Some(hash) = super::features::vcard::photo_hash(vcard) else {
            return;
        };
        let binval: String = photo
            .child_text("BINVAL", super::features::vcard::NS)
            .map(|b| b.chars().filter(|c| !c.is_ascii_whitespace()).collect())
            .unwrap_or_default();
        let kind = photo
            .child_text("TYPE", super::features::vcard::NS)
            .map(|t| t.into_owned())
            .unwrap_or_else(|| "image/png".to_owned());
        let bytes = binval.len() / 4 * 3;
        let open = |node: &str| PepNodeConfig {
            node: node.to_owned(),
            access: AccessModel::Open,
            max_items: 1,
            persist: true,
        };
        let data = Element::new("data", NS_AVATAR_DATA).text(&binval);
        let meta = Element::new("metadata", NS_AVATAR_METADATA).child(
            Element::new("info", NS_AVATAR_METADATA)
                .attr("bytes", bytes.to_string())
                .attr("id", hash.as_str())
                .attr("type", kind),
        );
        for (node, payload) in [(NS_AVATAR_DATA, data), (NS_AVATAR_METADATA, meta)] {
            let create = self.pep_node(user, node).is_none();
            let _ = self.pep_publish(
                user,
                open(node),
                create,
                hash.clone(),
                payload,
                AfterWrite::Nothing,
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(fields: &[(&str, &str)]) -> Element {
        let mut x = Element::new("x", NS_DATA).attr("type", "submit");
        x.push_child(
            Element::new("field", NS_DATA)
                .attr("var", "FORM_TYPE")
                .child(Element::new("value", NS_DATA).text(PUBLISH_OPTIONS)),
        );
        for (var, value) in fields {
            x.push_child(
                Element::new("field", NS_DATA)
                    .attr("var", *var)
                    .child(Element::new("value", NS_DATA).text(value)),
            );
        }
        Element::new("publish-options", NS_PUBSUB).child(x)
    }

    #[test]
    fn bookmark_publish_options_give_a_private_node_of_max_items() {
        let o = options(&[
            ("pubsub#persist_items", "true"),
            ("pubsub#access_model", "whitelist"),
            ("pubsub#max_items", "max"),
            ("pubsub#send_last_published_item", "never"),
        ]);
        let c = apply_options(&default_node("urn:xmpp:bookmarks:1"), Some(&o), 256);
        assert_eq!(
            c.ok(),
            Some(PepNodeConfig {
                node: "urn:xmpp:bookmarks:1".into(),
                access: AccessModel::Whitelist,
                max_items: 256,
                persist: true
            })
        );
        let capped = apply_options(
            &default_node("n"),
            Some(&options(&[("pubsub#max_items", "100000")])),
            256,
        );
        assert_eq!(capped.map(|c| c.max_items).ok(), Some(256));
        assert!(apply_options(
            &default_node("n"),
            Some(&options(&[("pubsub#access_model", "authorize")])),
            9
        )
        .is_err());
    }
}
