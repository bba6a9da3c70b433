//! Stream management (XEP-0198): acknowledgements both ways, resumption,
//! and what happens to unacknowledged stanzas when a session ends.
//!
//! Inbound counting is durable: the `h` the server reports only covers a
//! stanza once everything it caused that must be persisted (an offline
//! message, a roster change) has been confirmed by storage. Each inbound
//! stanza gets a sequence number and a hold count ([`Origin`]); `h` is the
//! number of leading stanzas with no holds left.

use std::collections::{BTreeMap, VecDeque};

use rtc_xmlstream::{ns, Element};

use super::conn::Stage;
use super::error::{StanzaCondition, StanzaError, StreamCondition};
use super::features::carbons;
use super::jid::Jid;
use super::server::Server;
use super::stanza::{IqType, Kind, MessageType};
use super::types::{ConnId, SessionId};

/// XEP-0198 namespace.
pub(crate) const NS_SM: &str = "urn:xmpp:sm:3";

/// An inbound stanza whose side effects may still be in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) sid: SessionId,
    seq: u64,
}

/// A stanza sent but not yet acknowledged.
#[derive(Debug)]
pub(crate) struct Unacked {
    pub(crate) stanza: Element,
    /// Set for messages delivered from offline storage: deleted there on ack.
    pub(crate) offline_key: Option<u64>,
}

/// Per-session stream management state.
#[derive(Debug, Default)]
pub(crate) struct SmState {
    /// The resumption id, if resumption was enabled.
    pub(crate) token: Option<String>,
    received: u64,
    holds: BTreeMap<u64, u32>,
    acked: u32,
    pub(crate) unacked: VecDeque<Unacked>,
    since_request: usize,
    request_pending: bool,
}

impl SmState {
    /// Inbound stanzas handled, modulo 2^32 (XEP-0198 §4 `h`).
    fn handled(&self) -> u32 {
        let n = self.holds.keys().next().copied().unwrap_or(self.received);
        (n & u64::from(u32::MAX)) as u32
    }
}

/// `<failed xmlns='urn:xmpp:sm:3'><condition/></failed>`.
pub(crate) fn failed(condition: StanzaCondition) -> Element {
    Element::new("failed", NS_SM).child(Element::new(condition.as_str(), ns::STANZA_ERRORS))
}

/// Stanzas a new `h` acknowledges beyond the previous one, counting modulo
/// 2^32 (XEP-0198 §4: the counter wraps).
fn newly_acked(previous: u32, h: u32) -> usize {
    h.wrapping_sub(previous) as usize
}

fn ack(h: u32) -> Element {
    Element::new("a", NS_SM).attr("h", h.to_string())
}

impl Server {
    /// `<enable/>`, `<r/>`, `<a/>` on a bound stream.
    pub(crate) fn sm_element(&mut self, conn: ConnId, sid: SessionId, e: &Element) {
        let resumption = self.config.timeouts.sm_resumption_seconds;
        let enabled = self.sessions.get(&sid).is_some_and(|s| s.sm.is_some());
        match e.name() {
            "enable" if !enabled => {
                let resume = matches!(e.attribute("resume"), Some("true" | "1"));
                let token = resume.then(|| self.random_token(24));
                let mut reply = Element::new("enabled", NS_SM);
                if let Some(t) = &token {
                    reply.set_attr("id", t.clone());
                    reply.set_attr("resume", "true");
                    reply.set_attr("max", resumption.to_string());
                    self.sm_tokens.insert(t.clone(), sid);
                }
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.sm = Some(Box::new(SmState {
                        token,
                        ..SmState::default()
                    }));
                }
                self.write_element(conn, &reply);
            }
            "r" if enabled => {
                let h = self.sessions.get(&sid).and_then(|s| s.sm.as_ref()).map(|sm| sm.handled());
                self.write_element(conn, &ack(h.unwrap_or(0)));
            }
            "a" if enabled => match e.attribute("h").and_then(|h| h.parse::<u32>().ok()) {
                Some(h) => {
                    if !self.sm_ack(sid, h) {
                        self.stream_error(conn, StreamCondition::UndefinedCondition);
                    }
                }
                None => self.stream_error(conn, StreamCondition::BadFormat),
            },
            _ => self.write_element(conn, &failed(StanzaCondition::UnexpectedRequest)),
        }
    }

    /// Process the client's count `h`. `false` if it acknowledges more
    /// than was sent.
    fn sm_ack(&mut self, sid: SessionId, h: u32) -> bool {
        let Some(sm) = self.sessions.get_mut(&sid).and_then(|s| s.sm.as_mut()) else {
            return true;
        };
        let count = newly_acked(sm.acked, h);
        if count > sm.unacked.len() {
            return false;
        }
        sm.acked = h;
        sm.request_pending = false;
        let keys: Vec<u64> = sm.unacked.drain(..count).filter_map(|u| u.offline_key).collect();
        if !keys.is_empty() {
            if let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) {
                self.offline_delete(&user, keys);
            }
        }
        true
    }

    /// Count an inbound stanza; the returned origin must be released.
    pub(crate) fn sm_received(&mut self, sid: SessionId) -> Option<Origin> {
        let sm = self.sessions.get_mut(&sid)?.sm.as_mut()?;
        let seq = sm.received;
        sm.received += 1;
        sm.holds.insert(seq, 1);
        Some(Origin { sid, seq })
    }

    /// Keep the stanza unhandled until a matching [`Self::release`].
    pub(crate) fn hold(&mut self, origin: Option<Origin>) {
        let Some(o) = origin else { return };
        if let Some(n) = self
            .sessions
            .get_mut(&o.sid)
            .and_then(|s| s.sm.as_mut())
            .and_then(|sm| sm.holds.get_mut(&o.seq))
        {
            *n += 1;
        }
    }

    pub(crate) fn release(&mut self, origin: Option<Origin>) {
        let Some(o) = origin else { return };
        let Some(sm) = self.sessions.get_mut(&o.sid).and_then(|s| s.sm.as_mut()) else {
            return;
        };
        if let Some(n) = sm.holds.get_mut(&o.seq) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sm.holds.remove(&o.seq);
            }
        }
    }

    /// Keep a copy of an outbound stanza until acknowledged. Ends the
    /// session's stream when too many are outstanding.
    pub(crate) fn sm_track(&mut self, sid: SessionId, e: &Element, offline_key: Option<u64>) {
        let max = self.config.limits.sm_max_unacked;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let Some(sm) = s.sm.as_mut() else {
            return;
        };
        sm.unacked.push_back(Unacked {
            stanza: e.clone(),
            offline_key,
        });
        sm.since_request += 1;
        if sm.unacked.len() > max {
            match s.conn {
                Some(conn) => self.stream_error(conn, StreamCondition::ResourceConstraint),
                None => self.end_session(sid),
            }
        }
    }

    /// Ask for an acknowledgement every few stanzas.
    pub(crate) fn sm_maybe_request(&mut self, sid: SessionId) {
        let after = self.config.limits.sm_request_after;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let (Some(sm), Some(conn)) = (s.sm.as_mut(), s.conn) else {
            return;
        };
        if sm.since_request >= after && !sm.request_pending {
            sm.since_request = 0;
            sm.request_pending = true;
            self.write_element(conn, &Element::new("r", NS_SM));
        }
    }

    /// `<resume/>` on an authenticated, unbound stream (XEP-0198 §5).
    pub(crate) fn sm_resume(&mut self, conn: ConnId, e: &Element) {
        let user = self.conns.get(&conn).and_then(|c| c.user.clone());
        let h = e.attribute("h").and_then(|h| h.parse::<u32>().ok());
        let sid = e
            .attribute("previd")
            .and_then(|p| self.sm_tokens.get(p).copied())
            .filter(|sid| {
                self.sessions
                    .get(sid)
                    .is_some_and(|s| Some(s.jid.bare()) == user)
            });
        let (Some(sid), Some(h)) = (sid, h) else {
            self.write_element(conn, &failed(StanzaCondition::ItemNotFound));
            return;
        };
        if let Some(old) = self.sessions.get_mut(&sid).and_then(|s| s.conn.take()) {
            if let Some(c) = self.conns.get_mut(&old) {
                c.stage = Stage::Open;
            }
            self.stream_error(old, StreamCondition::Conflict);
        }
        if !self.sm_ack(sid, h) {
            self.write_element(conn, &failed(StanzaCondition::UnexpectedRequest));
            self.end_session(sid);
            return;
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.conn = Some(conn);
        s.detached_until = None;
        let Some(sm) = s.sm.as_mut() else {
            return;
        };
        let resumed = Element::new("resumed", NS_SM)
            .attr("h", sm.handled().to_string())
            .attr("previd", sm.token.clone().unwrap_or_default());
        let resend: Vec<Element> = sm.unacked.iter().map(|u| u.stanza.clone()).collect();
        sm.since_request = resend.len();
        sm.request_pending = false;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stage = Stage::Bound(sid);
        }
        self.write_element(conn, &resumed);
        for stanza in &resend {
            self.write_element(conn, stanza);
        }
        self.sm_maybe_request(sid);
        self.arm_conn(conn);
    }

    /// A session ended with stanzas the client never acknowledged: route
    /// messages again (other resources or offline storage), answer IQ
    /// requests with an error, drop the rest.
    pub(crate) fn sm_reroute_unacked(&mut self, jid: &Jid, sm: SmState) {
        let bare = jid.bare();
        for u in sm.unacked {
            if let Some(key) = u.offline_key {
                // Still in offline storage: delivered again next time.
                self.offline_unclaim(&bare, key);
                continue;
            }
            let mut e = u.stanza;
            match Kind::of(&e) {
                Some(Kind::Message) => {
                    if carbons::is_carbon(&e)
                        || !matches!(MessageType::of(&e), MessageType::Chat | MessageType::Normal)
                    {
                        continue;
                    }
                    e.set_attr("to", bare.to_string());
                    self.deliver_local(e, bare.clone(), None);
                }
                Some(Kind::Iq) if IqType::of(&e).is_some_and(IqType::is_request) => {
                    self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_wrap_around_at_two_to_the_32() {
        assert_eq!(newly_acked(u32::MAX - 1, 1), 3);
        assert_eq!(newly_acked(7, 7), 0);
        let sm = SmState {
            received: (1 << 32) + 3,
            ..SmState::default()
        };
        assert_eq!(sm.handled(), 3);
        let mut held = SmState {
            received: (1 << 32) + 3,
            ..SmState::default()
        };
        held.holds.insert((1 << 32) + 1, 1);
        assert_eq!(held.handled(), 1, "h stops at the oldest unfinished stanza");
    }
}
