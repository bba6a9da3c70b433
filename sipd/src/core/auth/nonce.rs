//! Stateless digest nonces and nonce-count replay tracking (RFC 3261 §22.4,
//! RFC 7616 §3.3 and §5.4).
//!
//! A nonce is `base64url(issued || salt || HMAC-SHA256(key, issued || salt || realm)[..16])`:
//! `issued` is seconds since the shared epoch, `salt` a random value so two
//! clients challenged in the same second never share a nonce (and so a
//! nonce-count sequence). Any worker holding the key can check it without state.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::core::crypto::hmac_sha256;

const RAW_LEN: usize = 8 + 8 + 16;

/// Issues and checks nonces.
#[derive(Clone)]
pub(crate) struct Nonces {
    key: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
}

/// The verdict on a nonce presented by a client.
impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Ours, for this realm, not expired; issued at these epoch seconds.
    Valid(u64),
    /// Ours but expired: challenge again with `stale=true`.
    Stale,
    /// Not ours, damaged, or for another realm.
    Invalid,
}

impl Nonces {
    pub(crate) fn new(key: [u8; 32], epoch: Instant, lifetime: Duration) -> Self {
        Nonces {
            key,
            epoch,
            lifetime,
        }
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    fn mac(&self, head: &[u8], realm: &str) -> [u8; 32] {
        hmac_sha256(&self.key, &[head, realm.to_ascii_lowercase().as_bytes()])
    }

    pub(crate) fn issue(&self, realm: &str, salt: u64, now: Instant) -> String {
        let mut raw = [0u8; RAW_LEN];
        let (head, tail) = raw.split_at_mut(16);
        let (ts, s) = head.split_at_mut(8);
        ts.copy_from_slice(&self.secs(now).to_be_bytes());
        s.copy_from_slice(&salt.to_be_bytes());
        let mac = self.mac(head, realm);
        tail.copy_from_slice(mac.get(..16).unwrap_or_default());
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn check(&self, nonce: &[u8], realm: &str, now: Instant) -> NonceCheck {
        if nonce.len() > 64 {
            return NonceCheck::Invalid;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return NonceCheck::Invalid;
        };
        if raw.len() != RAW_LEN {
            return NonceCheck::Invalid;
        }
        let (head, tail) = raw.split_at(16);
        let mac = self.mac(head, realm);
        if !bool::from(mac.get(..16).unwrap_or_default().ct_eq(tail)) {
            return NonceCheck::Invalid;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(head.get(..8).unwrap_or_default());
        let issued = u64::from_be_bytes(ts);
        let now_s = self.secs(now);
        if issued > now_s.saturating_add(1) {
            return NonceCheck::Invalid;
        }
        if now_s - issued.min(now_s) >= self.lifetime.as_secs() {
            return NonceCheck::Stale;
        }
        NonceCheck::Valid(issued)
    }

    pub(crate) fn lifetime_secs(&self) -> u64 {
        self.lifetime.as_secs()
    }

    pub(crate) fn now_secs(&self, now: Instant) -> u64 {
        self.secs(now)
    }
}

/// Highest nonce-count seen per nonce, bounded. A nonce whose record was
/// evicted to stay within the bound is treated as stale, never as fresh, so
/// eviction cannot reopen a replay.
#[derive(Debug)]
pub(crate) struct NonceCounts {
    seen: HashMap<Box<[u8]>, (u32, u64)>,
    order: VecDeque<Box<[u8]>>,
    max: usize,
    /// Nonces issued at or before this second lost their record.
    evicted_up_to: Option<u64>,
}

/// Single-use marker for nonces used without `qop` (RFC 2069 style).
const USED_WITHOUT_QOP: u32 = u32::MAX;

impl NonceCounts {
    pub(crate) fn new(max: usize) -> Self {
        NonceCounts {
            seen: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
            evicted_up_to: None,
        }
    }

    /// Record a use of `nonce` (issued at `issued`) with nonce-count `nc`
    /// (`None` without qop). False when it is a replay or a decreasing count.
    pub(crate) fn accept(&mut self, nonce: &[u8], issued: u64, nc: Option<u32>) -> bool {
        let wanted = nc.unwrap_or(USED_WITHOUT_QOP);
        if let Some((last, _)) = self.seen.get_mut(nonce) {
            if nc.is_none() || *last == USED_WITHOUT_QOP || wanted <= *last {
                return false;
            }
            *last = wanted;
            return true;
        }
        if self.evicted_up_to.is_some_and(|e| issued <= e) || wanted == 0 {
            return false;
        }
        while self.seen.len() >= self.max {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, iss)) = self.seen.remove(&old) {
                self.evicted_up_to = Some(self.evicted_up_to.map_or(iss, |e| e.max(iss)));
            }
        }
        let key: Box<[u8]> = nonce.into();
        self.order.push_back(key.clone());
        self.seen.insert(key, (wanted, issued));
        true
    }

    /// Forget nonces that expired (they are refused as stale anyway).
    pub(crate) fn purge(&mut self, now_secs: u64, lifetime_secs: u64) {
        let live = |iss: u64| iss.saturating_add(lifetime_secs) > now_secs;
        self.seen.retain(|_, (_, iss)| live(*iss));
        let seen = &self.seen;
        self.order.retain(|k| seen.contains_key(k));
        if self.evicted_up_to.is_some_and(|e| !live(e)) {
            self.evicted_up_to = None;
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_round_trips_and_goes_stale_after_its_lifetime() {
        let t0 = Instant::now();
        let n = Nonces::new([7; 32], t0, Duration::from_secs(300));
        let a = n.issue("Falcot.com", 1, t0 + Duration::from_secs(10));
        let b = n.issue("falcot.com", 2, t0 + Duration::from_secs(10));
        assert_ne!(a, b, "salt separates clients challenged in the same second");
        assert_eq!(
            n.check(a.as_bytes(), "falcot.com", t0 + Duration::from_secs(20)),
            NonceCheck::Valid(10)
        );
        assert_eq!(
            n.check(a.as_bytes(), "other.org", t0 + Duration::from_secs(20)),
            NonceCheck::Invalid
        );
        assert_eq!(
            n.check(a.as_bytes(), "falcot.com", t0 + Duration::from_secs(310)),
            NonceCheck::Stale
        );
        let mut forged = a.clone().into_bytes();
        forged[0] ^= 1;
        assert_eq!(
            n.check(&forged, "falcot.com", t0 + Duration::from_secs(20)),
            NonceCheck::Invalid
        );
        let other_key = Nonces::new([8; 32], t0, Duration::from_secs(300));
        assert_eq!(
            other_key.check(a.as_bytes(), "falcot.com", t0 + Duration::from_secs(20)),
            NonceCheck::Invalid
        );
        assert_eq!(n.check(b"", "falcot.com", t0), NonceCheck::Invalid);
    }

    #[test]
    fn nonce_count_must_increase_and_qop_less_nonces_are_single_use() {
        let mut c = NonceCounts::new(10);
        assert!(c.accept(b"n1", 0, Some(1)));
        assert!(!c.accept(b"n1", 0, Some(1)), "replay");
        assert!(c.accept(b"n1", 0, Some(3)));
        assert!(!c.accept(b"n1", 0, Some(2)), "decreasing");
        assert!(!c.accept(b"n1", 0, None));
        assert!(c.accept(b"n2", 0, None));
        assert!(!c.accept(b"n2", 0, None));
        assert!(!c.accept(b"n2", 0, Some(5)));
        assert!(!c.accept(b"n3", 0, Some(0)), "nc starts at 1");
    }

    #[test]
    fn eviction_keeps_the_bound_and_never_reopens_a_replay() {
        let mut c = NonceCounts::new(2);
        assert!(c.accept(b"a", 5, Some(1)));
        assert!(c.accept(b"b", 6, Some(1)));
        assert!(c.accept(b"c", 7, Some(1)));
        assert_eq!(c.len(), 2);
        assert!(
            !c.accept(b"a", 5, Some(1)),
            "evicted nonce is refused (stale), not fresh"
        );
        c.purge(1000, 300);
        assert_eq!(c.len(), 0);
    }
}
