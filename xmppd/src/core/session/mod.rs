//! Client sessions (RFC 6120 §7, RFC 6121 §1.3): negotiation up to the bound
//! resource, then the session's lifetime, which may outlast its connection
//! while it waits to be resumed (XEP-0198).

pub(crate) mod bind;
pub(crate) mod negotiation;
pub(crate) mod sasl;

use std::collections::HashSet;
use std::time::Instant;

use rtc_xmlstream::{ns, Element};

use super::error::StreamCondition;
use super::features::csi::{self, NS_CSI};
use super::jid::Jid;
use super::server::{Server, TimerKey};
use super::sm::{SmState, NS_SM};
use super::types::{ConnId, SessionId};

/// A bound resource and everything the server tracks for it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    /// The full JID (RFC 6120 §7).
    pub(crate) jid: Jid,
    /// The connection, or `None` while detached awaiting resumption.
    pub(crate) conn: Option<ConnId>,
    /// Sent initial presence and not unavailable since (RFC 6121 §4.2).
    pub(crate) available: bool,
    /// The last broadcast available presence, stamped.
    pub(crate) presence: Option<Element>,
    /// Presence priority (RFC 6121 §4.7.2.3).
    pub(crate) priority: i8,
    /// Entities that received directed presence (RFC 6121 §4.6).
    pub(crate) directed: HashSet<Jid>,
    /// Requested the roster, so receives roster pushes (RFC 6121 §2.1.6).
    pub(crate) roster_requested: bool,
    /// Requested the block list, so receives block pushes (XEP-0191 §3.2).
    pub(crate) blocklist_requested: bool,
    /// Message carbons enabled (XEP-0280).
    pub(crate) carbons: bool,
    /// Client state indication: inactive (XEP-0352).
    pub(crate) inactive: bool,
    /// Presence held while inactive.
    pub(crate) csi_queue: Vec<Element>,
    /// Stream management (XEP-0198), once enabled. Boxed: most sessions
    /// never enable it, and every session pays for the slot.
    pub(crate) sm: Option<Box<SmState>>,
    /// While detached: when the session ends if not resumed.
    pub(crate) detached_until: Option<Instant>,
    /// Storage requests in flight on this session's behalf.
    pub(crate) outstanding: usize,
}

impl Session {
    pub(crate) fn new(id: SessionId, jid: Jid, conn: ConnId) -> Self {
        Self {
            id,
            jid,
            conn: Some(conn),
            available: false,
            presence: None,
            priority: 0,
            directed: HashSet::new(),
            roster_requested: false,
            blocklist_requested: false,
            carbons: false,
            inactive: false,
            csi_queue: Vec::new(),
            sm: None,
            detached_until: None,
            outstanding: 0,
        }
    }
}

impl Server {
    /// A top-level element on a bound stream.
    pub(crate) fn session_element(&mut self, conn: ConnId, sid: SessionId, e: Element) {
        match (e.ns(), e.name()) {
            (ns::CLIENT, "message" | "presence" | "iq") => self.client_stanza(sid, e),
            (NS_SM, _) => self.sm_element(conn, sid, &e),
            (NS_CSI, "active") => self.csi_set(sid, false),
            (NS_CSI, "inactive") => self.csi_set(sid, true),
            _ => self.stream_error(conn, StreamCondition::UnsupportedStanzaType),
        }
    }

    /// Sessions of an account, in binding order.
    pub(crate) fn sessions_of(&self, bare: &Jid) -> Vec<SessionId> {
        self.resources.get(bare).cloned().unwrap_or_default()
    }

    /// The session bound to exactly this full JID.
    pub(crate) fn session_by_jid(&self, full: &Jid) -> Option<SessionId> {
        self.resources
            .get(&full.bare())?
            .iter()
            .copied()
            .find(|s| self.sessions.get(s).is_some_and(|s| &s.jid == full))
    }

    /// Available sessions of an account (RFC 6121 §1.5 "available resource").
    pub(crate) fn available_sessions(&self, bare: &Jid) -> Vec<SessionId> {
        self.sessions_of(bare)
            .into_iter()
            .filter(|s| self.sessions.get(s).is_some_and(|s| s.available))
            .collect()
    }

    /// Send a stanza to a session: held while inactive if unimportant
    /// (XEP-0352), counted and kept for resending if stream management is
    /// on (XEP-0198), written if the session has a connection.
    pub(crate) fn deliver(&mut self, sid: SessionId, e: Element) {
        self.deliver_keyed(sid, e, None);
    }

    /// [`Self::deliver`] for an offline message with its storage key: it is
    /// deleted from storage once acknowledged (or at once without XEP-0198).
    pub(crate) fn deliver_keyed(&mut self, sid: SessionId, e: Element, offline_key: Option<u64>) {
        let max_queue = self.config.limits.csi_max_queued;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.inactive {
            if csi::can_hold(&e) && offline_key.is_none() {
                csi::hold(&mut s.csi_queue, e);
                if s.csi_queue.len() > max_queue {
                    self.csi_flush(sid);
                }
                return;
            }
            self.csi_flush(sid);
        }
        self.push_stanza(sid, e, offline_key);
    }

    /// Write (and track for XEP-0198) one stanza, bypassing CSI.
    pub(crate) fn push_stanza(&mut self, sid: SessionId, e: Element, offline_key: Option<u64>) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let user = s.jid.bare();
        if s.sm.is_some() {
            // May end the stream if too much is unacknowledged.
            self.sm_track(sid, &e, offline_key);
        } else if let Some(key) = offline_key {
            self.offline_delete(&user, vec![key]);
        }
        if let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) {
            self.write_element(conn, &e);
            self.sm_maybe_request(sid);
        }
    }

    /// The session's connection went away.
    pub(crate) fn connection_lost(&mut self, sid: SessionId, detach: bool) {
        let resumption = self.config.timeouts.sm_resumption();
        let now = self.now;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.conn = None;
        let resumable = s.sm.as_ref().is_some_and(|sm| sm.token.is_some());
        if detach && resumable {
            let until = now + resumption;
            s.detached_until = Some(until);
            self.arm(until, TimerKey::Session(sid));
        } else {
            self.end_session(sid);
        }
    }

    pub(crate) fn session_timeout(&mut self, sid: SessionId) {
        let now = self.now;
        if self
            .sessions
            .get(&sid)
            .and_then(|s| s.detached_until)
            .is_some_and(|until| until <= now)
        {
            self.end_session(sid);
        }
    }

    /// End a session for good: unavailable presence to everyone who had its
    /// presence, unacknowledged stanzas rerouted (never lost silently), and
    /// the account unloaded if nothing else uses it.
    pub(crate) fn end_session(&mut self, sid: SessionId) {
        if let Some(conn) = self.sessions.get(&sid).and_then(|s| s.conn) {
            // Still attached: close the connection first; it comes back here.
            self.stream_error(conn, StreamCondition::Reset);
            if !self.sessions.contains_key(&sid) {
                return;
            }
        }
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let bare = s.jid.bare();
        if s.available {
            self.broadcast_unavailable(sid);
        }
        let Some(mut s) = self.sessions.remove(&sid) else {
            return;
        };
        if let Some(list) = self.resources.get_mut(&bare) {
            list.retain(|x| *x != sid);
            if list.is_empty() {
                self.resources.remove(&bare);
            }
        }
        if let Some(sm) = s.sm.take() {
            if let Some(token) = &sm.token {
                self.sm_tokens.remove(token);
            }
            self.sm_reroute_unacked(&s.jid, *sm);
        }
        self.maybe_unload(&bare);
    }
}
