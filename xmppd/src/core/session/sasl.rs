//! SASL negotiation (RFC 6120 §6): SCRAM-SHA-1/-256 with `-PLUS` channel
//! binding (RFC 5802, RFC 7677, RFC 9266, XEP-0440) and PLAIN over TLS
//! (RFC 4616), with per-source failure throttling.
//!
//! Unknown users are not revealed: SCRAM runs to the end with a salt
//! derived from a server secret and fails at the proof, like a wrong
//! password.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rtc_xmlstream::{ns, Element};

use super::negotiation::{trim_xml_whitespace, Mechanism};
use crate::core::conn::Stage;
use crate::core::error::StreamCondition;
use crate::core::jid::Jid;
use crate::core::pending::Pending;
use crate::core::scram::{self, CbindFlag, ClientFirst, ScramHash, ScramKeys};
use crate::core::server::Server;
use crate::core::storage::{StorageError, StorageRequest, StoredCredentials};
use crate::core::types::{ConnId, Event};

/// SASL failure conditions (RFC 6120 §6.5), in RFC order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaslCondition {
    /// RFC 6120 §6.5.1
    Aborted,
    /// RFC 6120 §6.5.3
    EncryptionRequired,
    /// RFC 6120 §6.5.4
    IncorrectEncoding,
    /// RFC 6120 §6.5.6
    InvalidAuthzid,
    /// RFC 6120 §6.5.7
    InvalidMechanism,
    /// RFC 6120 §6.5.8
    MalformedRequest,
    /// RFC 6120 §6.5.10
    NotAuthorized,
    /// RFC 6120 §6.5.12
    TemporaryAuthFailure,
}

impl SaslCondition {
    fn as_str(self) -> &'static str {
        match self {
            Self::Aborted => "aborted",
            Self::EncryptionRequired => "encryption-required",
            Self::IncorrectEncoding => "incorrect-encoding",
            Self::InvalidAuthzid => "invalid-authzid",
            Self::InvalidMechanism => "invalid-mechanism",
            Self::MalformedRequest => "malformed-request",
            Self::NotAuthorized => "not-authorized",
            Self::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

/// An exchange in progress.
#[derive(Debug)]
pub(crate) enum SaslState {
    /// `<auth/>` carried no initial response; an empty challenge was sent.
    AwaitInitial(Mechanism),
    /// Waiting for the account's credentials from storage.
    Lookup(Box<Attempt>),
    /// server-first sent; waiting for client-final (RFC 5802 §5).
    ScramFinal(Box<ScramFinal>),
}

/// What was asked, pending the credentials.
#[derive(Debug)]
pub(crate) enum Attempt {
    Scram {
        hash: ScramHash,
        plus: bool,
        first: ClientFirst,
        user: Jid,
        cb_data: Vec<u8>,
    },
    Plain {
        user: Jid,
        password: String,
    },
}

#[derive(Debug)]
pub(crate) struct ScramFinal {
    hash: ScramHash,
    plus: bool,
    first: ClientFirst,
    user: Jid,
    cb_data: Vec<u8>,
    server_first: String,
    nonce: String,
    keys: Option<ScramKeys>,
}

fn failure(condition: SaslCondition, text: Option<&str>) -> Element {
    let mut f = Element::new("failure", ns::SASL).child(Element::new(condition.as_str(), ns::SASL));
    if let Some(t) = text {
        f.push_child(Element::new("text", ns::SASL).attr_ns(ns::XML, "lang", "en").text(t));
    }
    f
}

impl Server {
    /// `<auth mechanism='...'>` (RFC 6120 §6.4.2).
    pub(crate) fn sasl_auth(&mut self, conn: ConnId, e: &Element) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stage = Stage::Open;
        if c.tls.is_none() && self.config.require_encryption {
            self.write_element(conn, &failure(SaslCondition::EncryptionRequired, None));
            return;
        }
        let ip = c.peer.ip();
        if self.auth_failures.is_limited(&ip, self.now) {
            self.sasl_failed(conn, None, Some("Too many failed authentication attempts"));
            return;
        }
        let requested = e.attribute("mechanism").unwrap_or_default();
        let Some(mech) = self
            .mechanisms(conn)
            .into_iter()
            .find(|m| m.name() == requested)
        else {
            self.write_element(conn, &failure(SaslCondition::InvalidMechanism, None));
            return;
        };
        let text = e.text_content();
        if text.trim().is_empty() {
            self.set_stage(conn, Stage::Sasl(Box::new(SaslState::AwaitInitial(mech))));
            self.write_element(conn, &Element::new("challenge", ns::SASL));
            return;
        }
        self.sasl_initial(conn, mech, &text);
    }

    /// `<response/>` (RFC 6120 §6.4.3).
    pub(crate) fn sasl_response(&mut self, conn: ConnId, e: &Element) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = std::mem::replace(&mut c.stage, Stage::Open);
        let Stage::Sasl(state) = state else {
            self.write_element(conn, &failure(SaslCondition::MalformedRequest, None));
            return;
        };
        match *state {
            SaslState::AwaitInitial(mech) => self.sasl_initial(conn, mech, &e.text_content()),
            SaslState::ScramFinal(f) => self.scram_final(conn, *f, &e.text_content()),
            SaslState::Lookup(_) => {
                self.write_element(conn, &failure(SaslCondition::MalformedRequest, None))
            }
        }
    }

    /// `<abort/>` (RFC 6120 §6.4.4).
    pub(crate) fn sasl_abort(&mut self, conn: ConnId) {
        self.set_stage(conn, Stage::Open);
        self.write_element(conn, &failure(SaslCondition::Aborted, None));
    }

    fn set_stage(&mut self, conn: ConnId, stage: Stage) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stage = stage;
        }
    }

    fn sasl_initial(&mut self, conn: ConnId, mech: Mechanism, text: &str) {
        let data = match text.trim() {
            "=" => Vec::new(),
            t => match B64.decode(t) {
                Ok(d) => d,
                Err(_) => {
                    self.write_element(conn, &failure(SaslCondition::IncorrectEncoding, None));
                    return;
                }
            },
        };
        let Ok(data) = String::from_utf8(data) else {
            self.write_element(conn, &failure(SaslCondition::MalformedRequest, None));
            return;
        };
        let attempt = match mech {
            Mechanism::Scram { hash, plus } => self.scram_first(conn, hash, plus, &data),
            Mechanism::Plain => self.plain(conn, &data),
        };
        let attempt = match attempt {
            Ok(a) => a,
            Err((condition, user)) => {
                if condition == SaslCondition::NotAuthorized {
                    self.sasl_failed(conn, user, None);
                } else {
                    self.write_element(conn, &failure(condition, None));
                }
                return;
            }
        };
        let user = match &attempt {
            Attempt::Scram { user, .. } | Attempt::Plain { user, .. } => user.clone(),
        };
        self.set_stage(conn, Stage::Sasl(Box::new(SaslState::Lookup(Box::new(attempt)))));
        let id = self.request(StorageRequest::LoadCredentials { user }, Pending::Credentials { conn });
        self.wait_for(conn, id);
    }

    fn domain_of(&self, conn: ConnId) -> String {
        self.conns
            .get(&conn)
            .and_then(|c| c.domain.clone())
            .unwrap_or_default()
    }

    fn scram_first(
        &mut self,
        conn: ConnId,
        hash: ScramHash,
        plus: bool,
        data: &str,
    ) -> Result<Attempt, (SaslCondition, Option<String>)> {
        let first = scram::parse_client_first(data).map_err(|_| (SaslCondition::MalformedRequest, None))?;
        let username = Some(first.username.clone());
        let domain = self.domain_of(conn);
        let user = Jid::bare_from(&first.username, &domain)
            .map_err(|_| (SaslCondition::NotAuthorized, username.clone()))?;
        check_authzid(first.authzid.as_deref(), &user)?;
        let offered_plus = !self.channel_bindings(conn).is_empty();
        let cb_data = match (&first.cbind, plus) {
            (CbindFlag::Used(kind), true) => self
                .channel_bindings(conn)
                .into_iter()
                .find(|(k, _)| k == kind)
                .map(|(_, d)| d)
                .ok_or((SaslCondition::NotAuthorized, username.clone()))?,
            (CbindFlag::Used(_), false) | (_, true) => {
                return Err((SaslCondition::MalformedRequest, username))
            }
            // RFC 5802 §6: 'y' while we offer channel binding is a downgrade.
            (CbindFlag::ClientSupports, false) if offered_plus => {
                return Err((SaslCondition::NotAuthorized, username))
            }
            _ => Vec::new(),
        };
        Ok(Attempt::Scram {
            hash,
            plus,
            first,
            user,
            cb_data,
        })
    }

    fn plain(&mut self, conn: ConnId, data: &str) -> Result<Attempt, (SaslCondition, Option<String>)> {
        let mut parts = data.split('\0');
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err((SaslCondition::MalformedRequest, None));
        };
        let domain = self.domain_of(conn);
        let user = Jid::bare_from(authcid, &domain)
            .map_err(|_| (SaslCondition::NotAuthorized, Some(authcid.to_owned())))?;
        check_authzid((!authzid.is_empty()).then_some(authzid), &user)?;
        Ok(Attempt::Plain {
            user,
            password: password.to_owned(),
        })
    }

    /// The credentials for a pending attempt arrived.
    pub(crate) fn credentials_loaded(
        &mut self,
        conn: ConnId,
        creds: Result<Option<StoredCredentials>, StorageError>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = std::mem::replace(&mut c.stage, Stage::Open);
        let Stage::Sasl(state) = state else {
            return;
        };
        let SaslState::Lookup(attempt) = *state else {
            return;
        };
        let creds = match creds {
            Ok(c) => c,
            Err(_) => {
                self.write_element(conn, &failure(SaslCondition::TemporaryAuthFailure, None));
                return;
            }
        };
        match *attempt {
            Attempt::Plain { user, password } => {
                let ok = creds.as_ref().is_some_and(|c| {
                    c.keys(ScramHash::Sha256)
                        .map(|k| k.matches_password(ScramHash::Sha256, &password))
                        .or_else(|| {
                            c.keys(ScramHash::Sha1)
                                .map(|k| k.matches_password(ScramHash::Sha1, &password))
                        })
                        .unwrap_or(false)
                });
                if ok {
                    self.sasl_success(conn, user, Mechanism::Plain, None);
                } else {
                    let name = user.node().map(str::to_owned);
                    self.sasl_failed(conn, name, None);
                }
            }
            Attempt::Scram {
                hash,
                plus,
                first,
                user,
                cb_data,
            } => {
                let keys = creds.and_then(|c| c.keys(hash).cloned());
                let (salt, iterations) = match &keys {
                    Some(k) => (k.salt.clone(), k.iterations),
                    None => (self.fake_salt(&user), scram::DEFAULT_ITERATIONS),
                };
                let snonce = self.random_token(24);
                let server_first = scram::server_first(&first.nonce, &snonce, &salt, iterations);
                let nonce = format!("{}{snonce}", first.nonce);
                let challenge = Element::new("challenge", ns::SASL).text(B64.encode(&server_first));
                self.write_element(conn, &challenge);
                let fin = ScramFinal {
                    hash,
                    plus,
                    first,
                    user,
                    cb_data,
                    server_first,
                    nonce,
                    keys,
                };
                self.set_stage(conn, Stage::Sasl(Box::new(SaslState::ScramFinal(Box::new(fin)))));
            }
        }
    }

    fn scram_final(&mut self, conn: ConnId, f: ScramFinal, text: &str) {
        let name = f.user.node().map(str::to_owned);
        let Ok(data) = B64.decode(text.trim()) else {
            self.write_element(conn, &failure(SaslCondition::IncorrectEncoding, None));
            return;
        };
        let Ok(last) = std::str::from_utf8(&data).map_err(|_| ()).and_then(|d| {
            scram::parse_client_final(d).map_err(|_| ())
        }) else {
            self.write_element(conn, &failure(SaslCondition::MalformedRequest, None));
            return;
        };
        let mut expected_cb = f.first.gs2_header.as_bytes().to_vec();
        expected_cb.extend_from_slice(&f.cb_data);
        let am = scram::auth_message(&f.first, &f.server_first, &last);
        let signature = (last.nonce == f.nonce && last.channel_binding == expected_cb)
            .then_some(())
            .and(f.keys.as_ref())
            .and_then(|k| k.verify_proof(f.hash, am.as_bytes(), &last.proof));
        match signature {
            Some(sig) => {
                let mech = Mechanism::Scram {
                    hash: f.hash,
                    plus: f.plus,
                };
                self.sasl_success(conn, f.user, mech, Some(scram::server_final(&sig)));
            }
            None => self.sasl_failed(conn, name, None),
        }
    }

    /// A salt for an account that does not exist, stable per user so that
    /// probing twice does not reveal anything either.
    fn fake_salt(&self, user: &Jid) -> Vec<u8> {
        let mut salt = ScramHash::Sha256.hmac(&self.secret, user.to_string().as_bytes());
        salt.truncate(16);
        salt
    }

    fn sasl_success(&mut self, conn: ConnId, user: Jid, mech: Mechanism, data: Option<String>) {
        let mut success = Element::new("success", ns::SASL);
        if let Some(d) = data {
            success.push_text(&B64.encode(d));
        }
        self.write_element(conn, &success);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.user = Some(user.clone());
        // Channel-binding data is only for SASL (RFC 5929, RFC 9266): drop it
        // now so an idle authenticated connection does not keep it.
        if let Some(tls) = &mut c.tls {
            tls.server_end_point = None;
            tls.exporter = None;
        }
        c.stage = Stage::ExpectHeader;
        c.header_sent = false;
        c.reader.set_authenticated(true);
        c.reader.reset();
        // Whitespace after the client's last SASL element belongs to the old
        // stream: the new one may open with an XML declaration (§4.3.3).
        let rest = c.reader.take_unparsed();
        let rest = trim_xml_whitespace(&rest);
        c.skip_whitespace = rest.is_empty();
        c.reader.feed(rest);
        self.emit(Event::Authenticated {
            conn,
            user,
            mechanism: mech.name(),
        });
    }

    /// Count a failed attempt against the connection and its source, and
    /// close the stream after too many (RFC 6120 §6.4.5).
    fn sasl_failed(&mut self, conn: ConnId, user: Option<String>, text: Option<&str>) {
        let now = self.now;
        let limit = self.config.limits.auth_attempts_per_connection;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stage = Stage::Open;
        c.auth_attempts += 1;
        let attempts = c.auth_attempts;
        let peer = c.peer.ip();
        self.auth_failures.check(&peer, now);
        self.emit(Event::AuthFailed { conn, peer, user });
        self.write_element(conn, &failure(SaslCondition::NotAuthorized, text));
        if attempts >= limit {
            self.stream_error(conn, StreamCondition::PolicyViolation);
        }
    }
}

/// Only the account itself may be the authorization identity (no proxy
/// authentication).
fn check_authzid(authzid: Option<&str>, user: &Jid) -> Result<(), (SaslCondition, Option<String>)> {
    match authzid {
        None => Ok(()),
        Some(a) if Jid::parse(a).is_ok_and(|j| &j == user) => Ok(()),
        Some(_) => Err((SaslCondition::InvalidAuthzid, None)),
    }
}
