//! [`Server`]: the whole c2s core — connections, sessions, the router and
//! the account cache — with its output queue and timers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rtc_daemon::ratelimit::KeyedLimiter;
use rtc_xmlstream::{ContentNamespace, Element};

use super::account::Account;
use super::clock::WallClock;
use super::config::{CoreConfig, VirtualHost};
use super::conn::Connection;
use super::features::disco;
use super::jid::Jid;
use super::pending::Pending;
use super::session::Session;
use super::storage::StorageRequest;
use super::types::{ConnId, Event, Output, RequestId, SessionId, Transmit};

/// What a timer entry refers to; checked lazily when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKey {
    Conn(ConnId),
    Session(SessionId),
    /// The next message-archive expiry step (XEP-0313).
    ArchiveExpiry,
    /// A server-to-server link (`s2s/`).
    Link(ConnId),
}

/// The sans-IO XMPP server core. See the [module docs](super) for the run loop.
#[derive(Debug)]
pub struct Server {
    pub(crate) config: CoreConfig,
    pub(crate) hosts: HashSet<String>,
    pub(crate) rng: StdRng,
    pub(crate) clock: WallClock,
    pub(crate) now: Instant,
    /// Secret for answers that must not reveal whether an account exists.
    pub(crate) secret: [u8; 32],
    /// Boxed, as are sessions: a map keeps up to twice its length in
    /// slots, and a slot should not cost a whole connection.
    pub(crate) conns: HashMap<ConnId, Box<Connection>>,
    pub(crate) sessions: HashMap<SessionId, Box<Session>>,
    /// Bound sessions per account (bare JID), attached or detached.
    pub(crate) resources: HashMap<Jid, Vec<SessionId>>,
    pub(crate) accounts: HashMap<Jid, Account>,
    pub(crate) pending: HashMap<RequestId, Pending>,
    /// XEP-0198 resumption ids.
    pub(crate) sm_tokens: HashMap<String, SessionId>,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    pub(crate) out: VecDeque<Output>,
    pub(crate) auth_failures: KeyedLimiter<IpAddr>,
    pub(crate) conn_rate: KeyedLimiter<IpAddr>,
    pub(crate) per_ip: HashMap<IpAddr, u32>,
    pub(crate) next_id: u64,
    /// XEP-0115 verification string of the server's disco#info.
    pub(crate) caps_ver: String,
    /// Clients' entity capabilities, for PEP (XEP-0115).
    pub(crate) caps: super::pep::caps::CapsState,
    /// Federation state (`s2s/`).
    pub(crate) s2s: super::s2s::S2s,
    /// Component domains by name (`component.rs`).
    pub(crate) components: HashMap<String, super::component::Component>,
}

impl Server {
    /// A core serving `hosts` (disabled ones are refused).
    ///
    /// `seed` feeds the core's RNG (stream ids, nonces, resources,
    /// resumption ids, salts for unknown users): give 32 bytes from the OS
    /// RNG, or fixed bytes in tests. `unix_now` is the wall-clock time at
    /// `now`, used for delay stamps and XEP-0202.
    pub fn new(
        config: CoreConfig,
        hosts: &[VirtualHost],
        seed: [u8; 32],
        now: Instant,
        unix_now: Duration,
    ) -> Self {
        let mut rng = StdRng::from_seed(seed);
        let secret: [u8; 32] = rng.gen();
        let l = &config.limits;
        let auth_failures = KeyedLimiter::new(l.auth_failures, l.max_tracked_sources);
        let conn_rate = KeyedLimiter::new(l.connection_rate, l.max_tracked_sources);
        let mut server = Self {
            hosts: enabled(hosts),
            rng,
            clock: WallClock::new(now, unix_now),
            now,
            secret,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            resources: HashMap::new(),
            accounts: HashMap::new(),
            pending: HashMap::new(),
            sm_tokens: HashMap::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
            auth_failures,
            conn_rate,
            per_ip: HashMap::new(),
            next_id: 1,
            caps_ver: disco::caps_ver(config.advertise_version),
            caps: Default::default(),
            s2s: super::s2s::S2s::default(),
            components: HashMap::new(),
            config,
        };
        server.init_components();
        let first = Duration::from_secs(server.config.archive.expiry_interval_seconds.max(1));
        server.mam_arm_expiry(first);
        server
    }

    /// Apply a reloaded configuration (SIGHUP). Existing connections keep
    /// their stream limits; streams to hosts no longer enabled are closed
    /// with `<host-gone/>`.
    pub fn reconfigure(&mut self, config: CoreConfig, hosts: &[VirtualHost], now: Instant) {
        self.now = now;
        self.auth_failures.set_limit(config.limits.auth_failures);
        self.conn_rate.set_limit(config.limits.connection_rate);
        self.caps_ver = disco::caps_ver(config.advertise_version);
        self.config = config;
        self.hosts = enabled(hosts);
        self.init_components();
        let gone: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| c.domain.as_ref().is_some_and(|d| !self.hosts.contains(d)))
            .map(|c| c.id)
            .collect();
        for conn in gone {
            self.stream_error(conn, super::error::StreamCondition::HostGone);
        }
    }

    /// Resynchronise the wall clock (after the system clock was stepped).
    pub fn set_wall_clock(&mut self, now: Instant, unix_now: Duration) {
        self.clock = WallClock::new(now, unix_now);
    }

    /// Close every connection with `<system-shutdown/>` (RFC 6120 §4.9.3.20).
    /// Sessions end as if their clients had logged out; their unacknowledged
    /// messages are stored offline.
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        self.s2s_shutdown();
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in all {
            self.stream_error(conn, super::error::StreamCondition::SystemShutdown);
        }
        let detached: Vec<SessionId> = self.sessions.keys().copied().collect();
        for sid in detached {
            self.end_session(sid);
        }
    }

    /// The next output. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let next = self
            .timers
            .peek()
            .map(|Reverse((at, _))| *at)
            .unwrap_or(self.now + Duration::from_secs(3600));
        Output::Timeout(next)
    }

    /// Run the timers due at `now`: pings, ping and negotiation timeouts,
    /// read resumption after throttling, stream-management resumption
    /// timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push(key);
        }
        due.sort_unstable();
        due.dedup();
        for key in due {
            match key {
                TimerKey::Conn(c) => self.conn_timeout(c),
                TimerKey::Session(s) => self.session_timeout(s),
                TimerKey::ArchiveExpiry => self.mam_expire(),
                TimerKey::Link(c) => self.link_timeout(c),
            }
        }
        self.auth_failures.purge_idle(now);
        self.conn_rate.purge_idle(now);
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of bound sessions, including detached ones awaiting resumption.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Whether `ip` is currently refused authentication after failures.
    pub fn is_auth_throttled(&self, ip: IpAddr, now: Instant) -> bool {
        self.auth_failures.is_limited(&ip, now)
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A random token of `len` URL-safe characters.
    pub(crate) fn random_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| {
                let i = self.rng.gen_range(0..ALPHABET.len());
                char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
            })
            .collect()
    }

    pub(crate) fn is_local_domain(&self, domain: &str) -> bool {
        self.hosts.contains(domain)
    }

    pub(crate) fn arm(&mut self, at: Instant, key: TimerKey) {
        self.timers.push(Reverse((at, key)));
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    /// Queue bytes for `conn`, merged with the previous transmit when it is
    /// for the same connection.
    pub(crate) fn transmit(&mut self, conn: ConnId, data: &[u8]) {
        if let Some(Output::Transmit(t)) = self.out.back_mut() {
            if t.conn == conn {
                t.data.extend_from_slice(data);
                return;
            }
        }
        self.out.push_back(Output::Transmit(Transmit {
            conn,
            data: data.to_vec(),
        }));
    }

    /// Serialise a top-level element onto `conn`. Elements that cannot be
    /// serialised (characters XML cannot carry) are dropped.
    pub(crate) fn write_element(&mut self, conn: ConnId, e: &Element) {
        let mut buf = Vec::new();
        if rtc_xmlstream::write_stanza(&mut buf, e, ContentNamespace::Client).is_ok() {
            self.transmit(conn, &buf);
        }
    }

    /// Emit a storage request and remember what to do with the answer.
    pub(crate) fn request(&mut self, request: StorageRequest, then: Pending) -> RequestId {
        let id = RequestId(self.fresh_id());
        self.pending.insert(id, then);
        self.emit(Event::Storage { id, request });
        id
    }
}

fn enabled(hosts: &[VirtualHost]) -> HashSet<String> {
    hosts
        .iter()
        .filter(|h| h.enabled)
        .filter_map(|h| Jid::domain_only(&h.domain).ok())
        .map(|j| j.domain().to_owned())
        .collect()
}
