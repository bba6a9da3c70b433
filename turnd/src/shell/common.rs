//! What every worker shares: configuration, the core's [`Shared`] state, the
//! key service, TLS, and the few cross-worker tables touched only when
//! allocations or RFC 6062 connections are set up or torn down.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rtc_daemon::Shutdown;
use rtc_tls::TlsServer;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::keys::KeyService;
use super::worker::Mail;
use crate::config::{RelayConfig, StreamLimits};
use crate::core::{ConnectionId, CoreConfig, Metrics, Shared, Transport};

/// Lock a mutex, ignoring poisoning: every critical section here is a single
/// map operation, so the data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sockets one worker serves on, bound before the worker starts.
#[derive(Debug, Default)]
pub(crate) struct WorkerSockets {
    /// One socket per UDP listener.
    pub(crate) udp: Vec<std::net::UdpSocket>,
    /// One listening socket per TCP or TLS listener, with its transport.
    pub(crate) streams: Vec<(std::net::TcpListener, Transport)>,
}

/// Counters of one worker as last published (once a second).
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerStats {
    /// The core's counters.
    pub(crate) core: Metrics,
    /// Client TCP/TLS connections open.
    pub(crate) streams: u64,
    /// Datagrams dropped because a socket buffer was full or a send failed.
    pub(crate) send_drops: u64,
}

/// Shell-level counters updated outside the workers' hot path.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    /// TCP/TLS connections accepted.
    pub(crate) accepted: std::sync::atomic::AtomicU64,
    /// Connections refused by the per-source limits.
    pub(crate) refused: std::sync::atomic::AtomicU64,
    /// Connections closed because their stream was not STUN/TURN or too slow.
    pub(crate) malformed: std::sync::atomic::AtomicU64,
}

/// State shared by all workers (behind an `Arc`).
#[derive(Debug)]
pub(crate) struct Common {
    /// The core's cross-worker state.
    pub(crate) shared: Arc<Shared>,
    core_config: RwLock<Arc<CoreConfig>>,
    stream_limits: RwLock<StreamLimits>,
    /// Relay addresses, NAT mappings and port range (fixed until restart).
    pub(crate) relay: RelayConfig,
    /// User and secret lookups.
    pub(crate) keys: KeyService,
    /// The TLS acceptor configuration, when a TLS listener exists.
    pub(crate) tls: Option<TlsServer>,
    /// Fires on SIGTERM: stop accepting connections and allocations.
    pub(crate) shutdown: Shutdown,
    /// Each worker's mailbox, by index.
    pub(crate) mailboxes: Vec<mpsc::UnboundedSender<Mail>>,
    /// Relayed addresses held for a RESERVATION-TOKEN (RFC 8656 §14.9),
    /// waiting for whichever worker's allocation claims them.
    pub(crate) parked: Mutex<HashMap<SocketAddr, std::net::UdpSocket>>,
    /// TCP relay ports in use: their listeners share the port with outgoing
    /// connections (`SO_REUSEPORT`), so the kernel cannot tell two
    /// allocations apart and this table must.
    pub(crate) tcp_ports: Mutex<HashSet<SocketAddr>>,
    /// Spliced RFC 6062 connections, so any worker can cut them.
    pub(crate) splices: Mutex<HashMap<ConnectionId, AbortHandle>>,
    /// Open client TCP/TLS connections per source IP (all workers).
    pub(crate) per_ip: Mutex<HashMap<IpAddr, u32>>,
    /// Stream connection counters.
    pub(crate) stream_counters: StreamCounters,
    stats: Vec<Mutex<WorkerStats>>,
}

impl Common {
    /// Shared state for `workers` workers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        core_config: Arc<CoreConfig>,
        stream_limits: StreamLimits,
        relay: RelayConfig,
        keys: KeyService,
        tls: Option<TlsServer>,
        shutdown: Shutdown,
        mailboxes: Vec<mpsc::UnboundedSender<Mail>>,
    ) -> Self {
        let stats = mailboxes.iter().map(|_| Mutex::default()).collect();
        Self {
            shared,
            core_config: RwLock::new(core_config),
            stream_limits: RwLock::new(stream_limits),
            relay,
            keys,
            tls,
            shutdown,
            mailboxes,
            parked: Mutex::default(),
            tcp_ports: Mutex::default(),
            splices: Mutex::default(),
            per_ip: Mutex::default(),
            stream_counters: StreamCounters::default(),
            stats,
        }
    }

    /// The current core configuration.
    pub(crate) fn core_config(&self) -> Arc<CoreConfig> {
        Arc::clone(&self.core_config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replace the core configuration and tell every worker.
    pub(crate) fn set_core_config(&self, config: Arc<CoreConfig>) {
        *self.core_config.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&config);
        self.broadcast(|| Mail::Config(Arc::clone(&config)));
    }

    /// The TCP/TLS client limits, for a connection being accepted.
    pub(crate) fn stream_limits(&self) -> StreamLimits {
        *self.stream_limits.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replace the TCP/TLS client limits (SIGHUP); open connections keep theirs.
    pub(crate) fn set_stream_limits(&self, limits: StreamLimits) {
        *self.stream_limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    /// Send a message to every worker.
    pub(crate) fn broadcast(&self, mut mail: impl FnMut() -> Mail) {
        for m in &self.mailboxes {
            let _ = m.send(mail());
        }
    }

    /// Send a message to worker `index`; `false` if there is no such worker.
    pub(crate) fn send_to(&self, index: u8, mail: Mail) -> bool {
        self.mailboxes.get(usize::from(index)).is_some_and(|m| m.send(mail).is_ok())
    }

    /// Record worker `index`'s counters.
    pub(crate) fn publish(&self, index: usize, core: Metrics, streams: u64, send_drops: u64) {
        if let Some(slot) = self.stats.get(index) {
            *lock(slot) = WorkerStats { core, streams, send_drops };
        }
    }

    /// Every worker's counters added up.
    pub(crate) fn totals(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for slot in &self.stats {
            let s = lock(slot);
            total.core.merge(&s.core);
            total.streams += s.streams;
            total.send_drops += s.send_drops;
        }
        total
    }

    /// The public address of local relay IP `ip` (RFC 8656 §14.5 behind a 1:1 NAT).
    pub(crate) fn advertised(&self, local: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.relay.advertised(local.ip()), local.port())
    }
}
