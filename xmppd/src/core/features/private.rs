//! Private XML storage (XEP-0049): one element per (name, namespace) per
//! account, readable and writable only by the account itself.

use rtc_xmlstream::{ns, Element};

use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::pending::{AfterWrite, IqReply, Pending};
use crate::core::server::Server;
use crate::core::sm::Origin;
use crate::core::stanza;
use crate::core::storage::StorageRequest;
use crate::core::types::SessionId;

/// XEP-0049 namespace.
pub(crate) const NS: &str = "jabber:iq:private";

impl Server {
    /// `<query xmlns='jabber:iq:private'><x xmlns='...'/></query>`.
    pub(crate) fn private_iq(&mut self, sid: SessionId, e: Element, get: bool, origin: Option<Origin>) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let only_child = stanza::iq_payload(&e).and_then(|query| {
            let mut children = query.children();
            match (children.next(), children.next()) {
                (Some(data), None) => Some(data.clone()),
                _ => None,
            }
        });
        let Some(data) = only_child else {
            let err = StanzaError::new(StanzaCondition::NotAcceptable);
            return self.reply_error_to(sid, &e, err);
        };
        // XEP-0049 §3: these namespaces cannot be used for private data.
        if matches!(data.ns(), "" | ns::CLIENT | ns::SERVER | NS) {
            let err = StanzaError::new(StanzaCondition::NotAcceptable);
            return self.reply_error_to(sid, &e, err);
        }
        if get {
            if !self.request_slot(sid) {
                let err = StanzaError::new(StanzaCondition::ResourceConstraint);
                return self.reply_error_to(sid, &e, err);
            }
            let request = StorageRequest::LoadPrivate {
                user,
                name: data.name().to_owned(),
                ns: data.ns().to_owned(),
            };
            let empty = Element::new(data.name(), data.ns());
            let pending = Pending::Element {
                reply: IqReply { sid, iq: e },
                wrapper: Some(Element::new("query", NS)),
                empty,
            };
            self.request(request, pending);
        } else {
            let request = StorageRequest::SavePrivate {
                user: user.clone(),
                data,
            };
            self.write(&user, request, AfterWrite::Reply(IqReply { sid, iq: e }, None), origin);
        }
    }
}
