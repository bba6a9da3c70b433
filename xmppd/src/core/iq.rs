//! IQ dispatch (RFC 6120 §8.2.3, §10.3.3, RFC 6121 §8.5): requests to the
//! user's own account, to other accounts (answered by the server on the
//! account's behalf), to the server, and to full JIDs.

use rtc_xmlstream::{ns, Element};

use super::error::{StanzaCondition, StanzaError};
use super::features::{blocking, carbons, disco, ping, private, time, vcard, version};
use super::jid::Jid;
use super::roster::NS_ROSTER;
use super::server::Server;
use super::session::negotiation::NS_SESSION;
use super::sm::Origin;
use super::stanza::{self, IqType};
use super::types::SessionId;

impl Server {
    /// An IQ from a bound client, `from` stamped, `to` parsed.
    pub(crate) fn iq_from_client(
        &mut self,
        sid: SessionId,
        e: Element,
        to: Option<Jid>,
        origin: Option<Origin>,
    ) {
        let Some(kind) = IqType::of(&e) else {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::BadRequest));
        };
        let malformed = e.attribute("id").is_none()
            || (kind.is_request() && stanza::iq_payload(&e).is_none());
        if malformed {
            return self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::BadRequest));
        }
        let Some(own) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        match to {
            None => self.iq_for_own_account(sid, e, kind, origin),
            Some(to) if to == own => self.iq_for_own_account(sid, e, kind, origin),
            Some(to) => {
                if self.blocks(&own, &to) {
                    if kind.is_request() {
                        self.reply_error_to(sid, &e, blocking::blocked_error());
                    }
                    return;
                }
                self.route(e, to, origin);
            }
        }
    }

    fn iq_for_own_account(
        &mut self,
        sid: SessionId,
        e: Element,
        kind: IqType,
        origin: Option<Origin>,
    ) {
        if !kind.is_request() {
            return; // answers to roster pushes and pings
        }
        let Some(p) = stanza::iq_payload(&e) else {
            return;
        };
        let get = kind == IqType::Get;
        match (p.ns(), p.name()) {
            (NS_ROSTER, "query") => self.roster_iq(sid, e, get, origin),
            (vcard::NS, "vCard") => self.vcard_own(sid, e, get, origin),
            (private::NS, "query") => self.private_iq(sid, e, get, origin),
            (blocking::NS, _) => self.blocking_iq(sid, e, get, origin),
            (carbons::NS, "enable" | "disable") if !get => {
                let on = p.name() == "enable";
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.carbons = on;
                }
                self.deliver(sid, stanza::iq_result(&e));
            }
            (NS_SESSION, "session") | (ping::NS, "ping") => {
                self.deliver(sid, stanza::iq_result(&e))
            }
            (disco::NS_INFO, "query") if get => {
                let info = disco::account_info(p.attribute("node"));
                self.deliver(sid, stanza::iq_result_with(&e, info));
            }
            (disco::NS_ITEMS, "query") if get => {
                self.deliver(sid, stanza::iq_result_with(&e, disco::empty_items(p)));
            }
            (ns::BIND, "bind") => {
                self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::NotAllowed))
            }
            (version::NS, "query") | (time::NS, "time") => match self.server_answer(&e) {
                Ok(reply) => self.deliver(sid, reply),
                Err(err) => self.reply_error_to(sid, &e, err),
            },
            _ => self.reply_error_to(sid, &e, StanzaError::new(StanzaCondition::ServiceUnavailable)),
        }
    }

    /// An IQ for a loaded local account from someone else (RFC 6121 §8.5).
    pub(crate) fn iq_inbound(&mut self, e: Element, to: Jid, _origin: Option<Origin>) {
        let request = IqType::of(&e).is_some_and(IqType::is_request);
        if !to.is_bare() {
            match self.session_by_jid(&to) {
                Some(sid) => self.deliver(sid, e),
                None if request => {
                    self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable))
                }
                None => {}
            }
            return;
        }
        if !request {
            return;
        }
        let get = IqType::of(&e) == Some(IqType::Get);
        let Some(p) = stanza::iq_payload(&e) else {
            return self.bounce(&e, StanzaError::new(StanzaCondition::BadRequest));
        };
        match (p.ns(), p.name()) {
            (vcard::NS, "vCard") if get => self.vcard_other(e, to),
            (disco::NS_INFO, "query") if get => {
                let info = disco::account_info(p.attribute("node"));
                self.route_to_attr(stanza::iq_result_with(&e, info));
            }
            (disco::NS_ITEMS, "query") if get => {
                let items = disco::empty_items(p);
                self.route_to_attr(stanza::iq_result_with(&e, items));
            }
            (ping::NS, "ping") => self.route_to_attr(stanza::iq_result(&e)),
            (vcard::NS | private::NS | NS_ROSTER | blocking::NS, _) => {
                self.bounce(&e, StanzaError::new(StanzaCondition::Forbidden))
            }
            _ => self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable)),
        }
    }

    /// An IQ addressed to a hosted domain (RFC 6120 §10.3.3).
    pub(crate) fn iq_for_server(&mut self, e: Element, _to: Jid, _origin: Option<Origin>) {
        if !IqType::of(&e).is_some_and(IqType::is_request) {
            return; // answers to server pings
        }
        match self.server_answer(&e) {
            Ok(reply) => self.route_to_attr(reply),
            Err(err) => self.bounce(&e, err),
        }
    }

    /// The server's own answer to an IQ request.
    fn server_answer(&mut self, e: &Element) -> Result<Element, StanzaError> {
        let Some(p) = stanza::iq_payload(e) else {
            return Err(StanzaError::new(StanzaCondition::BadRequest));
        };
        let get = IqType::of(e) == Some(IqType::Get);
        let payload = match (p.ns(), p.name()) {
            (disco::NS_INFO, "query") if get => {
                disco::server_info(p.attribute("node"), &self.caps_ver, self.config.advertise_version)?
            },
            (disco::NS_ITEMS, "query") if get => disco::empty_items(p),
            (version::NS, "query") if get && self.config.advertise_version => version::answer(),
            (time::NS, "time") if get => time::answer(&self.clock.stamp(self.now)),
            (ping::NS, "ping") => return Ok(stanza::iq_result(e)),
            _ => return Err(StanzaError::new(StanzaCondition::ServiceUnavailable)),
        };
        Ok(stanza::iq_result_with(e, payload))
    }
}
