//! [`Server`]: one worker's TURN core, its input methods and its output queue.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rtc_daemon::ratelimit::KeyedLimiter;

use super::allocate::PendingAllocation;
use super::allocation::Allocation;
use super::config::CoreConfig;
use super::credentials::{KeyCache, KeyQuery, Known};
use super::lookup::Lookups;
use super::metrics::Metrics;
use super::peer_filter::PeerFilter;
use super::shared::Shared;
use super::timers::{TimerKey, Timers};
use super::types::{BindId, ConnectionId, Event, FiveTuple, KeyAnswer, Output, Transmit};

/// Translates the shell's monotonic `now` into unix time (REST expiry, nonces).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    at: Instant,
    unix: Duration,
}

impl WallClock {
    pub(crate) fn unix_secs(&self, now: Instant) -> u64 {
        (self.unix + now.saturating_duration_since(self.at)).as_secs()
    }
}

/// One worker's TURN server state machine. See the [module docs](super) for the run loop.
#[derive(Debug)]
pub struct Server {
    pub(crate) config: Arc<CoreConfig>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) worker: u8,
    pub(crate) rng: StdRng,
    pub(crate) clock: WallClock,
    pub(crate) filter: PeerFilter,
    pub(crate) allocations: HashMap<FiveTuple, Allocation>,
    pub(crate) by_relay: HashMap<SocketAddr, FiveTuple>,
    pub(crate) by_connection: HashMap<ConnectionId, FiveTuple>,
    pub(crate) pending: HashMap<FiveTuple, PendingAllocation>,
    pub(crate) binds: HashMap<BindId, FiveTuple>,
    pub(crate) lookups: Lookups,
    pub(crate) keys: KeyCache,
    pub(crate) unauthenticated: KeyedLimiter<IpAddr>,
    pub(crate) timers: Timers,
    pub(crate) out: VecDeque<Output>,
    pub(crate) metrics: Metrics,
    pub(crate) next_id: u64,
    /// Shutting down: new Allocate requests get 508 (see [`Server::set_draining`]).
    pub(crate) draining: bool,
}

impl Server {
    /// A core for worker number `worker` (0-based, at most 255).
    ///
    /// `seed` feeds the core's RNG (transaction ids, reservation tokens,
    /// connection ids): give 32 bytes from the OS RNG, or fixed bytes in tests.
    /// `unix_now` is the wall-clock time at `now`, used for REST credential
    /// expiry and nonce timestamps; resynchronise with [`Server::set_wall_clock`].
    pub fn new(
        config: Arc<CoreConfig>,
        shared: Arc<Shared>,
        worker: u8,
        seed: [u8; 32],
        now: Instant,
        unix_now: Duration,
    ) -> Self {
        let limits = &config.limits;
        shared.configure_auth_failures(config.auth.failure_limit, limits.max_tracked_sources);
        let unauthenticated = KeyedLimiter::new(limits.unauthenticated, limits.max_tracked_sources);
        Self {
            filter: PeerFilter::new(&config.peers),
            keys: KeyCache::new(config.auth.key_cache_capacity),
            lookups: Lookups::default(),
            unauthenticated,
            shared,
            worker,
            rng: StdRng::from_seed(seed),
            clock: WallClock { at: now, unix: unix_now },
            allocations: HashMap::new(),
            by_relay: HashMap::new(),
            by_connection: HashMap::new(),
            pending: HashMap::new(),
            binds: HashMap::new(),
            timers: Timers::default(),
            out: VecDeque::new(),
            metrics: Metrics::default(),
            next_id: 1,
            draining: false,
            config,
        }
    }

    /// Apply a reloaded configuration (SIGHUP). Existing allocations keep their
    /// lifetimes; limits, peer policy, realm and credentials apply from now on.
    /// Cached keys are dropped, since the realm or the secrets may have changed.
    pub fn set_config(&mut self, config: Arc<CoreConfig>) {
        self.filter = PeerFilter::new(&config.peers);
        self.shared.configure_auth_failures(config.auth.failure_limit, config.limits.max_tracked_sources);
        self.unauthenticated.set_limit(config.limits.unauthenticated);
        self.keys = KeyCache::new(config.auth.key_cache_capacity);
        self.config = config;
    }

    /// Enter (or leave) draining mode, for a graceful stop (SIGTERM).
    ///
    /// While draining, every new Allocate request is answered with 508
    /// Insufficient Capacity (RFC 8656 §7.2), so clients move to another
    /// server at once instead of timing out. A request without credentials
    /// gets the 508 unsigned, before any challenge; an authenticated one gets
    /// it signed after authentication, since clients discard unsigned errors
    /// to signed requests (RFC 8489 §9.2.5). Retransmissions of an Allocate
    /// that already succeeded still get their original answer, and Refresh,
    /// CreatePermission, ChannelBind, Connect, ConnectionBind and relayed data
    /// on existing allocations work as before, until the shell stops.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Whether [`Server::set_draining`] is on.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Resynchronise unix time (call now and then, for example every minute).
    pub fn set_wall_clock(&mut self, now: Instant, unix_now: Duration) {
        self.clock = WallClock { at: now, unix: unix_now };
    }

    /// Forget every cached key and secret, for example after users changed.
    pub fn forget_keys(&mut self) {
        self.keys.clear();
    }

    /// Put a known answer in the key cache so that requests for it are served
    /// without an [`Event::NeedKey`] round trip (for example at startup).
    pub fn prime_key(&mut self, realm: &str, query: KeyQuery, answer: KeyAnswer, now: Instant) {
        if let Some(known) = Known::from_answer(answer) {
            let ttl = Duration::from_secs(self.config.auth.key_cache_ttl_secs);
            self.keys.insert(realm, query, known, ttl, now);
        }
    }

    /// This worker's counters.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        m.allocations_active = self.allocations.len() as u64;
        m
    }

    /// Whether `ip` is currently refused for too many authentication failures
    /// (counted over all workers sharing this core's [`Shared`]).
    pub fn is_throttled(&self, ip: IpAddr, now: Instant) -> bool {
        self.shared.is_throttled(ip, now)
    }

    /// Number of allocations this worker holds.
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// The next output: transmits and events first, then the next deadline.
    pub fn poll_output(&mut self) -> Output {
        match self.out.pop_front() {
            Some(o) => o,
            None => Output::Timeout(self.poll_timeout()),
        }
    }

    /// The earliest instant at which [`Server::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Expire whatever is due at `now`: allocations, permissions, channels,
    /// reservations, RFC 6062 connection waits, and unanswered key lookups.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Allocation(client) => self.on_allocation_timer(client, at, now),
                TimerKey::PendingAllocation(client) => self.on_pending_timer(client, now),
                TimerKey::Lookup(id) => self.on_lookup_timer(id, now),
                TimerKey::Reservation(token) => self.on_reservation_timer(token),
            }
        }
        if self.unauthenticated.len() > self.config.limits.max_tracked_sources / 2 {
            self.unauthenticated.purge_idle(now);
        }
    }

    /// A client's TCP or TLS connection closed: its allocation goes with it
    /// (RFC 8656 §3.1); a pending allocation is abandoned.
    pub fn handle_client_closed(&mut self, client: FiveTuple, now: Instant) {
        self.delete_allocation(&client, now, false);
        self.abandon_pending(&client);
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn unix_now(&self, now: Instant) -> u64 {
        self.clock.unix_secs(now)
    }

    pub(crate) fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    pub(crate) fn transmit(&mut self, t: Transmit) {
        self.metrics.methods.response_sent(&t.contents);
        self.out.push_back(Output::Transmit(t));
    }

    /// Send a reply on the 5-tuple a request came in on.
    pub(crate) fn reply_to(&mut self, from: &FiveTuple, contents: Vec<u8>) {
        self.transmit(Transmit {
            transport: from.transport,
            source: from.server,
            destination: from.client,
            contents,
        });
    }
}
