//! One task per [`Core`]: feed it what arrives on its channel, drain its
//! output (send messages, start database work), and sleep until its next
//! deadline. The [`Hub`] is what the drivers share: the sockets, the
//! connection registry (through [`Net`]), the database and the resolver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::db::{Answer, DbService};
use super::inbound::{FailToken, Inbound};
use super::net::{lock, Net};
use super::resolve::Resolver;
use super::stream;
use super::udp::UdpIo;
use crate::core::{Core, Destination, ListenerId, Metrics, Output, Transmit, Transport};

/// Inputs taken from the channel at once.
const BATCH: usize = 64;
/// How often a driver publishes its counters.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// A core's counters as last published.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoreStats {
    /// The core's counters.
    pub(crate) metrics: Metrics,
    /// Live transactions.
    pub(crate) transactions: usize,
}

/// What all drivers share.
#[derive(Debug)]
pub(crate) struct Hub {
    /// Connections and the way to the cores.
    pub(crate) net: Arc<Net>,
    /// UDP listeners by id.
    pub(crate) udp: HashMap<ListenerId, Arc<UdpIo>>,
    /// Every listener's transport and bound address.
    pub(crate) listeners: HashMap<ListenerId, (Transport, SocketAddr)>,
    /// Database work.
    pub(crate) db: Arc<DbService>,
    /// RFC 3263 lookups.
    pub(crate) resolver: Resolver,
    /// Each core's counters.
    pub(crate) stats: Vec<Mutex<CoreStats>>,
}

impl Hub {
    /// All cores' counters added up, and their live transactions.
    pub(crate) fn totals(&self) -> CoreStats {
        let mut total = CoreStats::default();
        for s in &self.stats {
            let s = lock(s);
            let (t, m) = (&mut total.metrics, &s.metrics);
            t.requests_received += m.requests_received;
            t.responses_received += m.responses_received;
            t.malformed += m.malformed;
            t.flood_dropped += m.flood_dropped;
            t.scanner_dropped += m.scanner_dropped;
            t.forwarded += m.forwarded;
            t.local_replies += m.local_replies;
            t.retransmissions_absorbed += m.retransmissions_absorbed;
            t.retransmissions_sent += m.retransmissions_sent;
            t.timeouts += m.timeouts;
            t.challenges += m.challenges;
            t.auth_failures += m.auth_failures;
            t.auth_throttled += m.auth_throttled;
            t.nonce_replays += m.nonce_replays;
            t.registrations += m.registrations;
            t.overload_rejections += m.overload_rejections;
            t.stray_responses += m.stray_responses;
            total.transactions += s.transactions;
        }
        total
    }

    /// Send what core `core` composed; `false` if it failed at once.
    fn transmit(self: &Arc<Self>, core: usize, t: Transmit) -> bool {
        let token = t.failure_token.map(|token| FailToken { core, token });
        let Some(&(transport, local)) = self.listeners.get(&t.listener) else { return false };
        match t.destination {
            Destination::Connection(id, _) => match self.net.connection(id) {
                Some(conn) => conn.send(t.bytes, token),
                None => false,
            },
            Destination::Addr(addr) => self.send_addr(t.listener, transport, addr, t.bytes, token, None),
            Destination::Resolve { host, port } => {
                let hub = Arc::clone(self);
                let (listener, bytes) = (t.listener, t.bytes);
                tokio::spawn(async move {
                    let found = hub.resolver.resolve(&host, port, transport, local.is_ipv6()).await;
                    let sent = match found {
                        Some(addr) => hub.send_addr(listener, transport, addr, bytes, token, Some(host)),
                        None => {
                            tracing::debug!(host = %host, "cannot resolve");
                            false
                        }
                    };
                    if let (false, Some(token)) = (sent, token) {
                        hub.net.fail(token).await;
                    }
                });
                true
            }
        }
    }

    /// Send to an address: a datagram, or over a reused or new connection.
    fn send_addr(
        &self,
        listener: ListenerId,
        transport: Transport,
        addr: SocketAddr,
        bytes: Vec<u8>,
        token: Option<FailToken>,
        server_name: Option<String>,
    ) -> bool {
        if transport == Transport::Udp {
            // A full socket buffer is not a transport failure: the
            // transaction layer retransmits.
            if let Some(io) = self.udp.get(&listener) {
                io.send(addr, &bytes);
                return true;
            }
            return false;
        }
        if let Some(conn) = self.net.connection_to(transport, addr) {
            return conn.send(bytes, token);
        }
        match stream::connect(&self.net, listener, transport, addr, server_name) {
            Some(conn) => {
                self.net.register(conn.clone());
                conn.send(bytes, token)
            }
            None => false,
        }
    }
}

/// Serve core `index` until its channel closes.
pub(crate) async fn run_core(hub: Arc<Hub>, index: usize, mut core: Core, mut rx: mpsc::Receiver<Inbound>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut publish = tokio::time::interval(PUBLISH_EVERY);
    let mut deadline = pump(&hub, index, &mut core);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                let now = Instant::now();
                for input in batch.drain(..) {
                    handle(&mut core, input, now);
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                core.handle_timeout(Instant::now());
            }
            _ = publish.tick() => {
                if let Some(slot) = hub.stats.get(index) {
                    *lock(slot) = CoreStats { metrics: core.metrics().clone(), transactions: core.transaction_count() };
                }
            }
        }
        deadline = pump(&hub, index, &mut core);
    }
}

fn handle(core: &mut Core, input: Inbound, now: Instant) {
    match input {
        Inbound::Datagram { listener, remote, bytes } => {
            let flow = crate::core::Flow { listener, transport: Transport::Udp, remote, connection: None };
            core.handle_message(flow, &bytes, now);
        }
        Inbound::Message { flow, bytes } => core.handle_message(flow, &bytes, now),
        Inbound::Closed(id) => core.handle_flow_closed(id, now),
        Inbound::SendFailed(token) => core.handle_transmit_failed(token, now),
        Inbound::Db(Answer::Credentials(id, keys, bindings)) => {
            core.handle_credentials_and_bindings(id, keys, bindings, now);
        }
        Inbound::Db(Answer::Location(id, found)) => core.handle_location(id, found, now),
        Inbound::Db(Answer::Saved(id, saved)) => core.handle_saved(id, saved, now),
        Inbound::Config(config) => {
            if let Err(e) = core.set_config((*config).clone()) {
                tracing::error!("configuration refused by the core, keeping the old one: {e}");
            }
        }
        Inbound::Domains(domains) => core.handle_domains_changed(domains.iter().cloned()),
    }
}

/// Drain the core's output; returns its next deadline.
fn pump(hub: &Arc<Hub>, index: usize, core: &mut Core) -> Instant {
    loop {
        match core.poll_output() {
            Output::Transmit(t) => {
                let token = t.failure_token;
                if !hub.transmit(index, t) {
                    if let Some(token) = token {
                        // Reported after this output, never from inside the drain.
                        core.handle_transmit_failed(token, Instant::now());
                    }
                }
            }
            Output::Event(e) => hub.db.handle(&hub.net, index, e),
            Output::Timeout(at) => return at,
        }
    }
}
