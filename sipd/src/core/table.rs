//! The core's plumbing, shared by the proxy and the registrar: transaction
//! tables (RFC 3261 §17), local responses, sending, bounded parking of
//! requests waiting for the shell, and the timer heap.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rtc_sip::Message;

use super::engine::Core;
use super::proxy::ProxyCtx;
use super::transaction::client::{ClientMachine, ClientTimeout};
use super::transaction::server::{ServerMachine, ServerTimeout};
use super::transaction::ServerKey;
use super::types::{Destination, Event, Flow, ListenerId, LookupId, Output, Transmit};

/// What a parked server transaction waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stage {
    /// Nothing (being processed, proxying, or answered).
    Idle,
    /// Digest keys for `realm`.
    Auth {
        lookup: u64,
        realm: String,
        register: bool,
    },
    /// Bindings of the called AoR.
    Location { lookup: u64 },
    /// Bindings of the registering AoR.
    RegisterFetch { lookup: u64 },
    /// The result of saving bindings.
    RegisterSave { lookup: u64, outbound: bool },
}

impl Stage {
    pub(super) fn lookup(&self) -> Option<u64> {
        match self {
            Stage::Idle => None,
            Stage::Auth { lookup, .. }
            | Stage::Location { lookup }
            | Stage::RegisterFetch { lookup }
            | Stage::RegisterSave { lookup, .. } => Some(*lookup),
        }
    }
}

/// A server transaction (RFC 3261 §17.2) and the request it holds.
#[derive(Debug)]
pub(super) struct ServerTxn {
    pub(super) key: ServerKey,
    pub(super) machine: ServerMachine,
    pub(super) flow: Flow,
    /// Where responses go (§18.2.2, RFC 3581 §4).
    pub(super) reply: (ListenerId, Destination),
    pub(super) request: Arc<[u8]>,
    pub(super) last_response: Option<Vec<u8>>,
    pub(super) to_tag: String,
    pub(super) stage: Stage,
    pub(super) proxy: Option<u64>,
    /// Credentials of this realm are removed before forwarding (§22.3).
    pub(super) strip_realm: Option<String>,
    /// Authenticated local user or trusted source.
    pub(super) local_caller: bool,
    /// A CANCEL arrived for it.
    pub(super) cancelled: bool,
    pub(super) queued_absorbing: bool,
}

/// A client transaction (RFC 3261 §17.1) for one branch, or a CANCEL.
#[derive(Debug)]
pub(super) struct ClientTxn {
    pub(super) machine: ClientMachine,
    pub(super) branch: Box<[u8]>,
    pub(super) cancel: bool,
    pub(super) listener: ListenerId,
    pub(super) dest: Destination,
    pub(super) request: Vec<u8>,
    pub(super) ack: Option<Vec<u8>>,
    pub(super) proxy: u64,
    pub(super) index: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerRef {
    Server(u64),
    Client(u64),
    Proxy(u64),
    Lookup(u64),
}

#[derive(Debug)]
pub(super) struct Lookup {
    pub(super) server: u64,
    pub(super) deadline: Instant,
}

impl Core {
    // ----- ids, tags, branches -------------------------------------------------------------

    pub(super) fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) fn random(&mut self) -> u64 {
        self.rng.gen()
    }

    /// A branch (§8.1.1.7) whose first eight hex digits are the loop hash (§16.6 step 8).
    pub(super) fn new_branch(&mut self, loop_hash: u32) -> String {
        format!("z9hG4bKsd{loop_hash:08x}{:016x}", self.random())
    }

    pub(super) fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    pub(super) fn transmit(
        &mut self,
        listener: ListenerId,
        destination: Destination,
        bytes: Vec<u8>,
        failure_token: Option<u64>,
    ) {
        self.out.push_back(Output::Transmit(Transmit {
            listener,
            destination,
            bytes,
            failure_token,
        }));
    }

    // ----- server transactions ----------------------------------------------------------------

    /// Create a server transaction; `None` (and a 503) when too many are live.
    pub(super) fn create_server(
        &mut self,
        key: ServerKey,
        flow: &Flow,
        req: &Message<'_>,
    ) -> Option<u64> {
        if self.servers.len() >= self.cfg.limits.max_transactions {
            self.metrics.overload_rejections += 1;
            self.reply_stateless(
                flow,
                req,
                503,
                "Service Unavailable",
                &[("Retry-After", b"5")],
            );
            return None;
        }
        let invite = req.method() == Some(rtc_sip::Method::Invite);
        let id = self.new_id();
        let tag = format!("{:016x}", self.random());
        let t = ServerTxn {
            key: key.clone(),
            machine: ServerMachine::new(invite, flow.transport.is_reliable(), self.timers),
            flow: *flow,
            reply: self.reply_destination(flow, req),
            request: Arc::from(req.as_bytes()),
            last_response: None,
            to_tag: tag,
            stage: Stage::Idle,
            proxy: None,
            strip_realm: None,
            local_caller: false,
            cancelled: false,
            queued_absorbing: false,
        };
        self.servers.insert(id, t);
        self.server_index.insert(key, id);
        Some(id)
    }

    /// Reap, track as absorber, or re-arm after any change.
    pub(super) fn after_server(&mut self, sid: u64) {
        let Some(t) = self.servers.get_mut(&sid) else {
            return;
        };
        if t.machine.is_terminated() {
            self.remove_server(sid);
            return;
        }
        let mut evict = false;
        if t.machine.is_absorbing() && !t.queued_absorbing {
            t.queued_absorbing = true;
            self.absorbing.push_back(sid);
            evict = true;
        }
        if let Some(d) = t.machine.deadline() {
            self.arm(d, TimerRef::Server(sid));
        }
        while evict && self.absorbing.len() > self.cfg.limits.max_absorbing {
            let Some(old) = self.absorbing.pop_front() else {
                break;
            };
            if self
                .servers
                .get(&old)
                .is_some_and(|t| t.machine.is_absorbing())
            {
                self.remove_server(old);
            }
        }
    }

    pub(super) fn remove_server(&mut self, sid: u64) {
        if let Some(t) = self.servers.remove(&sid) {
            if self.server_index.get(&t.key) == Some(&sid) {
                self.server_index.remove(&t.key);
            }
            if let Some(l) = t.stage.lookup() {
                self.lookups.remove(&l);
            }
        }
    }

    /// A stored request parsed again (it was valid when stored).
    pub(super) fn stored_request(&self, sid: u64) -> Option<(Arc<[u8]>, Flow)> {
        self.servers.get(&sid).map(|t| (t.request.clone(), t.flow))
    }

    // ----- parking ----------------------------------------------------------------------------

    /// Park `sid` waiting for the shell; `None` (and a 503) when too many wait.
    pub(super) fn park(&mut self, sid: u64, req: &Message<'_>, now: Instant) -> Option<LookupId> {
        if self.lookups.len() >= self.cfg.limits.max_pending_lookups {
            self.metrics.overload_rejections += 1;
            self.reply(
                sid,
                req,
                503,
                "Service Unavailable",
                &[("Retry-After", b"5")],
                now,
            );
            return None;
        }
        let id = self.new_id();
        let deadline = now + Duration::from_secs(self.cfg.limits.lookup_timeout_secs);
        self.lookups.insert(
            id,
            Lookup {
                server: sid,
                deadline,
            },
        );
        self.arm(deadline, TimerRef::Lookup(id));
        Some(LookupId(id))
    }

    /// The transaction waiting for lookup `id`, when it waits for an answer
    /// of the kind `fits` accepts; anything else is ignored (late or misrouted).
    pub(super) fn take_lookup(
        &mut self,
        id: LookupId,
        fits: fn(&Stage) -> bool,
    ) -> Option<(u64, Stage)> {
        let server = self.lookups.get(&id.0)?.server;
        let t = self.servers.get_mut(&server)?;
        if t.stage.lookup() != Some(id.0) || !fits(&t.stage) {
            return None;
        }
        self.lookups.remove(&id.0);
        Some((server, std::mem::replace(&mut t.stage, Stage::Idle)))
    }

    // ----- client transactions ----------------------------------------------------------------

    /// Send a request on a new client transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_client(
        &mut self,
        proxy: u64,
        index: usize,
        listener: ListenerId,
        dest: Destination,
        bytes: Vec<u8>,
        branch: &[u8],
        invite: bool,
        cancel: bool,
        now: Instant,
    ) -> u64 {
        let reliable = self
            .net
            .transport_of(listener)
            .is_some_and(|t| t.is_reliable());
        let id = self.new_id();
        self.transmit(listener, dest.clone(), bytes.clone(), Some(id));
        let c = ClientTxn {
            machine: ClientMachine::new(invite, reliable, self.timers, now),
            branch: branch.into(),
            cancel,
            listener,
            dest,
            request: bytes,
            ack: None,
            proxy,
            index,
        };
        self.client_index.insert((c.branch.clone(), cancel), id);
        self.clients.insert(id, c);
        self.after_client(id);
        id
    }

    pub(super) fn after_client(&mut self, cid: u64) {
        let Some(c) = self.clients.get(&cid) else {
            return;
        };
        if c.machine.is_terminated() {
            if let Some(c) = self.clients.remove(&cid) {
                self.client_index.remove(&(c.branch, c.cancel));
                self.maybe_reap_proxy(c.proxy);
            }
            return;
        }
        if let Some(d) = c.machine.deadline() {
            self.arm(d, TimerRef::Client(cid));
        }
    }

    // ----- timers -----------------------------------------------------------------------------

    pub(super) fn arm(&mut self, at: Instant, t: TimerRef) {
        self.heap.push(Reverse((at, t)));
    }

    pub(super) fn deadline_of(&self, t: TimerRef) -> Option<Instant> {
        match t {
            TimerRef::Server(id) => self.servers.get(&id).and_then(|s| s.machine.deadline()),
            TimerRef::Client(id) => self.clients.get(&id).and_then(|c| c.machine.deadline()),
            TimerRef::Proxy(id) => self.proxies.get(&id).and_then(ProxyCtx::deadline),
            TimerRef::Lookup(id) => self.lookups.get(&id).map(|l| l.deadline),
        }
    }

    pub(super) fn fire(&mut self, t: TimerRef, now: Instant) {
        match t {
            TimerRef::Server(id) => {
                let Some(s) = self.servers.get_mut(&id) else {
                    return;
                };
                if s.machine.on_timeout(now) == ServerTimeout::Retransmit {
                    if let Some(r) = s.last_response.clone() {
                        let (l, d) = s.reply.clone();
                        self.metrics.retransmissions_sent += 1;
                        self.transmit(l, d, r, None);
                    }
                }
                self.after_server(id);
            }
            TimerRef::Client(id) => {
                let Some(c) = self.clients.get_mut(&id) else {
                    return;
                };
                match c.machine.on_timeout(now) {
                    ClientTimeout::Retransmit => {
                        let (l, d, r) = (c.listener, c.dest.clone(), c.request.clone());
                        self.metrics.retransmissions_sent += 1;
                        self.transmit(l, d, r, Some(id));
                    }
                    ClientTimeout::TimedOut => {
                        let (cancel, proxy, index) = (c.cancel, c.proxy, c.index);
                        self.metrics.timeouts += 1;
                        if !cancel {
                            self.branch_failed(proxy, index, 408, now);
                        }
                    }
                    ClientTimeout::Terminated | ClientTimeout::Nothing => {}
                }
                self.after_client(id);
            }
            TimerRef::Proxy(id) => self.proxy_timer(id, now),
            TimerRef::Lookup(id) => {
                let Some(l) = self.lookups.remove(&id) else {
                    return;
                };
                let Some(t) = self.servers.get_mut(&l.server) else {
                    return;
                };
                if t.stage.lookup() == Some(id) {
                    t.stage = Stage::Idle;
                    if let Some((raw, _)) = self.stored_request(l.server) {
                        if let Ok(req) = Message::parse_datagram(&raw, &self.limits) {
                            self.reply(
                                l.server,
                                &req,
                                500,
                                "Server Internal Error (database timeout)",
                                &[],
                                now,
                            );
                        }
                    }
                }
            }
        }
    }
}
