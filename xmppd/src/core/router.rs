//! The router: stamps what clients send (RFC 6120 §8.1.2.1), decides where
//! each stanza goes — a local account, the server itself, or another domain
//! (RFC 6120 §10) — and bounces what cannot be delivered.
//!
//! Other domains are where s2s and components will attach
//! ([`Server::route_remote`]); until then their stanzas are answered with
//! `<remote-server-not-found/>`.

use rtc_xmlstream::Element;

use super::account::Waiter;
use super::error::{StanzaCondition, StanzaError, StreamCondition};
use super::jid::Jid;
use super::server::Server;
use super::sm::Origin;
use super::stanza::{self, IqType, Kind, PresenceType};
use super::types::SessionId;

impl Server {
    /// A stanza from a bound client.
    pub(crate) fn client_stanza(&mut self, sid: SessionId, mut e: Element) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let jid = s.jid.clone();
        if let Some(from) = e.attribute("from") {
            let ok = Jid::parse(from).is_ok_and(|f| f == jid || f == jid.bare());
            if !ok {
                if let Some(conn) = s.conn {
                    self.stream_error(conn, StreamCondition::InvalidFrom);
                }
                return;
            }
        }
        e.set_attr("from", jid.to_string());
        let origin = self.sm_received(sid);
        let to = match e.attribute("to").map(Jid::parse) {
            None => None,
            Some(Ok(to)) => Some(to),
            Some(Err(_)) => {
                self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::JidMalformed));
                self.release(origin);
                return;
            }
        };
        if let Some(to) = &to {
            e.set_attr("to", to.to_string());
        }
        match Kind::of(&e) {
            Some(Kind::Message) => self.message_from_client(sid, e, to, origin),
            Some(Kind::Presence) => self.presence_from_client(sid, e, to, origin),
            Some(Kind::Iq) => self.iq_from_client(sid, e, to, origin),
            None => {}
        }
        self.release(origin);
    }

    /// Route a stanza whose `from` is trustworthy to `to`.
    pub(crate) fn route(&mut self, e: Element, to: Jid, origin: Option<Origin>) {
        if !self.is_local_domain(to.domain()) {
            self.route_remote(e, to);
        } else if to.node().is_none() {
            self.server_stanza(e, to, origin);
        } else {
            self.deliver_local(e, to, origin);
        }
    }

    /// Send a stanza that answers or notifies someone, to its `to`.
    pub(crate) fn route_to_attr(&mut self, e: Element) {
        if let Some(to) = stanza::to_jid(&e) {
            self.route(e, to, None);
        }
    }

    /// A stanza for a local account: loaded first if needed.
    pub(crate) fn deliver_local(&mut self, e: Element, to: Jid, origin: Option<Origin>) {
        let bare = to.bare();
        self.with_account(
            &bare,
            Waiter::Stanza {
                stanza: e,
                to,
                origin,
            },
        );
    }

    /// The recipient's account is loaded: apply its block list, then the
    /// per-kind delivery rules (RFC 6121 §8.5).
    pub(crate) fn deliver_to_account(&mut self, e: Element, to: Jid, origin: Option<Origin>) {
        let bare = to.bare();
        if let Some(from) = stanza::from_jid(&e) {
            if self.blocks(&bare, &from) {
                // XEP-0191 §3.4: presence dropped, others refused.
                let request = match Kind::of(&e) {
                    Some(Kind::Message) => true,
                    Some(Kind::Iq) => IqType::of(&e).is_some_and(IqType::is_request),
                    _ => false,
                };
                if request {
                    self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable));
                }
                return;
            }
        }
        match Kind::of(&e) {
            Some(Kind::Message) => self.message_inbound(e, to, origin),
            Some(Kind::Presence) => self.presence_inbound(e, to, origin),
            Some(Kind::Iq) => self.iq_inbound(e, to, origin),
            None => {}
        }
    }

    /// RFC 6121 §8.5.1: the localpart names no account.
    pub(crate) fn no_such_user(&mut self, e: Element, to: Jid) {
        match Kind::of(&e) {
            Some(Kind::Presence) => {
                // RFC 6121 §3.1.3: a subscription request to nobody is refused
                // with 'unsubscribed'; other presence is ignored.
                if PresenceType::of(&e) == Some(PresenceType::Subscribe) {
                    if let Some(from) = stanza::from_jid(&e) {
                        let reply = stanza::presence(PresenceType::Unsubscribed, &to.bare(), &from.bare());
                        self.route(reply, from.bare(), None);
                    }
                }
            }
            Some(Kind::Iq) if !IqType::of(&e).is_some_and(IqType::is_request) => {}
            _ => self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable)),
        }
    }

    /// Another domain. Server-to-server routing attaches here; for now
    /// messages and IQ requests are refused and presence is dropped.
    pub(crate) fn route_remote(&mut self, e: Element, _to: Jid) {
        if Kind::of(&e) != Some(Kind::Presence) {
            self.bounce(&e, StanzaError::new(StanzaCondition::RemoteServerNotFound));
        }
    }

    /// Answer an undeliverable stanza with an error to its sender
    /// (never an error to an error, RFC 6120 §8.3.1).
    pub(crate) fn bounce(&mut self, e: &Element, err: StanzaError) {
        if let Some(reply) = stanza::error_reply(e, &err) {
            self.route_to_attr(reply);
        }
    }

    /// A stanza addressed to a hosted domain itself.
    fn server_stanza(&mut self, e: Element, to: Jid, origin: Option<Origin>) {
        if Kind::of(&e) == Some(Kind::Iq) {
            self.iq_for_server(e, to, origin);
        }
        // Messages and presence to the server are not used by any feature yet.
    }
}
