//! Storage requests in flight and what to do with their answers.

use std::time::Instant;

use rtc_xmlstream::Element;

use super::error::{StanzaCondition, StanzaError};
use super::jid::Jid;
use super::server::Server;
use super::sm::Origin;
use super::stanza;
use super::storage::{StorageAnswer, StorageError};
use super::types::{ConnId, RequestId, SessionId};

/// An IQ request to answer once storage replies.
#[derive(Debug)]
pub(crate) struct IqReply {
    /// The requesting session (counted against its outstanding requests).
    pub(crate) sid: SessionId,
    /// The request, `from` already stamped.
    pub(crate) iq: Element,
}

/// What to do once a write is confirmed (or has failed).
#[derive(Debug)]
pub(crate) enum AfterWrite {
    /// Nothing (roster state changes caused by presence, deletions).
    Nothing,
    /// Answer an IQ with a result, optionally carrying a payload.
    Reply(IqReply, Option<Element>),
    /// An offline message: on failure, bounce it and uncount it.
    Offline(Element),
}

/// The continuation of a storage request.
#[derive(Debug)]
pub(crate) enum Pending {
    /// SASL is waiting for credentials.
    Credentials { conn: ConnId },
    /// An account is loading.
    Account { user: Jid },
    /// A write for `user`.
    Write {
        user: Jid,
        after: AfterWrite,
        origin: Option<Origin>,
    },
    /// Offline messages for a session that just became available.
    OfflineLoad { sid: SessionId },
    /// A vCard or private XML element to return in an IQ result.
    Element {
        reply: IqReply,
        /// Wraps the stored element (e.g. `<query xmlns='jabber:iq:private'/>`);
        /// `None` returns the element itself.
        wrapper: Option<Element>,
        /// Returned when nothing is stored.
        empty: Element,
    },
}

impl Server {
    /// The shell's answer to [`super::Event::Storage`] request `id`.
    pub fn handle_storage(
        &mut self,
        id: RequestId,
        result: Result<StorageAnswer, StorageError>,
        now: Instant,
    ) {
        self.now = now;
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        match pending {
            Pending::Credentials { conn } => {
                let creds = match result {
                    Ok(StorageAnswer::Credentials(c)) => Ok(c),
                    _ => Err(StorageError::Unavailable),
                };
                self.credentials_loaded(conn, creds);
                self.resume_after(conn, id);
            }
            Pending::Account { user } => {
                let data = match result {
                    Ok(StorageAnswer::Account(a)) => Ok(a),
                    _ => Err(StorageError::Unavailable),
                };
                self.account_loaded(user, id, data);
            }
            Pending::Write {
                user,
                after,
                origin,
            } => {
                let ok = matches!(result, Ok(StorageAnswer::Done));
                self.write_done(&user, after, ok);
                self.release(origin);
                self.account_busy(&user, false);
            }
            Pending::OfflineLoad { sid } => {
                let messages = match result {
                    Ok(StorageAnswer::Offline(m)) => m,
                    _ => Vec::new(),
                };
                self.offline_loaded(sid, messages);
            }
            Pending::Element {
                reply,
                wrapper,
                empty,
            } => {
                self.request_done(reply.sid);
                let payload = match result {
                    Ok(StorageAnswer::Element(e)) => e.unwrap_or(empty),
                    _ => {
                        let err = StanzaError::new(StanzaCondition::InternalServerError);
                        return self.reply_error_to(reply.sid, &reply.iq, err);
                    }
                };
                let payload = match wrapper {
                    Some(w) => w.child(payload),
                    None => payload,
                };
                self.deliver(reply.sid, stanza::iq_result_with(&reply.iq, payload));
            }
        }
    }

    fn write_done(&mut self, user: &Jid, after: AfterWrite, ok: bool) {
        match after {
            AfterWrite::Nothing => {}
            AfterWrite::Reply(reply, payload) => {
                if ok {
                    let result = match payload {
                        Some(p) => stanza::iq_result_with(&reply.iq, p),
                        None => stanza::iq_result(&reply.iq),
                    };
                    self.deliver(reply.sid, result);
                } else {
                    let err = StanzaError::new(StanzaCondition::InternalServerError);
                    self.reply_error_to(reply.sid, &reply.iq, err);
                }
            }
            AfterWrite::Offline(message) => {
                if !ok {
                    if let Some(a) = self.account_mut(user) {
                        a.offline_count = a.offline_count.saturating_sub(1);
                    }
                    self.bounce(&message, StanzaError::new(StanzaCondition::ServiceUnavailable));
                }
            }
        }
    }

    /// Emit a write for `user` that keeps `origin` unhandled and the account
    /// loaded until it is confirmed.
    pub(crate) fn write(
        &mut self,
        user: &Jid,
        request: super::storage::StorageRequest,
        after: AfterWrite,
        origin: Option<Origin>,
    ) {
        self.hold(origin);
        self.account_busy(user, true);
        self.request(
            request,
            Pending::Write {
                user: user.clone(),
                after,
                origin,
            },
        );
    }

    /// Whether a session may start another storage request; if so, count it.
    pub(crate) fn request_slot(&mut self, sid: SessionId) -> bool {
        let max = self.config.limits.max_pending_requests;
        match self.sessions.get_mut(&sid) {
            Some(s) if s.outstanding < max => {
                s.outstanding += 1;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn request_done(&mut self, sid: SessionId) {
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.outstanding = s.outstanding.saturating_sub(1);
        }
    }

    /// Send an error answering `req` to the session that sent it.
    pub(crate) fn reply_error_to(&mut self, sid: SessionId, req: &Element, err: StanzaError) {
        if let Some(reply) = stanza::error_reply(req, &err) {
            self.deliver(sid, reply);
        }
    }
}
