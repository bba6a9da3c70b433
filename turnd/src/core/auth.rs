//! Long-term credential checks for TURN requests (RFC 8489 §9.2.4), REST
//! credentials, anonymous mode, and per-source failure throttling.
//!
//! Order of checks, and where it deliberately differs from the RFC's list:
//!
//! 1. No MESSAGE-INTEGRITY(-SHA256): 401 with REALM, NONCE, PASSWORD-ALGORITHMS.
//! 2. The source IP has exhausted its failure budget: the request is dropped
//!    unanswered and unverified. No 429 exists in STUN, and answering 401 would
//!    still cost a key lookup and an HMAC per guess; a silent drop gives a brute
//!    forcer nothing and costs nothing. Counted in `Metrics::auth_throttled`.
//! 3. USERNAME/USERHASH, REALM or NONCE missing: 400.
//! 4. NONCE not ours, not this client's, or expired: 438 with a fresh nonce.
//!    The RFC checks the HMAC before staleness; checking the stateless nonce
//!    first means a request without a valid nonce never triggers a database
//!    lookup or an HMAC computation.
//! 5. PASSWORD-ALGORITHMS bid-down protection (RFC 8489 §9.2.4): 400.
//! 6. Wrong realm, unknown user, expired REST name, wrong key: 401, and one
//!    token is taken from the source's failure bucket. The buckets are shared
//!    by all workers ([`super::throttle`]): spreading guesses over source
//!    ports, and so over workers, gains nothing.

use std::net::IpAddr;
use std::time::Instant;

use rtc_stun::attr::{
    Nonce, PasswordAlgorithm as PaAttr, PasswordAlgorithms, Realm, Userhash, Username,
};
use rtc_stun::Message;

use super::config::PasswordAlgorithm;
use super::credentials::{parse_rest_username, rest_password, KeyQuery, Known, UserKeys};
use super::nonce::{self, NonceStatus, FEATURE_PASSWORD_ALGORITHMS, FEATURE_USERNAME_ANONYMITY};
use super::reply::{KeyBytes, Signer};
use super::server::Server;
use super::shared::UserId;
use super::types::FiveTuple;

/// The security features every nonce of ours announces (RFC 8489 §9.2).
pub(crate) const NONCE_FEATURES: u8 = FEATURE_PASSWORD_ALGORITHMS | FEATURE_USERNAME_ANONYMITY;

/// A request that passed authentication.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    /// The user name the allocation is bound to (RFC 8656 §5: later requests
    /// must use the same, or get 441).
    pub username: String,
    /// The quota identity.
    pub user: UserId,
    /// How to sign responses.
    pub signer: Signer,
}

/// The outcome of [`Server::authenticate`].
#[derive(Debug)]
pub(crate) enum Verdict {
    Pass(Authenticated),
    /// 401 or 438 with REALM, a fresh NONCE and PASSWORD-ALGORITHMS, unsigned.
    Challenge(u16),
    /// A plain unsigned error (400, or 500 when the key store failed).
    Reject(u16),
    /// The shell must look this up first.
    Lookup(KeyQuery),
    /// Say nothing.
    Drop,
}

/// A just-received lookup answer, used before (or instead of) the cache.
pub(crate) type Fresh<'a> = Option<(&'a KeyQuery, &'a Known)>;

fn verify(msg: &Message<'_>, key: &KeyBytes) -> Option<Signer> {
    if msg.has_integrity_sha256() {
        msg.verify_integrity_sha256(key.as_slice()).ok().map(|()| Signer::Sha256(key.clone()))
    } else {
        msg.verify_integrity(key.as_slice()).ok().map(|()| Signer::Sha1(key.clone()))
    }
}

fn select_key(keys: &UserKeys, alg: PasswordAlgorithm) -> Option<KeyBytes> {
    match alg {
        PasswordAlgorithm::Md5 => keys.md5.map(KeyBytes::Md5),
        PasswordAlgorithm::Sha256 => keys.sha256.map(KeyBytes::Sha256),
    }
}

impl Server {
    /// The PASSWORD-ALGORITHMS we offer, most preferred first.
    pub(crate) fn offered_algorithms(&self) -> Vec<PasswordAlgorithm> {
        let list = &self.config.auth.password_algorithms;
        if list.is_empty() {
            vec![PasswordAlgorithm::Md5]
        } else {
            list.clone()
        }
    }

    fn auth_failure(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        self.metrics.auth_failures += 1;
        self.shared.record_auth_failure(ip, now);
        Verdict::Challenge(401)
    }

    fn cached(&self, query: &KeyQuery, fresh: Fresh<'_>, now: Instant) -> Option<Known> {
        if let Some((q, k)) = fresh {
            if q == query {
                return Some(k.clone());
            }
        }
        self.keys.lookup(&self.config.realm, query, now).cloned()
    }

    /// Authenticate a TURN request from `from` (RFC 8489 §9.2.4).
    pub(crate) fn authenticate(&mut self, msg: &Message<'_>, from: &FiveTuple, now: Instant, fresh: Fresh<'_>) -> Verdict {
        let ip = from.client.ip();
        let config = std::sync::Arc::clone(&self.config);
        if config.auth.anonymous {
            let user = UserId { realm: config.realm.as_str().into(), name: ip.to_string().into() };
            return Verdict::Pass(Authenticated { username: String::new(), user, signer: Signer::None });
        }
        if !msg.has_integrity() && !msg.has_integrity_sha256() {
            return Verdict::Challenge(401);
        }
        if self.shared.is_throttled(ip, now) {
            self.metrics.auth_throttled += 1;
            return Verdict::Drop;
        }
        let (Ok(username), Ok(userhash), Ok(Some(realm)), Ok(Some(nonce))) =
            (msg.attr::<Username>(), msg.attr::<Userhash>(), msg.attr::<Realm>(), msg.attr::<Nonce>())
        else {
            return Verdict::Reject(400);
        };
        if username.is_none() && userhash.is_none() {
            return Verdict::Reject(400);
        }
        let unix = self.unix_now(now);
        let features = match nonce::check(
            self.shared.nonce_key(),
            nonce.as_str().as_bytes(),
            ip,
            unix,
            config.auth.nonce_lifetime_secs,
        ) {
            NonceStatus::Valid { features } => features,
            NonceStatus::Stale | NonceStatus::Invalid => return Verdict::Challenge(438),
        };
        let algorithm = match self.negotiated_algorithm(msg, features) {
            Some(a) => a,
            None => return Verdict::Reject(400),
        };
        if realm.as_str() != config.realm {
            return self.auth_failure(ip, now);
        }
        if let Some(name) = username {
            let name = name.as_str();
            if let Some(rest) = &config.auth.rest {
                if let Some(parsed) = parse_rest_username(name, rest.separator) {
                    if parsed.expiry < unix {
                        return self.auth_failure(ip, now);
                    }
                    let mut secrets: Vec<Vec<u8>> =
                        rest.static_secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
                    if rest.database_secrets {
                        match self.cached(&KeyQuery::RestSecrets, fresh, now) {
                            Some(Known::Secrets(db)) => secrets.extend(db),
                            Some(_) => {}
                            None => return Verdict::Lookup(KeyQuery::RestSecrets),
                        }
                    }
                    let user_part = if parsed.user.is_empty() { name } else { parsed.user };
                    for secret in &secrets {
                        let Some(password) = rest_password(secret, name) else { continue };
                        let keys = UserKeys::derive(name, &config.realm, &password);
                        if let Some(signer) = select_key(&keys, algorithm).and_then(|k| verify(msg, &k)) {
                            let user = UserId { realm: config.realm.as_str().into(), name: user_part.into() };
                            return Verdict::Pass(Authenticated { username: name.to_owned(), user, signer });
                        }
                    }
                    return self.auth_failure(ip, now);
                }
            }
        }
        if !config.auth.long_term {
            return self.auth_failure(ip, now);
        }
        let query = match (username, userhash) {
            (Some(u), _) => KeyQuery::Username(u.as_str().to_owned()),
            (None, Some(Userhash(h))) if features & FEATURE_USERNAME_ANONYMITY != 0 => KeyQuery::Userhash(h),
            _ => return Verdict::Reject(400),
        };
        match self.cached(&query, fresh, now) {
            None => Verdict::Lookup(query),
            Some(Known::User { username: canonical, keys }) => {
                let Some(signer) = select_key(&keys, algorithm).and_then(|k| verify(msg, &k)) else {
                    return self.auth_failure(ip, now);
                };
                let username = match query {
                    KeyQuery::Username(u) => u,
                    _ => canonical,
                };
                let user = UserId { realm: config.realm.as_str().into(), name: username.as_str().into() };
                Verdict::Pass(Authenticated { username, user, signer })
            }
            Some(_) => self.auth_failure(ip, now),
        }
    }

    /// RFC 8489 §9.2.4 PASSWORD-ALGORITHM(S) checks; `None` means 400.
    fn negotiated_algorithm(&self, msg: &Message<'_>, features: u8) -> Option<PasswordAlgorithm> {
        if features & FEATURE_PASSWORD_ALGORITHMS == 0 {
            return Some(PasswordAlgorithm::Md5);
        }
        match (msg.attr::<PasswordAlgorithms>(), msg.attr::<PaAttr>()) {
            (Ok(None), Ok(None)) => Some(PasswordAlgorithm::Md5),
            (Ok(Some(list)), Ok(Some(chosen))) => {
                let offered = self.offered_algorithms();
                let echoed = list.iter().map(|a| (a.algorithm.0, a.params.is_empty()));
                let expected = offered.iter().map(|a| (a.code(), true));
                if !echoed.eq(expected) || !chosen.params.is_empty() {
                    return None;
                }
                PasswordAlgorithm::from_code(chosen.algorithm.0).filter(|a| offered.contains(a))
            }
            _ => None,
        }
    }
}
