//! Message routing (RFC 6121 §5, §8.5): to full and bare JIDs by type and by
//! the recipient's available resources and priorities; offline storage when
//! nobody can take a message (XEP-0160).

use rtc_xmlstream::Element;

use super::error::{StanzaCondition, StanzaError};
use super::features::blocking;
use super::jid::Jid;
use super::server::Server;
use super::sm::Origin;
use super::stanza::MessageType;
use super::types::SessionId;

impl Server {
    /// A message from a bound client (RFC 6121 §5.1).
    pub(crate) fn message_from_client(
        &mut self,
        sid: SessionId,
        mut e: Element,
        to: Option<Jid>,
        origin: Option<Origin>,
    ) {
        let Some(own) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        // RFC 6120 §10.3.1: no 'to' means the sender's own account.
        let to = match to {
            Some(to) => to,
            None => {
                e.set_attr("to", own.to_string());
                own.clone()
            }
        };
        if self.blocks(&own, &to) {
            return self.reply_error_to(sid, &e, blocking::blocked_error());
        }
        self.mam_outgoing(&own, &e, &to);
        self.carbons_sent(sid, &e);
        self.route(e, to, origin);
    }

    /// A message for a loaded local account (RFC 6121 §8.5.2, §8.5.3).
    pub(crate) fn message_inbound(&mut self, e: Element, to: Jid, origin: Option<Origin>) {
        let kind = MessageType::of(&e);
        let e = self.mam_incoming(e, &to);
        let bare = to.bare();
        if !to.is_bare() {
            if let Some(sid) = self.session_by_jid(&to) {
                // §8.5.3.1: the resource exists; deliver whatever the type.
                self.carbons_received(&bare, &[sid], &e);
                if self.push_wanted_for(sid) {
                    self.push_notify(&bare, &e);
                }
                return self.deliver(sid, e);
            }
            // §8.5.3.2.1: no such resource.
            match kind {
                MessageType::Groupchat => return self.refuse(&e),
                MessageType::Error => return,
                _ => {}
            }
        }
        let mut candidates: Vec<(SessionId, i8, bool)> = self
            .available_sessions(&bare)
            .into_iter()
            .filter_map(|sid| self.sessions.get(&sid))
            .filter(|s| s.priority >= 0)
            .map(|s| (s.id, s.priority, s.carbons))
            .collect();
        if candidates.is_empty() {
            // §8.5.2.2: no available resource with non-negative priority.
            return match kind {
                MessageType::Normal | MessageType::Chat => self.store_offline(&bare, e, origin),
                MessageType::Groupchat => self.refuse(&e),
                MessageType::Headline | MessageType::Error => {}
            };
        }
        // §8.5.2.1.1
        let targets: Vec<SessionId> = match kind {
            MessageType::Error => return,
            MessageType::Groupchat => return self.refuse(&e),
            MessageType::Headline => candidates.iter().map(|c| c.0).collect(),
            MessageType::Normal | MessageType::Chat => {
                let top = candidates.iter().map(|c| c.1).max().unwrap_or(0);
                // Carbons-enabled resources get bare-JID chats too (XEP-0280 §6).
                candidates.retain(|c| c.1 == top || c.2);
                candidates.iter().map(|c| c.0).collect()
            }
        };
        if matches!(kind, MessageType::Normal | MessageType::Chat)
            && targets.iter().any(|s| self.push_wanted_for(*s))
        {
            self.push_notify(&bare, &e);
        }
        for sid in targets {
            self.deliver(sid, e.clone());
        }
    }

    /// `<service-unavailable/>` back to the sender.
    fn refuse(&mut self, e: &Element) {
        self.bounce(e, StanzaError::new(StanzaCondition::ServiceUnavailable));
    }
}
