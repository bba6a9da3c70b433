//! Stateless NONCE values (RFC 8489 §9.2): no table to fill, nothing to flood.
//!
//! A nonce is the RFC 8489 §9.2 "nonce cookie" (`obMatJos2` plus the base64 of
//! the 24-bit security feature set) followed by base64url of
//! `issued (u64, unix seconds) || HMAC-SHA256(key, features || issued || client IP)[..12]`.
//! It is bound to the client's IP address, so a nonce captured elsewhere is useless,
//! and it expires `lifetime` seconds after it was issued (438 Stale Nonce then).
//! All workers share one key, so any worker accepts any worker's nonce.

use std::net::IpAddr;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The fixed prefix of a nonce carrying security features (RFC 8489 §9.2).
pub const NONCE_COOKIE: &str = "obMatJos2";

/// Security feature "Password algorithms" (RFC 8489 §18.1, bit 0; bit 0 is the
/// least significant bit per verified erratum 6290).
pub const FEATURE_PASSWORD_ALGORITHMS: u8 = 0x01;
/// Security feature "Username anonymity" (RFC 8489 §18.1, bit 1).
pub const FEATURE_USERNAME_ANONYMITY: u8 = 0x02;

const MAC_LEN: usize = 12;
const PAYLOAD_LEN: usize = 8 + MAC_LEN;
/// Clock skew tolerated for a nonce "issued in the future" (seconds).
const FUTURE_SKEW: u64 = 5;

/// The secret keying nonce MACs; generated once per process by the shell.
#[derive(Clone)]
pub struct NonceKey([u8; 32]);

impl NonceKey {
    /// A key from 32 random bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// What a received NONCE turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours, for this client, still fresh; carries its security feature bits.
    Valid {
        /// The low byte of the 24-bit security feature set.
        features: u8,
    },
    /// Ours but expired.
    Stale,
    /// Not ours, not for this client, or garbled.
    Invalid,
}

/// The truncated MAC; `None` only if HMAC refused the key, which it never does
/// (callers then fail closed).
fn mac(key: &NonceKey, features: u8, issued: u64, client: IpAddr) -> Option<[u8; MAC_LEN]> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).ok()?;
    m.update(&[features]);
    m.update(&issued.to_be_bytes());
    match client {
        IpAddr::V4(a) => m.update(&a.octets()),
        IpAddr::V6(a) => m.update(&a.octets()),
    }
    let full = m.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    for (o, b) in out.iter_mut().zip(full.iter()) {
        *o = *b;
    }
    Some(out)
}

/// Issue a fresh nonce for `client` at `unix_now` with the given feature bits.
pub fn issue(key: &NonceKey, client: IpAddr, unix_now: u64, features: u8) -> String {
    let mut payload = [0u8; PAYLOAD_LEN];
    let (ts, tag) = payload.split_at_mut(8);
    ts.copy_from_slice(&unix_now.to_be_bytes());
    // A MAC failure leaves an all-zero tag, which `check` never accepts.
    if let Some(m) = mac(key, features, unix_now, client) {
        tag.copy_from_slice(&m);
    }
    let mut s = String::with_capacity(NONCE_COOKIE.len() + 4 + 27);
    s.push_str(NONCE_COOKIE);
    STANDARD_NO_PAD.encode_string([0, 0, features], &mut s);
    URL_SAFE_NO_PAD.encode_string(payload, &mut s);
    s
}

/// Check a nonce received from `client` at `unix_now`.
pub fn check(key: &NonceKey, nonce: &[u8], client: IpAddr, unix_now: u64, lifetime: u64) -> NonceStatus {
    let Some(rest) = nonce.strip_prefix(NONCE_COOKIE.as_bytes()) else {
        return NonceStatus::Invalid;
    };
    let (feat, payload) = rest.split_at(rest.len().min(4));
    let mut fbuf = [0u8; 3];
    let Ok(3) = STANDARD_NO_PAD.decode_slice(feat, &mut fbuf) else {
        return NonceStatus::Invalid;
    };
    let mut pbuf = [0u8; PAYLOAD_LEN + 3];
    let Ok(PAYLOAD_LEN) = URL_SAFE_NO_PAD.decode_slice(payload, &mut pbuf) else {
        return NonceStatus::Invalid;
    };
    let [0, 0, features] = fbuf else {
        return NonceStatus::Invalid;
    };
    let (ts, rest) = pbuf.split_at(8);
    let mut tsb = [0u8; 8];
    tsb.copy_from_slice(ts);
    let issued = u64::from_be_bytes(tsb);
    let Some(expected) = mac(key, features, issued, client) else {
        return NonceStatus::Invalid;
    };
    let tag = rest.get(..MAC_LEN).unwrap_or(&[]);
    if !bool::from(expected.as_slice().ct_eq(tag)) {
        return NonceStatus::Invalid;
    }
    if issued > unix_now.saturating_add(FUTURE_SKEW) {
        return NonceStatus::Invalid;
    }
    if unix_now >= issued.saturating_add(lifetime) {
        return NonceStatus::Stale;
    }
    NonceStatus::Valid { features }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    const ALL: u8 = FEATURE_PASSWORD_ALGORITHMS | FEATURE_USERNAME_ANONYMITY;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn fresh_nonce_is_valid_and_short() {
        let k = NonceKey::new([7; 32]);
        let n = issue(&k, ip("192.0.2.1"), 1_000, ALL);
        assert!(n.starts_with("obMatJos2AAAD"), "{n}");
        assert!(n.len() < 128);
        assert_eq!(check(&k, n.as_bytes(), ip("192.0.2.1"), 1_000, 600), NonceStatus::Valid { features: ALL });
        assert_eq!(check(&k, n.as_bytes(), ip("192.0.2.1"), 1_599, 600), NonceStatus::Valid { features: ALL });
    }

    #[test]
    fn nonce_goes_stale_after_its_lifetime() {
        let k = NonceKey::new([7; 32]);
        let n = issue(&k, ip("2001:db8::1"), 1_000, ALL);
        assert_eq!(check(&k, n.as_bytes(), ip("2001:db8::1"), 1_600, 600), NonceStatus::Stale);
    }

    /// (description, mutation of a valid nonce)
    #[test]
    fn forged_or_foreign_nonces_are_invalid() {
        let k = NonceKey::new([7; 32]);
        let n = issue(&k, ip("192.0.2.1"), 1_000, ALL);
        let other_key = NonceKey::new([8; 32]);
        let cases: &[(&str, Vec<u8>, IpAddr, &NonceKey)] = &[
            ("other client", n.clone().into_bytes(), ip("192.0.2.2"), &k),
            ("other key", n.clone().into_bytes(), ip("192.0.2.1"), &other_key),
            ("no cookie", n.replace("obMatJos2", "xxxxxxxxx").into_bytes(), ip("192.0.2.1"), &k),
            ("features flipped", n.replace("AAAD", "AAAB").into_bytes(), ip("192.0.2.1"), &k),
            ("truncated", n.as_bytes()[..n.len() - 1].to_vec(), ip("192.0.2.1"), &k),
            ("empty", Vec::new(), ip("192.0.2.1"), &k),
            ("cookie only", b"obMatJos2".to_vec(), ip("192.0.2.1"), &k),
            ("binary junk", vec![0xff; 40], ip("192.0.2.1"), &k),
        ];
        for (what, nonce, client, key) in cases {
            assert_eq!(check(key, nonce, *client, 1_001, 600), NonceStatus::Invalid, "{what}");
        }
    }

    #[test]
    fn nonce_from_the_future_is_invalid() {
        let k = NonceKey::new([7; 32]);
        let n = issue(&k, ip("192.0.2.1"), 10_000, ALL);
        assert_eq!(check(&k, n.as_bytes(), ip("192.0.2.1"), 1_000, 600), NonceStatus::Invalid);
    }
}
