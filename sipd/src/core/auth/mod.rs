//! Digest authentication of REGISTER (401, RFC 3261 §22.2) and of requests
//! from local users (407, §22.3), with MD5 and SHA-256 (RFC 8760).
//!
//! Order of checks, cheapest first, so a guesser costs no database lookup
//! until its request is well-formed and fresh:
//! 1. credentials for our realm present, else challenge;
//! 2. the source has not failed too often, else drop silently;
//! 3. algorithm offered, qop `auth` (or absent when `allow_no_qop`), else challenge;
//! 4. nonce ours and for this realm, else challenge; expired, else `stale=true`
//!    (without a lookup: the response is not checked for stale nonces);
//! 5. username equals the From user (and the To user for REGISTER), else 403;
//!    digest `uri` equals the Request-URI, else 403;
//! 6. look up the keys; compare the response in constant time; a mismatch or
//!    unknown user counts a failure and challenges again;
//! 7. nonce-count strictly above the last one seen for this nonce (qop-less
//!    nonces are single-use), else challenge with `stale=true`.

pub(crate) mod digest;
pub(crate) mod nonce;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rtc_daemon::ratelimit::KeyedLimiter;
use rtc_sip::uri::percent_decode;
use rtc_sip::{Challenge, Credentials, DigestCredentials, Message, Uri};

use super::config::{AuthConfig, DigestAlgorithm};
use super::types::DigestKeys;
use digest::{expected_response, Qop};
use nonce::{NonceCheck, NonceCounts, Nonces};

/// The outcome of the checks that need no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Precheck {
    /// Challenge (again), with `stale=true` when asked.
    Challenge { stale: bool },
    /// Refuse with this status and reason.
    Refuse(u16, &'static str),
    /// The source is throttled: drop without answering.
    Drop,
    /// Fetch this user's keys, then call [`Auth::verify`].
    Lookup { user: String },
}

/// The outcome of checking the response against the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Authenticated.
    Ok,
    /// Wrong response or unknown user: counted, challenge again.
    Failed,
    /// Right response but a replayed nonce-count: challenge with `stale=true`.
    Replay,
}

/// Nonces, replay records and failure throttling.
#[derive(Debug)]
pub(crate) struct Auth {
    cfg: AuthConfig,
    nonces: Nonces,
    counts: NonceCounts,
    failures: KeyedLimiter<IpAddr>,
}

/// The Digest credentials of `msg` for `realm`, from Authorization
/// (`proxy` false) or Proxy-Authorization headers.
pub(crate) fn credentials_for<'a>(
    msg: &Message<'a>,
    realm: &str,
    proxy: bool,
) -> Option<DigestCredentials<'a>> {
    let all: Vec<_> = if proxy {
        msg.proxy_authorizations().collect()
    } else {
        msg.authorizations().collect()
    };
    all.into_iter().find_map(|c| match c {
        Ok(Credentials::Digest(d)) if d.realm.eq_ignore_ascii_case(realm.as_bytes()) => Some(d),
        _ => None,
    })
}

fn user_of(uri: Uri<'_>) -> Option<Vec<u8>> {
    uri.as_sip()
        .and_then(|u| u.user())
        .map(|u| percent_decode(u).into_owned())
}

/// The digest `uri` must name the Request-URI: byte-equal, or the same
/// scheme, user, host and port (clients differ on URI parameters).
fn uri_matches(digest_uri: &[u8], ruri: Uri<'_>) -> bool {
    if digest_uri == ruri.as_bytes() {
        return true;
    }
    match (Uri::parse(digest_uri), ruri) {
        (Ok(Uri::Sip(a)), Uri::Sip(b)) => {
            a.is_secure() == b.is_secure()
                && a.user() == b.user()
                && a.host_raw().eq_ignore_ascii_case(b.host_raw())
                && a.port() == b.port()
        }
        _ => false,
    }
}

impl Auth {
    pub(crate) fn new(cfg: AuthConfig, key: [u8; 32], epoch: Instant) -> Auth {
        let lifetime = Duration::from_secs(cfg.nonce_lifetime_secs);
        Auth {
            nonces: Nonces::new(key, epoch, lifetime),
            counts: NonceCounts::new(cfg.max_tracked_nonces),
            failures: KeyedLimiter::new(cfg.failures, cfg.max_tracked_sources),
            cfg,
        }
    }

    /// Apply a reloaded configuration; nonce records are kept.
    pub(crate) fn reconfigure(&mut self, cfg: AuthConfig, key: [u8; 32], epoch: Instant) {
        self.nonces = Nonces::new(key, epoch, Duration::from_secs(cfg.nonce_lifetime_secs));
        self.failures.set_limit(cfg.failures);
        self.cfg = cfg;
    }

    /// The challenge header values to send, one per configured algorithm.
    pub(crate) fn challenges(
        &self,
        realm: &str,
        stale: bool,
        salt: u64,
        now: Instant,
    ) -> Vec<Vec<u8>> {
        let nonce = self.nonces.issue(realm, salt, now);
        self.cfg
            .algorithms
            .iter()
            .filter_map(|a| {
                let c = Challenge {
                    realm,
                    nonce: &nonce,
                    opaque: None,
                    algorithm: a.wire(),
                    qop_auth: true,
                    stale,
                };
                let mut v = Vec::with_capacity(128);
                c.write(&mut v).ok().map(|()| v)
            })
            .collect()
    }

    pub(crate) fn precheck(
        &self,
        msg: &Message<'_>,
        realm: &str,
        register: bool,
        source: IpAddr,
        now: Instant,
    ) -> Precheck {
        let Some(c) = credentials_for(msg, realm, !register) else {
            return Precheck::Challenge { stale: false };
        };
        if self.failures.is_limited(&source, now) {
            return Precheck::Drop;
        }
        let offered = DigestAlgorithm::from_credentials(c.algorithm())
            .filter(|a| self.cfg.algorithms.contains(a));
        let qop_ok = match c.qop {
            Some(q) => q.eq_ignore_ascii_case(b"auth"),
            None => self.cfg.allow_no_qop,
        };
        if offered.is_none() || !qop_ok {
            return Precheck::Challenge { stale: false };
        }
        match self.nonces.check(c.nonce, realm, now) {
            NonceCheck::Valid(_) => {}
            NonceCheck::Stale => return Precheck::Challenge { stale: true },
            NonceCheck::Invalid => return Precheck::Challenge { stale: false },
        }
        let from_user = msg.from().ok().and_then(|a| user_of(a.uri()));
        let to_user = msg.to().ok().and_then(|a| user_of(a.uri()));
        let name = percent_decode(c.username);
        if from_user.as_deref() != Some(&name[..])
            || (register && to_user.as_deref() != Some(&name[..]))
        {
            return Precheck::Refuse(403, "Forbidden (authentication user mismatch)");
        }
        let Some(ruri) = msg.request_uri() else {
            return Precheck::Refuse(400, "Bad Request");
        };
        if !uri_matches(c.uri, ruri) {
            return Precheck::Refuse(403, "Forbidden (digest uri mismatch)");
        }
        match String::from_utf8(name.into_owned()) {
            Ok(user) => Precheck::Lookup { user },
            Err(_) => Precheck::Refuse(403, "Forbidden (authentication user mismatch)"),
        }
    }

    /// Check the response with the keys the shell found (`None`: no such user).
    pub(crate) fn verify(
        &mut self,
        msg: &Message<'_>,
        realm: &str,
        register: bool,
        keys: Option<&DigestKeys>,
        source: IpAddr,
        now: Instant,
    ) -> Verdict {
        let (Some(c), Some(method)) = (credentials_for(msg, realm, !register), msg.method()) else {
            return Verdict::Failed;
        };
        let alg = DigestAlgorithm::from_credentials(c.algorithm());
        let ha1 = match (alg, keys) {
            (Some(DigestAlgorithm::Md5), Some(DigestKeys { md5: Some(k), .. })) => {
                Some(hex::encode(k))
            }
            (
                Some(DigestAlgorithm::Sha256),
                Some(DigestKeys {
                    sha256: Some(k), ..
                }),
            ) => Some(hex::encode(k)),
            _ => None,
        };
        let issued = match self.nonces.check(c.nonce, realm, now) {
            NonceCheck::Valid(t) => Some(t),
            _ => None,
        };
        let qop = match (c.qop, c.nc, c.cnonce) {
            (Some(_), Some(nc), Some(cnonce)) => Some(Qop { nc, cnonce }),
            _ => None,
        };
        let good = match (alg, ha1, issued) {
            (Some(alg), Some(ha1), Some(_)) => {
                let want = expected_response(alg, &ha1, method.as_bytes(), c.uri, c.nonce, qop);
                c.response_matches(want.as_bytes())
            }
            _ => false,
        };
        if !good {
            // Take a token; once the bucket is empty the source's credentials are dropped.
            self.failures.check(&source, now);
            return Verdict::Failed;
        }
        let fresh = issued.is_some_and(|t| self.counts.accept(c.nonce, t, qop.map(|q| q.nc)));
        if fresh {
            Verdict::Ok
        } else {
            Verdict::Replay
        }
    }

    /// Periodic cleanup of expired records.
    pub(crate) fn purge(&mut self, now: Instant) {
        self.counts
            .purge(self.nonces.now_secs(now), self.nonces.lifetime_secs());
        self.failures.purge_idle(now);
    }
}
