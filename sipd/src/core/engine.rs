//! The [`Core`]: its state and the public `handle_*`/`poll_output` surface.
//! The plumbing behind it is in `table.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rtc_daemon::ratelimit::{KeyedLimiter, RateLimit};
use rtc_sip::Limits;

use super::auth::Auth;
use super::config::CoreConfig;
use super::crypto::Keys;
use super::error::Error;
use super::flow::Signer;
use super::metrics::Metrics;
use super::net::Net;
use super::proxy::ProxyCtx;
use super::routing::StaticRoutes;
use super::table::{ClientTxn, Lookup, ServerTxn, Stage, TimerRef};
use super::transaction::timers::Timers;
use super::transaction::ServerKey;
use super::types::{
    Binding, ConnectionId, DigestKeys, Event, Listener, LookupFailed, LookupId, Output,
};

const HOUSEKEEPING: Duration = Duration::from_secs(5);

/// The sans-IO proxy/registrar engine of one worker. See the module
/// documentation of [`crate::core`] for the run loop.
#[derive(Debug)]
pub struct Core {
    pub(super) cfg: CoreConfig,
    pub(super) timers: Timers,
    pub(super) routes: StaticRoutes,
    pub(super) net: Net,
    pub(super) signer: Signer,
    pub(super) auth: Auth,
    pub(super) metrics: Metrics,
    pub(super) servers: HashMap<u64, ServerTxn>,
    /// Bindings fetched with a REGISTER's credentials, for that server
    /// transaction; taken by the registrar within the same call.
    pub(super) prefetched: Option<(u64, Result<Vec<Binding>, LookupFailed>)>,
    pub(super) server_index: HashMap<ServerKey, u64>,
    pub(super) clients: HashMap<u64, ClientTxn>,
    pub(super) client_index: HashMap<(Box<[u8]>, bool), u64>,
    pub(super) proxies: HashMap<u64, ProxyCtx>,
    pub(super) limits: Limits,
    /// Lower-case scanner User-Agent substrings.
    pub(super) scanners: Vec<Vec<u8>>,
    pub(super) domains_cfg: HashSet<String>,
    pub(super) domains_db: HashSet<String>,
    pub(super) keys: Keys,
    pub(super) epoch: Instant,
    pub(super) rng: StdRng,
    pub(super) out: VecDeque<Output>,
    pub(super) lookups: HashMap<u64, Lookup>,
    pub(super) heap: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    pub(super) absorbing: VecDeque<u64>,
    pub(super) flood: KeyedLimiter<IpAddr>,
    pub(super) announced_bans: HashMap<IpAddr, Instant>,
    pub(super) closed: HashSet<ConnectionId>,
    pub(super) closed_order: VecDeque<ConnectionId>,
    pub(super) next_id: u64,
    pub(super) housekeeping_at: Instant,
}

fn flood_limiter(cfg: &CoreConfig) -> KeyedLimiter<IpAddr> {
    let f = &cfg.flood;
    let rate = RateLimit::new(
        f.requests,
        f64::from(f.requests) / f64::from(f.window_secs.max(1)),
    );
    KeyedLimiter::new(rate, f.max_sources).with_ban(Duration::from_secs(f.ban_secs))
}

fn lower_scanners(cfg: &CoreConfig) -> Vec<Vec<u8>> {
    cfg.scanner_user_agents
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase().into_bytes())
        .collect()
}

fn lower_set(domains: &[String]) -> HashSet<String> {
    domains.iter().map(|d| d.to_ascii_lowercase()).collect()
}

impl Core {
    /// A core for one worker.
    ///
    /// `secret` keys nonces, flow tokens and route signatures: share it among
    /// workers and keep it across restarts (long dialogs carry flow tokens).
    /// `epoch` is the time base of nonces, shared by all workers. `seed`
    /// seeds branch and tag generation; give each worker its own.
    pub fn new(
        config: CoreConfig,
        listeners: Vec<Listener>,
        secret: [u8; 32],
        epoch: Instant,
        seed: u64,
    ) -> Result<Core, Error> {
        config.validate()?;
        let keys = Keys::derive(&secret);
        Ok(Core {
            timers: Timers::from_config(&config.timers),
            routes: StaticRoutes::compile(&config.routes)?,
            net: Net::new(listeners)?,
            signer: Signer::new(keys.flow, keys.route),
            auth: Auth::new(config.auth.clone(), keys.nonce, epoch),
            metrics: Metrics::default(),
            servers: HashMap::new(),
            prefetched: None,
            server_index: HashMap::new(),
            clients: HashMap::new(),
            client_index: HashMap::new(),
            proxies: HashMap::new(),
            limits: Limits::DEFAULT,
            scanners: lower_scanners(&config),
            domains_cfg: lower_set(&config.domains),
            domains_db: HashSet::new(),
            flood: flood_limiter(&config),
            announced_bans: HashMap::new(),
            cfg: config,
            keys,
            epoch,
            rng: StdRng::seed_from_u64(seed),
            out: VecDeque::new(),
            lookups: HashMap::new(),
            heap: BinaryHeap::new(),
            absorbing: VecDeque::new(),
            closed: HashSet::new(),
            closed_order: VecDeque::new(),
            next_id: 1,
            housekeeping_at: epoch + HOUSEKEEPING,
        })
    }

    /// Apply a reloaded configuration (SIGHUP). Transactions in progress keep
    /// their timers; listeners and the secret do not change.
    pub fn set_config(&mut self, config: CoreConfig) -> Result<(), Error> {
        config.validate()?;
        self.routes = StaticRoutes::compile(&config.routes)?;
        self.timers = Timers::from_config(&config.timers);
        self.auth
            .reconfigure(config.auth.clone(), self.keys.nonce, self.epoch);
        self.domains_cfg = lower_set(&config.domains);
        self.scanners = lower_scanners(&config);
        if config.flood != self.cfg.flood {
            self.flood = flood_limiter(&config);
        }
        self.cfg = config;
        Ok(())
    }

    /// Replace the local domains that come from the database (the
    /// configured ones stay local).
    pub fn handle_domains_changed<I: IntoIterator<Item = String>>(&mut self, domains: I) {
        self.domains_db = domains
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
    }

    /// Whether `domain` is one of ours.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        self.domains_cfg.contains(&d) || self.domains_db.contains(&d)
    }

    /// The domain of Request-URIs naming one of our addresses: the first
    /// configured domain, else the first database domain in sort order.
    pub(super) fn default_domain(&self) -> Option<String> {
        match self.cfg.domains.first() {
            Some(d) => Some(d.to_ascii_lowercase()),
            None => self.domains_db.iter().min().cloned(),
        }
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Live server and client transactions (for a gauge).
    pub fn transaction_count(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    /// Which of `workers` cores should handle a message: a hash of its
    /// Call-ID, so every message of a transaction, of its CANCEL and of the
    /// responses lands on the same core. Unparsable messages go to core 0.
    ///
    /// Only the Call-ID line is looked at (the core parses the whole
    /// message), so sharding costs a scan of the header lines, not a parse.
    pub fn shard(bytes: &[u8], workers: usize) -> usize {
        let Some(call_id) = call_id_line(bytes) else {
            return 0;
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in call_id {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        usize::try_from(h % workers.max(1) as u64).unwrap_or(0)
    }

    /// Take the next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let next = self.heap.peek().map(|Reverse((at, _))| *at);
        Output::Timeout(next.map_or(self.housekeeping_at, |t| t.min(self.housekeeping_at)))
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, t))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.deadline_of(t).is_some_and(|d| d <= now) {
                self.fire(t, now);
            }
        }
        if now >= self.housekeeping_at {
            self.housekeeping_at = now + HOUSEKEEPING;
            self.auth.purge(now);
            self.flood.purge_idle(now);
            self.announced_bans.retain(|_, until| *until > now);
        }
    }

    /// Take a flood token for `ip`; announce a new ban once.
    pub(super) fn flood_check(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.flood.check(&ip, now) {
            return true;
        }
        let fresh = self
            .announced_bans
            .get(&ip)
            .is_none_or(|until| now >= *until);
        if fresh && self.announced_bans.len() < self.cfg.flood.max_sources {
            self.announced_bans
                .insert(ip, now + Duration::from_secs(self.cfg.flood.ban_secs));
            self.emit(Event::SourceBanned { source: ip });
        }
        false
    }

    /// The answer to [`Event::NeedCredentials`].
    pub fn handle_credentials(
        &mut self,
        id: LookupId,
        keys: Result<Option<DigestKeys>, LookupFailed>,
        now: Instant,
    ) {
        self.handle_credentials_and_bindings(id, keys, None, now);
    }

    /// The answer to [`Event::NeedCredentials`] when its `bindings_of` AoR's
    /// bindings were fetched too (`bindings` is `None` if they were not).
    pub fn handle_credentials_and_bindings(
        &mut self,
        id: LookupId,
        keys: Result<Option<DigestKeys>, LookupFailed>,
        bindings: Option<Result<Vec<Binding>, LookupFailed>>,
        now: Instant,
    ) {
        let Some((
            sid,
            Stage::Auth {
                realm, register, ..
            },
        )) = self.take_lookup(id, |s| matches!(s, Stage::Auth { .. }))
        else {
            return;
        };
        self.prefetched = bindings.filter(|_| register).map(|b| (sid, b));
        self.resume_auth(sid, &realm, register, keys, now);
        self.prefetched = None;
    }

    /// The answer to [`Event::NeedBindings`].
    pub fn handle_location(
        &mut self,
        id: LookupId,
        bindings: Result<Vec<Binding>, LookupFailed>,
        now: Instant,
    ) {
        match self.take_lookup(id, |s| {
            matches!(s, Stage::Location { .. } | Stage::RegisterFetch { .. })
        }) {
            Some((sid, Stage::Location { .. })) => self.resume_location(sid, bindings, now),
            Some((sid, Stage::RegisterFetch { .. })) => self.resume_register(sid, bindings, now),
            _ => {}
        }
    }

    /// The answer to [`Event::SaveBindings`]: the AoR's bindings after the change.
    pub fn handle_saved(
        &mut self,
        id: LookupId,
        bindings: Result<Vec<Binding>, LookupFailed>,
        now: Instant,
    ) {
        if let Some((sid, Stage::RegisterSave { outbound, .. })) =
            self.take_lookup(id, |s| matches!(s, Stage::RegisterSave { .. }))
        {
            self.resume_saved(sid, outbound, bindings, now);
        }
    }

    /// A stream connection closed: stop using flows through it (RFC 5626 §5.3).
    pub fn handle_flow_closed(&mut self, connection: ConnectionId, _now: Instant) {
        if self.closed.insert(connection) {
            self.closed_order.push_back(connection);
            while self.closed_order.len() > self.cfg.limits.max_closed_connections {
                if let Some(old) = self.closed_order.pop_front() {
                    self.closed.remove(&old);
                }
            }
        }
        self.out
            .push_back(Output::Event(Event::FlowBindingsGone { connection }));
    }

    /// A [`Transmit`](super::Transmit) with a `failure_token` could not be delivered (RFC 3261 §17.1.4):
    /// the branch is treated as a 503 (§16.7 step 5 / §16.9).
    pub fn handle_transmit_failed(&mut self, token: u64, now: Instant) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        c.machine.terminate();
        let (cancel, proxy, index) = (c.cancel, c.proxy, c.index);
        self.after_client(token);
        if !cancel {
            self.branch_failed(proxy, index, 503, now);
        }
    }

    pub(super) fn is_closed(&self, c: Option<ConnectionId>) -> bool {
        c.is_some_and(|c| self.closed.contains(&c))
    }
}

/// `v` without leading and trailing blanks.
fn trim_blanks(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = v {
        v = rest;
    }
    v
}

/// The value of the first `Call-ID` (or compact `i`) header line of a
/// message, trimmed; `None` when there is none before the blank line.
fn call_id_line(bytes: &[u8]) -> Option<&[u8]> {
    // The start line is skipped; headers end at the first empty line.
    for line in bytes.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = line.split_at(colon);
        let name = trim_blanks(name);
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            return Some(trim_blanks(value.get(1..).unwrap_or_default()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_line_finds_long_and_compact_forms_and_stops_at_the_body() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"OPTIONS sip:x SIP/2.0\r\nVia: a\r\nCall-ID:  abc@h \r\n\r\n", Some(b"abc@h")),
            (b"OPTIONS sip:x SIP/2.0\r\ni\t: abc@h\r\n\r\n", Some(b"abc@h")),
            (b"SIP/2.0 200 OK\r\nCALL-id:abc@h\r\n\r\n", Some(b"abc@h")),
            (b"OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\nCall-ID: in-body\r\n", None),
            (b"Call-ID: start-line-only", None),
            (b"", None),
        ];
        for (msg, want) in cases {
            assert_eq!(call_id_line(msg), *want, "{}", String::from_utf8_lossy(msg));
        }
    }

    #[test]
    fn shard_keeps_a_transaction_and_its_responses_on_one_worker() {
        let req = b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\n\r\n";
        let resp = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKsd1\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(Core::shard(req, 4), Core::shard(resp, 4));
        let spread: std::collections::HashSet<usize> = (0..64)
            .map(|i| {
                Core::shard(
                    format!("OPTIONS sip:x SIP/2.0\r\nCall-ID: c{i}\r\n\r\n").as_bytes(),
                    4,
                )
            })
            .collect();
        assert_eq!(spread.len(), 4, "Call-IDs spread over every worker");
        assert_eq!(Core::shard(b"garbage", 4), 0);
        assert!(Core::shard(req, 1) == 0 && Core::shard(req, 0) == 0);
    }
}
