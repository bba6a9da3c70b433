//! State shared by all worker cores: quotas, reservations, pending TCP
//! connections and authentication-failure throttling.
//!
//! Each worker owns its allocations outright; only what must be seen across
//! workers lives here. The allocation counter is an atomic; the per-user table,
//! reservation tokens and pending RFC 6062 connections sit behind short mutexes
//! touched only on Allocate, deallocation, EVEN-PORT and ConnectionBind, never
//! on the relay path. The failure buckets (`throttle.rs`) are locked only
//! on a failure, and on checks while some source has failed lately.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use std::net::IpAddr;

use rtc_daemon::ratelimit::RateLimit;

use super::nonce::NonceKey;
use super::throttle::FailureThrottle;

/// A user for quota purposes: realm plus user name (the user part of REST names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId {
    /// The realm.
    pub realm: Box<str>,
    /// The user name.
    pub name: Box<str>,
}

/// A relayed transport address as the shell bound it (RFC 8656 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelayAddr {
    /// The socket's local address: how the shell and the core name this relay.
    pub local: SocketAddr,
    /// The address advertised to the client in XOR-RELAYED-ADDRESS (differs
    /// from `local` behind a 1:1 NAT).
    pub public: SocketAddr,
}

/// A relayed address held back for a later Allocate (RFC 8656 §14.9).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation {
    pub relay: RelayAddr,
    pub expires: Instant,
}

/// A peer TCP connection waiting for the client's ConnectionBind (RFC 6062 §5.4).
#[derive(Debug, Clone)]
pub(crate) struct PendingConnection {
    pub user: UserId,
    pub expires: Instant,
}

/// Why the quota refused an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotaRefusal {
    /// The user holds `user_quota` allocations already: 486 (RFC 8656 §7.2 step 10).
    User,
    /// The server holds `total_quota` allocations: 508 (RFC 8656 §7.2).
    Total,
}

/// Cross-worker state. Create one with [`Shared::new`] and hand each worker an `Arc`.
#[derive(Debug)]
pub struct Shared {
    nonce_key: NonceKey,
    allocations: AtomicU32,
    per_user: Mutex<HashMap<UserId, u32>>,
    reservations: Mutex<HashMap<[u8; 8], Reservation>>,
    pending_tcp: Mutex<HashMap<u32, PendingConnection>>,
    auth_failures: FailureThrottle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the relay down: the data stays consistent
    // because every critical section is a single map operation.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Shared state keyed by a random per-process nonce secret (32 bytes from the OS RNG).
    pub fn new(nonce_key: [u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            nonce_key: NonceKey::new(nonce_key),
            allocations: AtomicU32::new(0),
            per_user: Mutex::new(HashMap::new()),
            reservations: Mutex::new(HashMap::new()),
            pending_tcp: Mutex::new(HashMap::new()),
            auth_failures: FailureThrottle::default(),
        })
    }

    /// Allocations held by all workers together.
    pub fn allocations(&self) -> u32 {
        self.allocations.load(Ordering::Relaxed)
    }

    /// Allocations `user` holds across all workers.
    pub fn user_allocations(&self, user: &UserId) -> u32 {
        lock(&self.per_user).get(user).copied().unwrap_or(0)
    }

    pub(crate) fn nonce_key(&self) -> &NonceKey {
        &self.nonce_key
    }

    /// Whether source `ip` is refused for too many authentication failures,
    /// counted over all workers (`auth.failure_limit`).
    pub fn is_throttled(&self, ip: IpAddr, now: Instant) -> bool {
        self.auth_failures.is_throttled(ip, now)
    }

    /// Source IPs currently holding an authentication-failure bucket.
    pub fn throttle_tracked_sources(&self) -> usize {
        self.auth_failures.tracked()
    }

    pub(crate) fn configure_auth_failures(&self, limit: RateLimit, max_sources: usize) {
        self.auth_failures.configure(limit, max_sources);
    }

    pub(crate) fn record_auth_failure(&self, ip: IpAddr, now: Instant) {
        self.auth_failures.record_failure(ip, now);
    }

    /// Count one allocation for `user`, or refuse; 0 quotas mean unlimited.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        user: UserId,
        user_quota: u32,
        total_quota: u32,
    ) -> Result<QuotaGuard, QuotaRefusal> {
        let total = self.allocations.fetch_add(1, Ordering::AcqRel);
        if total_quota != 0 && total >= total_quota {
            self.allocations.fetch_sub(1, Ordering::AcqRel);
            return Err(QuotaRefusal::Total);
        }
        let mut table = lock(&self.per_user);
        let n = table.entry(user.clone()).or_insert(0);
        if user_quota != 0 && *n >= user_quota {
            drop(table);
            self.allocations.fetch_sub(1, Ordering::AcqRel);
            return Err(QuotaRefusal::User);
        }
        *n += 1;
        drop(table);
        Ok(QuotaGuard { shared: Arc::clone(self), user })
    }

    fn release(&self, user: &UserId) {
        let mut table = lock(&self.per_user);
        if let Some(n) = table.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                table.remove(user);
            }
        }
        drop(table);
        self.allocations.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn reserve(&self, token: [u8; 8], r: Reservation) -> bool {
        let mut t = lock(&self.reservations);
        if t.contains_key(&token) {
            return false;
        }
        t.insert(token, r);
        true
    }

    /// Take a reservation if it exists and has not expired.
    pub(crate) fn take_reservation(&self, token: &[u8; 8], now: Instant) -> Option<Reservation> {
        let mut t = lock(&self.reservations);
        let r = t.remove(token)?;
        if now >= r.expires {
            // Put it back: its owner's timer releases the socket.
            t.insert(*token, r);
            return None;
        }
        Some(r)
    }

    /// Remove a reservation whose time is up; `Some` if nobody had claimed it.
    pub(crate) fn expire_reservation(&self, token: &[u8; 8]) -> Option<Reservation> {
        lock(&self.reservations).remove(token)
    }

    pub(crate) fn add_pending_connection(&self, id: u32, p: PendingConnection) -> bool {
        let mut t = lock(&self.pending_tcp);
        if t.contains_key(&id) {
            return false;
        }
        t.insert(id, p);
        true
    }

    /// Claim a pending connection for `user`; refuses other users and expired entries.
    pub(crate) fn claim_connection(&self, id: u32, user: &UserId, now: Instant) -> bool {
        let mut t = lock(&self.pending_tcp);
        match t.get(&id) {
            Some(p) if p.user == *user && now < p.expires => {
                t.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Remove a pending connection; `true` if nobody had claimed it.
    pub(crate) fn drop_pending_connection(&self, id: u32) -> bool {
        lock(&self.pending_tcp).remove(&id).is_some()
    }
}

/// One counted allocation; dropping it gives the quota back.
#[derive(Debug)]
pub(crate) struct QuotaGuard {
    shared: Arc<Shared>,
    user: UserId,
}

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        self.shared.release(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: &str) -> UserId {
        UserId { realm: "r".into(), name: n.into() }
    }

    #[test]
    fn user_quota_refuses_then_frees_on_drop() {
        let s = Shared::new([0; 32]);
        let a = s.acquire(user("alice"), 2, 0);
        let b = s.acquire(user("alice"), 2, 0);
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(s.acquire(user("alice"), 2, 0).err(), Some(QuotaRefusal::User));
        assert!(s.acquire(user("bob"), 2, 0).is_ok());
        assert_eq!(s.user_allocations(&user("alice")), 2);
        drop(a);
        assert_eq!(s.user_allocations(&user("alice")), 1);
        assert!(s.acquire(user("alice"), 2, 0).is_ok());
    }

    #[test]
    fn total_quota_refuses_and_counts_back() {
        let s = Shared::new([0; 32]);
        let a = s.acquire(user("a"), 0, 1);
        assert!(a.is_ok());
        assert_eq!(s.acquire(user("b"), 0, 1).err(), Some(QuotaRefusal::Total));
        assert_eq!(s.allocations(), 1);
        drop(a);
        assert_eq!(s.allocations(), 0);
        assert_eq!(s.user_allocations(&user("a")), 0);
    }
}
