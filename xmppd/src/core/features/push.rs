//! Push notifications (XEP-0357, `urn:xmpp:push:0`): a client registers an
//! app server and node; registrations are stored with the account, so they
//! survive restarts. When a message is stored offline, or arrives for a
//! session that is inactive (XEP-0352) or detached awaiting resumption
//! (XEP-0198), the server publishes a summary notification to each app
//! server through the normal router (a local or a remote JID).

use rtc_xmlstream::{ns, Element};
use serde::Deserialize;

use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::jid::Jid;
use crate::core::pending::{AfterWrite, IqReply};
use crate::core::server::Server;
use crate::core::sm::Origin;
use crate::core::stanza;
use crate::core::storage::{PushRegistration, StorageRequest};
use crate::core::types::SessionId;

use super::mam::NS_DATA;

/// XEP-0357 namespace.
pub(crate) const NS: &str = "urn:xmpp:push:0";
/// XEP-0060 namespace.
const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0357 §7 summary form type.
const SUMMARY: &str = "urn:xmpp:push:summary";
/// Longest node name accepted.
const MAX_NODE_LEN: usize = 1023;

/// `push:` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Accept registrations and send notifications.
    pub enabled: bool,
    /// Most app-server registrations per account (one per device).
    pub max_registrations_per_account: u32,
    /// Put the message body in notifications (`last-message-body`); off
    /// by default because app servers are third parties.
    pub include_body: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_registrations_per_account: 5,
            include_body: false,
        }
    }
}

fn field(var: &str, value: &str) -> Element {
    Element::new("field", NS_DATA)
        .attr("var", var)
        .child(Element::new("value", NS_DATA).text(value))
}

/// The notification IQ (XEP-0357 §7).
fn notification(
    user: &Jid,
    reg: &PushRegistration,
    id: String,
    count: u32,
    sender: Option<&str>,
    body: Option<&str>,
) -> Element {
    let mut form = Element::new("x", NS_DATA)
        .attr("type", "submit")
        .child(field("FORM_TYPE", SUMMARY))
        .child(field("message-count", &count.to_string()));
    if let Some(s) = sender {
        form.push_child(field("last-message-sender", s));
    }
    if let Some(b) = body {
        form.push_child(field("last-message-body", b));
    }
    let publish = Element::new("publish", NS_PUBSUB)
        .attr("node", reg.node.as_str())
        .child(Element::new("item", NS_PUBSUB).child(Element::new("notification", NS).child(form)));
    let mut pubsub = Element::new("pubsub", NS_PUBSUB).child(publish);
    if let Some(o) = &reg.options {
        pubsub.push_child(Element::new("publish-options", NS_PUBSUB).child(o.clone()));
    }
    Element::new("iq", ns::CLIENT)
        .attr("type", "set")
        .attr("from", user.to_string())
        .attr("to", reg.service.to_string())
        .attr("id", id)
        .child(pubsub)
}

impl Server {
    /// `<enable/>` or `<disable/>` (XEP-0357 §5, §6).
    pub(crate) fn push_iq(&mut self, sid: SessionId, e: Element, origin: Option<Origin>) {
        let bad = StanzaError::new(StanzaCondition::BadRequest);
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        if !self.config.push.enabled {
            let err = StanzaError::new(StanzaCondition::ServiceUnavailable);
            return self.reply_error_to(sid, &e, err);
        }
        let Some(p) = stanza::iq_payload(&e) else {
            return;
        };
        let Some(service) = p.attribute("jid").and_then(|j| Jid::parse(j).ok()) else {
            return self.reply_error_to(sid, &e, bad);
        };
        let node = p
            .attribute("node")
            .filter(|n| !n.is_empty() && n.len() <= MAX_NODE_LEN)
            .map(str::to_owned);
        let max = self.config.push.max_registrations_per_account;
        let request = if p.name() == "enable" {
            let Some(node) = node else {
                return self.reply_error_to(sid, &e, bad);
            };
            let registration = PushRegistration {
                service,
                node,
                options: p.find_child("x", NS_DATA).cloned(),
            };
            let Some(account) = self.account_mut(&user) else {
                return;
            };
            let known = account
                .push
                .iter()
                .position(|r| r.service == registration.service && r.node == registration.node);
            match known {
                Some(i) => {
                    if let Some(r) = account.push.get_mut(i) {
                        *r = registration.clone();
                    }
                }
                None if account.push.len() >= max as usize => {
                    let err = StanzaError::new(StanzaCondition::ResourceConstraint);
                    return self.reply_error_to(sid, &e, err);
                }
                None => account.push.push(registration.clone()),
            }
            StorageRequest::SavePush {
                user: user.clone(),
                registration: Box::new(registration),
                max,
            }
        } else {
            if let Some(account) = self.account_mut(&user) {
                account.push.retain(|r| {
                    r.service != service || node.as_ref().is_some_and(|n| &r.node != n)
                });
            }
            StorageRequest::RemovePush {
                user: user.clone(),
                service,
                node,
            }
        };
        self.write(
            &user,
            request,
            AfterWrite::Reply(IqReply { sid, iq: e }, None),
            origin,
        );
    }

    /// Tell the account's app servers about a message the user may not see
    /// (stored offline, or for an inactive or detached session).
    pub(crate) fn push_notify(&mut self, user: &Jid, message: &Element) {
        if !self.config.push.enabled {
            return;
        }
        if message.find_child("body", ns::CLIENT).is_none() {
            return;
        }
        let include_body = self.config.push.include_body;
        let Some(account) = self.account(user) else {
            return;
        };
        if account.push.is_empty() {
            return;
        }
        let regs = account.push.clone();
        let count = account.offline_count.max(1);
        let sender = message.attribute("from").map(str::to_owned);
        let body = message
            .child_text("body", ns::CLIENT)
            .filter(|_| include_body)
            .map(|b| b.into_owned());
        for reg in regs {
            let id = format!("push-{}", self.random_token(10));
            let iq = notification(user, &reg, id, count, sender.as_deref(), body.as_deref());
            self.route(iq, reg.service.clone(), None);
        }
    }

    /// Whether a session cannot show a message right now (XEP-0352
    /// inactive, or detached awaiting XEP-0198 resumption).
    pub(crate) fn push_wanted_for(&self, sid: SessionId) -> bool {
        self.sessions
            .get(&sid)
            .is_some_and(|s| s.inactive || s.conn.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_carry_the_summary_form_and_publish_options() {
        let user = Jid::parse("romeo@montague.lit").unwrap_or_else(|_| unreachable!());
        let reg = PushRegistration {
            service: Jid::parse("push.example").unwrap_or_else(|_| unreachable!()),
            node: "yxs32uqsflafdk3iuqo".into(),
            options: Some(Element::new("x", NS_DATA).attr("type", "submit")),
        };
        let iq = notification(
            &user,
            &reg,
            "p1".into(),
            2,
            Some("juliet@capulet.lit/balcony"),
            None,
        );
        assert_eq!(iq.attribute("to"), Some("push.example"));
        let pubsub = iq.find_child("pubsub", NS_PUBSUB);
        let publish = pubsub.and_then(|p| p.find_child("publish", NS_PUBSUB));
        assert_eq!(
            publish.and_then(|p| p.attribute("node")),
            Some("yxs32uqsflafdk3iuqo")
        );
        let form = publish
            .and_then(|p| p.find_child("item", NS_PUBSUB))
            .and_then(|i| i.find_child("notification", NS))
            .and_then(|n| n.find_child("x", NS_DATA));
        let values: Vec<String> = form
            .map(|f| {
                f.find_children("field", NS_DATA)
                    .filter_map(|x| x.child_text("value", NS_DATA))
                    .map(|v| v.into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(values, [SUMMARY, "2", "juliet@capulet.lit/balcony"]);
        assert!(pubsub
            .and_then(|p| p.find_child("publish-options", NS_PUBSUB))
            .is_some());
    }
}
