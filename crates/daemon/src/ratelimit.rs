//! Keyed token-bucket rate limiting with a bounded key table. No I/O, no clock reads.
//!
//! Used for authentication-failure throttling, per-source flood limits and
//! connection-rate limits in all three daemons. The caller passes `now`, so the
//! limiter is deterministic and testable on a virtual clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Parameters of one token bucket.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Tokens available at once (the burst).
    pub burst: u32,
    /// Tokens added back per second.
    pub per_second: f64,
}

impl RateLimit {
    /// A limit allowing `burst` events at once and `per_second` on average.
    pub const fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Set when the key is banned outright until this instant.
    banned_until: Option<Instant>,
}

/// Token buckets keyed by `K` (usually an `IpAddr`), holding at most `max_keys` keys.
///
/// When the table is full, idle buckets (those that have refilled completely) are
/// evicted first; if none is idle the oldest-updated bucket is evicted. A flood of
/// distinct keys therefore cannot grow memory without bound.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    limit: RateLimit,
    max_keys: usize,
    ban: Option<Duration>,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter with the given bucket parameters and key-table cap.
    pub fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            ban: None,
            buckets: HashMap::new(),
        }
    }

    /// Ban a key for `ban` once it exhausts its bucket (kamailio pike-style).
    pub fn with_ban(mut self, ban: Duration) -> Self {
        self.ban = Some(ban);
        self
    }

    /// Replace the limit parameters (on config reload). Existing buckets are kept.
    pub fn set_limit(&mut self, limit: RateLimit) {
        self.limit = limit;
    }

    fn refill(limit: &RateLimit, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
        b.updated = now;
    }

    /// Take one token for `key`. Returns `true` when the event is allowed.
    pub fn check(&mut self, key: &K, now: Instant) -> bool {
        if !self.buckets.contains_key(key) {
            self.make_room(now);
        }
        let limit = self.limit;
        let ban = self.ban;
        let b = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            updated: now,
            banned_until: None,
        });
        if let Some(until) = b.banned_until {
            if now < until {
                return false;
            }
            b.banned_until = None;
            b.tokens = f64::from(limit.burst);
            b.updated = now;
        }
        Self::refill(&limit, b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            if let Some(d) = ban {
                b.banned_until = Some(now + d);
            }
            false
        }
    }

    /// Whether `key` would be refused right now, without taking a token.
    pub fn is_limited(&self, key: &K, now: Instant) -> bool {
        match self.buckets.get(key) {
            None => false,
            Some(b) => {
                if let Some(until) = b.banned_until {
                    if now < until {
                        return true;
                    }
                    return false;
                }
                let mut b = *b;
                Self::refill(&self.limit, &mut b, now);
                b.tokens < 1.0
            }
        }
    }

    /// Forget a key (for example after a successful login).
    pub fn forget(&mut self, key: &K) {
        self.buckets.remove(key);
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Drop buckets that are full again and not banned; call now and then.
    pub fn purge_idle(&mut self, now: Instant) {
        let limit = self.limit;
        self.buckets.retain(|_, b| {
            if b.banned_until.is_some_and(|u| now < u) {
                return true;
            }
            let mut c = *b;
            Self::refill(&limit, &mut c, now);
            c.tokens < f64::from(limit.burst)
        });
    }

    fn make_room(&mut self, now: Instant) {
        if self.buckets.len() < self.max_keys {
            return;
        }
        self.purge_idle(now);
        if self.buckets.len() < self.max_keys {
            return;
        }
        let oldest = self
            .buckets
            .iter()
            .filter(|(_, b)| b.banned_until.is_none_or(|u| now >= u))
            .min_by_key(|(_, b)| b.updated)
            .or_else(|| self.buckets.iter().min_by_key(|(_, b)| b.updated))
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.buckets.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    #[test]
    fn burst_is_allowed_then_refused_then_refilled() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RateLimit::new(3, 1.0), 16);
        assert!(l.check(&ip(1), t0));
        assert!(l.check(&ip(1), t0));
        assert!(l.check(&ip(1), t0));
        assert!(!l.check(&ip(1), t0));
        assert!(l.is_limited(&ip(1), t0));
        // Another source is unaffected.
        assert!(l.check(&ip(2), t0));
        // One second later one token is back.
        let t1 = t0 + Duration::from_secs(1);
        assert!(l.check(&ip(1), t1));
        assert!(!l.check(&ip(1), t1));
    }

    #[test]
    fn ban_lasts_until_it_expires() {
        let t0 = Instant::now();
        let mut l =
            KeyedLimiter::new(RateLimit::new(1, 100.0), 16).with_ban(Duration::from_secs(300));
        assert!(l.check(&ip(1), t0));
        assert!(!l.check(&ip(1), t0));
        assert!(!l.check(&ip(1), t0 + Duration::from_secs(299)));
        assert!(l.check(&ip(1), t0 + Duration::from_secs(300)));
    }

    #[test]
    fn key_table_is_bounded_under_a_flood_of_sources() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RateLimit::new(1, 0.001), 8);
        for i in 0..200u8 {
            l.check(&ip(i), t0 + Duration::from_millis(u64::from(i)));
            assert!(l.len() <= 8);
        }
    }

    #[test]
    fn forget_clears_a_key() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RateLimit::new(1, 0.0), 8);
        assert!(l.check(&ip(1), t0));
        assert!(!l.check(&ip(1), t0));
        l.forget(&ip(1));
        assert!(l.check(&ip(1), t0));
    }
}
