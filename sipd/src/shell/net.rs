//! What every I/O task shares: the way to the core drivers, the connection
//! registry, connection ids, the connection limits and admission control,
//! and counters.
//!
//! Messages go to the core chosen by [`Core::shard`] (a hash of the Call-ID),
//! so every message of a transaction, its CANCEL and ACK, and the responses
//! to what it forwarded meet in the same core.
//!
//! The registry maps connection ids (RFC 5626 flows) to their write queues,
//! and remote addresses to connections for reuse (RFC 3261 §18.1.1).
//! Connections register themselves when they are up and leave when they
//! close; every core is then told, so none keeps using the flow.
//!
//! Admission (per source IP, over all stream listeners):
//! - at most `connections.max_per_ip` open connections, and `max_total` overall;
//! - at most `connections.accept_rate` new connections (token bucket).
//!
//! Connections over the limits are closed right after `accept`, before any
//! TLS or WebSocket work is spent on them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rtc_daemon::ratelimit::KeyedLimiter;
use rtc_daemon::Shutdown;
use tokio::sync::mpsc;

use super::inbound::{ConnHandle, ConnIds, FailToken, Inbound};
use crate::config::ConnectionLimits;
use crate::core::{ConnectionId, Core, Transport};
use std::net::SocketAddr;

/// Source IPs tracked by the accept-rate limiter.
const MAX_TRACKED_SOURCES: usize = 65_536;

/// Lock a mutex, ignoring poisoning: every critical section here is a single
/// map operation, so the data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shell-level counters of stream connections.
#[derive(Debug, Default)]
pub(crate) struct ConnCounters {
    /// Connections accepted.
    pub(crate) accepted: AtomicU64,
    /// Connections refused by the per-source or total limits.
    pub(crate) refused: AtomicU64,
    /// Connections closed for unframeable data, a failed handshake, or slowness.
    pub(crate) dropped: AtomicU64,
    /// Connections we opened.
    pub(crate) opened: AtomicU64,
    /// CRLF keepalive pings answered (RFC 5626 §3.5.1).
    pub(crate) pings: AtomicU64,
}

#[derive(Debug)]
struct AdmissionState {
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
    rate: KeyedLimiter<IpAddr>,
}

/// Open connections by id and by peer.
#[derive(Debug, Default)]
struct Registry {
    by_id: HashMap<ConnectionId, ConnHandle>,
    by_peer: HashMap<(Transport, SocketAddr), ConnectionId>,
}

/// Shared I/O context.
#[derive(Debug)]
pub(crate) struct Net {
    /// Input for each core driver.
    cores: Vec<mpsc::Sender<Inbound>>,
    registry: Mutex<Registry>,
    /// Connection id allocator.
    pub(crate) ids: ConnIds,
    /// Stream connection limits (fixed until restart).
    pub(crate) limits: ConnectionLimits,
    /// Fires on SIGTERM: stop accepting.
    pub(crate) shutdown: Shutdown,
    /// Client TLS for connections we open (`None`: no trust store found).
    pub(crate) client_tls: Option<Arc<rtc_tls::rustls::ClientConfig>>,
    /// Counters.
    pub(crate) counters: ConnCounters,
    admission: Mutex<AdmissionState>,
}

impl Net {
    /// A context for I/O tasks.
    pub(crate) fn new(
        cores: Vec<mpsc::Sender<Inbound>>,
        ids: ConnIds,
        limits: ConnectionLimits,
        shutdown: Shutdown,
        client_tls: Option<Arc<rtc_tls::rustls::ClientConfig>>,
    ) -> Self {
        let rate = KeyedLimiter::new(limits.accept_rate, MAX_TRACKED_SOURCES);
        Self {
            cores,
            registry: Mutex::default(),
            ids,
            limits,
            shutdown,
            client_tls,
            counters: ConnCounters::default(),
            admission: Mutex::new(AdmissionState { per_ip: HashMap::new(), total: 0, rate }),
        }
    }

    /// Count a new connection from `ip`, or refuse it.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        let mut a = lock(&self.admission);
        let ok = a.total < self.limits.max_total
            && a.per_ip.get(&ip).is_none_or(|&n| n < self.limits.max_per_ip)
            && a.rate.check(&ip, Instant::now());
        if !ok {
            drop(a);
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *a.per_ip.entry(ip).or_insert(0) += 1;
        a.total += 1;
        drop(a);
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Some(ConnGuard { net: Arc::clone(self), ip })
    }

    /// Hand a received message to the core that owns its Call-ID; `false`
    /// once the cores are gone.
    pub(crate) async fn deliver(&self, inbound: Inbound) -> bool {
        let index = match &inbound {
            Inbound::Datagram { bytes, .. } | Inbound::Message { bytes, .. } if self.cores.len() > 1 => {
                Core::shard(bytes, self.cores.len())
            }
            _ => 0,
        };
        match self.cores.get(index) {
            Some(core) => core.send(inbound).await.is_ok(),
            None => false,
        }
    }

    /// Send to one core.
    pub(crate) async fn to_core(&self, index: usize, inbound: Inbound) {
        if let Some(core) = self.cores.get(index) {
            let _ = core.send(inbound).await;
        }
    }

    /// Send to every core (`make` builds each copy).
    pub(crate) async fn broadcast(&self, mut make: impl FnMut() -> Inbound) {
        for core in &self.cores {
            let _ = core.send(make()).await;
        }
    }

    /// Tell the core that sent a message that it could not be delivered.
    pub(crate) async fn fail(&self, token: FailToken) {
        self.to_core(token.core, Inbound::SendFailed(token.token)).await;
    }

    /// Make a connection reachable by id and by peer address.
    pub(crate) fn register(&self, handle: ConnHandle) {
        let mut r = lock(&self.registry);
        r.by_peer.insert((handle.transport, handle.remote), handle.id);
        r.by_id.insert(handle.id, handle);
    }

    /// Forget a connection and tell every core (RFC 5626 §5.3).
    pub(crate) async fn closed(&self, id: ConnectionId) {
        {
            let mut r = lock(&self.registry);
            if let Some(h) = r.by_id.remove(&id) {
                let key = (h.transport, h.remote);
                if r.by_peer.get(&key) == Some(&id) {
                    r.by_peer.remove(&key);
                }
            }
        }
        self.broadcast(|| Inbound::Closed(id)).await;
    }

    /// The connection with this id.
    pub(crate) fn connection(&self, id: ConnectionId) -> Option<ConnHandle> {
        lock(&self.registry).by_id.get(&id).cloned()
    }

    /// An open connection to `remote` over `transport`.
    pub(crate) fn connection_to(&self, transport: Transport, remote: SocketAddr) -> Option<ConnHandle> {
        let r = lock(&self.registry);
        r.by_peer.get(&(transport, remote)).and_then(|id| r.by_id.get(id)).cloned()
    }

    /// Stream connections in the registry (accepted and opened).
    pub(crate) fn registered(&self) -> usize {
        lock(&self.registry).by_id.len()
    }

    /// Close every registered connection (after the drain).
    pub(crate) fn close_all(&self) {
        for h in lock(&self.registry).by_id.values() {
            h.close();
        }
    }

    /// Open stream connections (accepted ones).
    pub(crate) fn open_connections(&self) -> u32 {
        lock(&self.admission).total
    }
}

/// Keeps one accepted connection counted against its source IP.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    net: Arc<Net>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut a = lock(&self.net.admission);
        a.total = a.total.saturating_sub(1);
        if let Some(n) = a.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                a.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_daemon::ratelimit::RateLimit;

    fn net(limits: ConnectionLimits) -> Arc<Net> {
        let (tx, _rx) = mpsc::channel(1);
        let (_t, shutdown) = rtc_daemon::ShutdownTrigger::new();
        Arc::new(Net::new(vec![tx], ConnIds::new(1), limits, shutdown, None))
    }

    #[test]
    fn per_ip_and_total_limits_hold_and_release() {
        let n = net(ConnectionLimits { max_per_ip: 2, max_total: 3, ..ConnectionLimits::default() });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = n.admit(a).unwrap();
        let _g2 = n.admit(a).unwrap();
        assert!(n.admit(a).is_none(), "third from one IP");
        let _g3 = n.admit(b).unwrap();
        assert!(n.admit(b).is_none(), "over the total");
        drop(g1);
        assert!(n.admit(a).is_some());
        assert_eq!(n.counters.refused.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn accept_rate_limits_a_burst_of_connections() {
        let limits = ConnectionLimits { accept_rate: RateLimit::new(3, 0.001), ..ConnectionLimits::default() };
        let n = net(limits);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..3 {
            drop(n.admit(ip).unwrap());
        }
        assert!(n.admit(ip).is_none());
        assert_eq!(n.open_connections(), 0);
    }
}
