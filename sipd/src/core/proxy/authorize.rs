//! Digest authentication of requests in the proxy pipeline (RFC 3261 §22):
//! challenge, park for the keys, verify, then continue.

use std::time::Instant;

use rtc_sip::{HeaderName, Message};

use crate::core::auth::{credentials_for, Precheck, Verdict};
use crate::core::engine::Core;
use crate::core::table::Stage;
use crate::core::types::{DigestKeys, Event, Flow, LookupFailed};

impl Core {
    pub(super) fn authenticate(
        &mut self,
        sid: u64,
        flow: &Flow,
        msg: &Message<'_>,
        realm: String,
        register: bool,
        now: Instant,
    ) {
        match self
            .auth
            .precheck(msg, &realm, register, flow.remote.ip(), now)
        {
            Precheck::Challenge { stale } => self.challenge(sid, msg, &realm, register, stale, now),
            Precheck::Refuse(code, reason) => self.reply(sid, msg, code, reason, &[], now),
            Precheck::Drop => {
                self.metrics.auth_throttled += 1;
                self.remove_server(sid);
            }
            Precheck::Lookup { user } => {
                let Some(id) = self.park(sid, msg, now) else {
                    return;
                };
                if let Some(t) = self.servers.get_mut(&sid) {
                    t.stage = Stage::Auth {
                        lookup: id.0,
                        realm: realm.clone(),
                        register,
                    };
                }
                let bindings_of = if register { self.aor_of(msg) } else { None };
                self.emit(Event::NeedCredentials { id, user, realm, bindings_of });
            }
        }
    }

    /// 401 with WWW-Authenticate (REGISTER) or 407 with Proxy-Authenticate,
    /// one challenge per configured algorithm (RFC 8760 §2.4).
    fn challenge(
        &mut self,
        sid: u64,
        msg: &Message<'_>,
        realm: &str,
        register: bool,
        stale: bool,
        now: Instant,
    ) {
        let salt = self.random();
        let values = self.auth.challenges(realm, stale, salt, now);
        let (status, reason, name) = if register {
            (401, "Unauthorized", HeaderName::WwwAuthenticate)
        } else {
            (
                407,
                "Proxy Authentication Required",
                HeaderName::ProxyAuthenticate,
            )
        };
        let extra: Vec<(&str, &[u8])> = values
            .iter()
            .map(|v| (name.as_str(), v.as_slice()))
            .collect();
        self.metrics.challenges += 1;
        self.reply(sid, msg, status, reason, &extra, now);
    }

    pub(crate) fn resume_auth(
        &mut self,
        sid: u64,
        realm: &str,
        register: bool,
        keys: Result<Option<DigestKeys>, LookupFailed>,
        now: Instant,
    ) {
        let Some((raw, flow)) = self.resumable(sid) else {
            return;
        };
        let Ok(msg) = Message::parse_datagram(&raw, &self.limits) else {
            return;
        };
        let keys = match keys {
            Ok(k) => k,
            Err(LookupFailed) => {
                self.reply(sid, &msg, 500, "Server Internal Error (database)", &[], now);
                return;
            }
        };
        match self
            .auth
            .verify(&msg, realm, register, keys.as_ref(), flow.remote.ip(), now)
        {
            Verdict::Ok => {
                if let Some(t) = self.servers.get_mut(&sid) {
                    t.local_caller = true;
                    t.strip_realm = Some(realm.to_owned());
                }
                self.after_auth(sid, &msg, now);
            }
            Verdict::Failed => {
                self.metrics.auth_failures += 1;
                let user = credentials_for(&msg, realm, !register)
                    .map(|c| String::from_utf8_lossy(c.username).into_owned())
                    .unwrap_or_default();
                self.emit(Event::AuthFailed {
                    source: flow.remote.ip(),
                    user,
                    realm: realm.to_owned(),
                });
                self.challenge(sid, &msg, realm, register, false, now);
            }
            Verdict::Replay => {
                self.metrics.nonce_replays += 1;
                self.challenge(sid, &msg, realm, register, true, now);
            }
        }
    }
}
