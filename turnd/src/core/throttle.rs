//! Authentication-failure throttling shared by all workers.
//!
//! A source IP that fails authentication `failure_limit.burst` times has its
//! requests carrying credentials dropped until its bucket refills (see
//! `auth.rs` for why a silent drop). The buckets live here, in [`Shared`](super::Shared),
//! so that a guesser spreading source ports over every worker gets one burst,
//! not one per worker.
//!
//! Cost: the mutex is taken only when a failure is recorded and when a
//! request with credentials is checked while some source is being tracked.
//! A server where nobody failed lately pays one atomic load per check.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rtc_daemon::ratelimit::{KeyedLimiter, RateLimit};

use super::config::{AuthConfig, LimitsConfig};

/// How often full (idle) buckets are dropped, at most.
const PURGE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct State {
    limiter: KeyedLimiter<IpAddr>,
    max_keys: usize,
    next_purge: Option<Instant>,
}

impl State {
    fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self { limiter: KeyedLimiter::new(limit, max_keys), max_keys, next_purge: None }
    }

    /// Drop idle buckets now and then, so that the fast path comes back.
    fn maintain(&mut self, now: Instant) {
        if self.next_purge.is_none_or(|at| now >= at) {
            self.limiter.purge_idle(now);
            self.next_purge = Some(now + PURGE_INTERVAL);
        }
    }
}

/// Failure buckets keyed by source IP, for all workers.
#[derive(Debug)]
pub(crate) struct FailureThrottle {
    /// Sources currently holding a bucket; 0 lets checks skip the lock.
    tracked: AtomicUsize,
    state: Mutex<State>,
}

impl Default for FailureThrottle {
    fn default() -> Self {
        let limit = AuthConfig::default().failure_limit;
        let max_keys = LimitsConfig::default().max_tracked_sources;
        Self { tracked: AtomicUsize::new(0), state: Mutex::new(State::new(limit, max_keys)) }
    }
}

impl FailureThrottle {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the limiter consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, state: &State) {
        self.tracked.store(state.limiter.len(), Ordering::Release);
    }

    /// Apply the configured limit. Buckets are kept unless the table size
    /// changed, in which case tracking starts over.
    pub(crate) fn configure(&self, limit: RateLimit, max_keys: usize) {
        let mut state = self.lock();
        if state.max_keys == max_keys {
            state.limiter.set_limit(limit);
        } else {
            *state = State::new(limit, max_keys);
        }
        self.publish(&state);
    }

    /// One authentication failure from `ip`: take a token from its bucket.
    pub(crate) fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut state = self.lock();
        let _ = state.limiter.check(&ip, now);
        state.maintain(now);
        self.publish(&state);
    }

    /// Whether `ip` has used up its failures.
    pub(crate) fn is_throttled(&self, ip: IpAddr, now: Instant) -> bool {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut state = self.lock();
        let limited = state.limiter.is_limited(&ip, now);
        state.maintain(now);
        self.publish(&state);
        limited
    }

    /// Sources currently tracked (tests and diagnostics).
    pub(crate) fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_sources_take_the_fast_path_and_idle_buckets_are_purged() {
        let t = FailureThrottle::default();
        t.configure(RateLimit::new(2, 1.0), 16);
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(!t.is_throttled(ip, now));
        assert_eq!(t.tracked(), 0);
        t.record_failure(ip, now);
        t.record_failure(ip, now);
        assert!(t.is_throttled(ip, now));
        assert_eq!(t.tracked(), 1);
        // Two seconds later the bucket is full again and gets purged.
        let later = now + Duration::from_secs(2);
        assert!(!t.is_throttled(ip, later));
        assert_eq!(t.tracked(), 0, "an idle bucket is dropped, restoring the lock-free check");
    }
}
