//! Long-term keys: derivation for REST credentials and a short-lived key cache.
//!
//! The core never sees the user database. It asks the shell for keys
//! ([`super::Event::NeedKey`]) and remembers answers for `key_cache_ttl_secs`,
//! so a busy server answers most requests synchronously while new, changed or
//! deleted users still take effect within a minute (or at once after
//! [`super::Server::forget_keys`]).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

/// The long-term keys of one user (RFC 8489 §9.2.2); either may be missing
/// (databases imported from coturn hold only the MD5 key).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserKeys {
    /// MD5(username ":" realm ":" password), coturn's and reTurn's "HA1".
    pub md5: Option<[u8; 16]>,
    /// SHA-256(username ":" realm ":" password).
    pub sha256: Option<[u8; 32]>,
}

impl UserKeys {
    /// Both keys derived from a plaintext password.
    pub fn derive(username: &str, realm: &str, password: &str) -> Self {
        let mut md5 = Md5::new();
        let mut sha = Sha256::new();
        for part in [username.as_bytes(), b":", realm.as_bytes(), b":", password.as_bytes()] {
            md5.update(part);
            sha.update(part);
        }
        Self { md5: Some(md5.finalize().into()), sha256: Some(sha.finalize().into()) }
    }
}

impl fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserKeys {{ md5: {}, sha256: {} }}", self.md5.is_some(), self.sha256.is_some())
    }
}

/// A REST user name split into its expiry and user part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestUsername<'a> {
    /// Unix time after which the credential is refused.
    pub expiry: u64,
    /// The user part (may be empty: coturn accepts a bare timestamp).
    pub user: &'a str,
}

/// Split a TURN REST user name: `<expiry><sep><user>` (coturn's layout), a bare
/// `<expiry>`, or `<user><sep><expiry>`. `None` if no part is a timestamp.
pub fn parse_rest_username(username: &str, sep: char) -> Option<RestUsername<'_>> {
    let ts = |s: &str| -> Option<u64> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if let Some(expiry) = ts(username) {
        return Some(RestUsername { expiry, user: "" });
    }
    if let Some((head, tail)) = username.split_once(sep) {
        if let Some(expiry) = ts(head) {
            return Some(RestUsername { expiry, user: tail });
        }
    }
    if let Some((head, tail)) = username.rsplit_once(sep) {
        if let Some(expiry) = ts(tail) {
            return Some(RestUsername { expiry, user: head });
        }
    }
    None
}

/// The REST password: base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &[u8], username: &str) -> Option<String> {
    let mut m = <Hmac<Sha1> as Mac>::new_from_slice(secret).ok()?;
    m.update(username.as_bytes());
    Some(STANDARD.encode(m.finalize().into_bytes()))
}

/// What the cache knows about one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// A user: its canonical name (resolves USERHASH) and keys.
    User {
        /// Canonical user name.
        username: String,
        /// Its keys.
        keys: UserKeys,
    },
    /// REST secrets of the realm.
    Secrets(Vec<Vec<u8>>),
    /// The shell said no such user (or no secret).
    Unknown,
}

/// Who a lookup is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyQuery {
    /// A USERNAME (RFC 8489 §14.3).
    Username(String),
    /// A USERHASH (RFC 8489 §14.4): SHA-256(username ":" realm).
    Userhash([u8; 32]),
    /// The realm's TURN REST shared secrets.
    RestSecrets,
}

#[derive(Debug)]
struct Entry {
    known: Known,
    expires: Instant,
}

/// Bounded cache of lookup answers keyed by (realm, query).
#[derive(Debug)]
pub(crate) struct KeyCache {
    map: HashMap<(String, KeyQuery), Entry>,
    capacity: usize,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { map: HashMap::new(), capacity: capacity.max(1) }
    }

    pub(crate) fn lookup(&self, realm: &str, q: &KeyQuery, now: Instant) -> Option<&Known> {
        // The tuple key needs an owned String; realms are short, lookups rare
        // compared with relayed packets.
        let e = self.map.get(&(realm.to_owned(), q.clone()))?;
        (now < e.expires).then_some(&e.known)
    }

    pub(crate) fn insert(&mut self, realm: &str, q: KeyQuery, known: Known, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        if self.map.len() >= self.capacity {
            self.map.retain(|_, e| now < e.expires);
        }
        if self.map.len() >= self.capacity {
            // Still full of live entries: drop an arbitrary one (HashMap order is
            // randomised, so an attacker cannot aim at a particular entry).
            if let Some(k) = self.map.keys().next().cloned() {
                self.map.remove(&k);
            }
        }
        self.map.insert((realm.to_owned(), q), Entry { known, expires: now + ttl });
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    type Split = Option<(u64, &'static str)>;

    /// (username, separator, expected (expiry, user))
    const REST_NAMES: &[(&str, char, Split)] = &[
        ("1700000000:alice", ':', Some((1_700_000_000, "alice"))),
        ("1700000000", ':', Some((1_700_000_000, ""))),
        ("alice:1700000000", ':', Some((1_700_000_000, "alice"))),
        ("1700000000:al:ice", ':', Some((1_700_000_000, "al:ice"))),
        ("1700000000-alice", '-', Some((1_700_000_000, "alice"))),
        ("alice", ':', None),
        ("alice:bob", ':', None),
        ("", ':', None),
        (":alice", ':', None),
        ("99999999999999999999999:alice", ':', None),
        ("-5:alice", ':', None),
    ];

    #[test]
    fn rest_username_table() {
        for (name, sep, expected) in REST_NAMES {
            let got = parse_rest_username(name, *sep).map(|r| (r.expiry, r.user));
            assert_eq!(got, *expected, "{name}");
        }
    }

    #[test]
    fn rest_password_matches_coturn_formula() {
        // printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac secret -binary | base64
        let p = rest_password(b"secret", "1700000000:alice").unwrap();
        assert_eq!(p, "d8soP47RbdIKLDUOpnJPVQyq5Ts=");
    }

    #[test]
    fn derived_keys_match_coreutils() {
        // printf '%s' 'roland:falcot.com:secret_password' | md5sum
        let k = UserKeys::derive("roland", "falcot.com", "secret_password");
        assert_eq!(hex::encode(k.md5.unwrap()), "3ac669c26660af60c9cb71dedf72d807");
        assert_eq!(
            hex::encode(k.sha256.unwrap()),
            "45c3ea3206c7cc7134790b2f3d2ee6456dd0ba956cc208f597971590b6f3ddd9"
        );
        assert_eq!(format!("{k:?}"), "UserKeys { md5: true, sha256: true }");
    }

    #[test]
    fn cache_entries_expire_and_capacity_is_bounded() {
        let t0 = Instant::now();
        let mut c = KeyCache::new(2);
        let q = |n: &str| KeyQuery::Username(n.to_owned());
        c.insert("r", q("a"), Known::Unknown, Duration::from_secs(60), t0);
        assert_eq!(c.lookup("r", &q("a"), t0), Some(&Known::Unknown));
        assert_eq!(c.lookup("other", &q("a"), t0), None);
        assert_eq!(c.lookup("r", &q("a"), t0 + Duration::from_secs(60)), None);
        c.insert("r", q("b"), Known::Unknown, Duration::from_secs(60), t0);
        c.insert("r", q("c"), Known::Unknown, Duration::from_secs(60), t0);
        assert_eq!(c.len(), 2);
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
