//! Resource binding (RFC 6120 §7): resource choice, conflicts, the per-
//! account session limit; the account's data is loaded before the session
//! starts.

use rtc_xmlstream::{ns, Element};

use super::Session;
use crate::core::account::Waiter;
use crate::core::config::ConflictPolicy;
use crate::core::conn::Stage;
use crate::core::error::{StanzaCondition, StanzaError, StreamCondition};
use crate::core::jid::Jid;
use crate::core::server::Server;
use crate::core::stanza::{self, IqType};
use crate::core::types::{ConnId, SessionId};

impl Server {
    /// An IQ on an authenticated stream before binding: only `<bind/>` is
    /// acceptable (RFC 6120 §7.1).
    pub(crate) fn bind_request(&mut self, conn: ConnId, iq: Element) {
        let is_bind = IqType::of(&iq) == Some(IqType::Set)
            && stanza::iq_payload(&iq).is_some_and(|p| p.is("bind", ns::BIND));
        if !is_bind {
            self.stream_error(conn, StreamCondition::NotAuthorized);
            return;
        }
        let Some(user) = self.conns.get(&conn).and_then(|c| c.user.clone()) else {
            return;
        };
        let requested = iq
            .find_child("bind", ns::BIND)
            .and_then(|b| b.child_text("resource", ns::BIND))
            .map(|r| r.into_owned())
            .filter(|r| !r.is_empty());
        if let Some(r) = &requested {
            if user.with_resource(r).is_err() {
                self.reply_conn_error(conn, &iq, StanzaCondition::BadRequest);
                return;
            }
        }
        if self.sessions_of(&user).len() >= self.config.limits.max_sessions_per_account
            && self.config.resource_conflict == ConflictPolicy::NewResource
        {
            self.reply_conn_error(conn, &iq, StanzaCondition::ResourceConstraint);
            return;
        }
        if let Some(id) = self.with_account(&user, Waiter::Bind { conn, iq }) {
            self.wait_for(conn, id);
        }
    }

    /// The account is loaded: finish binding (or fail the stream if the
    /// account vanished or could not be loaded).
    pub(crate) fn complete_bind(&mut self, conn: ConnId, iq: Element, loaded: Result<bool, ()>) {
        let Some(user) = self.conns.get(&conn).and_then(|c| c.user.clone()) else {
            return;
        };
        match loaded {
            Ok(true) => {}
            Ok(false) => return self.stream_error(conn, StreamCondition::NotAuthorized),
            Err(()) => return self.stream_error(conn, StreamCondition::InternalServerError),
        }
        let requested = iq
            .find_child("bind", ns::BIND)
            .and_then(|b| b.child_text("resource", ns::BIND))
            .map(|r| r.into_owned())
            .filter(|r| !r.is_empty());
        let jid = match requested {
            None => self.fresh_resource(&user),
            Some(r) => match user.with_resource(&r) {
                Err(_) => return self.reply_conn_error(conn, &iq, StanzaCondition::BadRequest),
                Ok(jid) => match self.session_by_jid(&jid) {
                    None => jid,
                    Some(old) => match self.config.resource_conflict {
                        ConflictPolicy::NewResource => self.fresh_resource(&user),
                        ConflictPolicy::KickOld => {
                            self.kick(old);
                            jid
                        }
                    },
                },
            },
        };
        if self.sessions_of(&user).len() >= self.config.limits.max_sessions_per_account {
            return self.reply_conn_error(conn, &iq, StanzaCondition::ResourceConstraint);
        }
        let sid = SessionId(self.fresh_id());
        self.sessions.insert(sid, Box::new(Session::new(sid, jid.clone(), conn)));
        self.resources.entry(user).or_default().push(sid);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stage = Stage::Bound(sid);
        }
        let payload = Element::new("bind", ns::BIND)
            .child(Element::new("jid", ns::BIND).text(jid.to_string()));
        let mut result = Element::new("iq", ns::CLIENT).attr("type", "result");
        if let Some(id) = iq.attribute("id") {
            result.set_attr("id", id);
        }
        self.write_element(conn, &result.child(payload));
        self.arm_conn(conn);
    }

    /// A resource nobody on this account uses.
    fn fresh_resource(&mut self, user: &Jid) -> Jid {
        loop {
            let r = self.random_token(12);
            if let Ok(jid) = user.with_resource(&r) {
                if self.session_by_jid(&jid).is_none() {
                    return jid;
                }
            }
        }
    }

    /// Terminate a session whose resource is taken over (RFC 6120 §7.7.2.2).
    fn kick(&mut self, sid: SessionId) {
        match self.sessions.get(&sid).and_then(|s| s.conn) {
            Some(old_conn) => self.stream_error(old_conn, StreamCondition::Conflict),
            None => self.end_session(sid),
        }
        // A resumable session must not come back after being replaced.
        if self.sessions.contains_key(&sid) {
            self.end_session(sid);
        }
    }

    /// An IQ error straight onto a connection (no session yet).
    fn reply_conn_error(&mut self, conn: ConnId, iq: &Element, condition: StanzaCondition) {
        if let Some(reply) = stanza::error_reply(iq, &StanzaError::new(condition)) {
            self.write_element(conn, &reply);
        }
    }
}
