//! One worker thread: a current-thread tokio runtime running one
//! [`core::Server`](crate::core::Server), its own `SO_REUSEPORT` listening
//! sockets, and the relay sockets of the allocations it created.
//!
//! Everything here is single-threaded (`Rc`, `RefCell`, `spawn_local`): the hot
//! path takes no lock and crosses no channel. Workers talk to each other only
//! through [`Mail`], for RFC 6062 hand-overs and for reloads.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtc_daemon::ratelimit::KeyedLimiter;
use tokio::sync::{mpsc, oneshot, Notify};

use super::common::{Common, WorkerSockets};
use super::relay::{self, Relay};
use super::relay_poll::{self, RelayPoll};
use super::stream::{self, StreamConn};
use super::tcp_relay::{self, PeerSlot, TcpRelay};
use super::udp::{GsoBatch, RecvBatch, UdpIo};
use super::{client_udp, keys};
use crate::core::{
    ConnectionId, CoreConfig, Event, FiveTuple, Forward, Output, Server, Transmit, Transport, PEER_DATA_HEADROOM,
    PEER_DATA_TAILROOM,
};

/// How often a worker publishes its counters and resynchronises unix time.
const TICK: Duration = Duration::from_secs(1);

/// Messages between workers and from the control thread.
#[derive(Debug)]
pub(crate) enum Mail {
    /// A reloaded core configuration (SIGHUP).
    Config(Arc<CoreConfig>),
    /// Users or secrets may have changed: drop cached keys (SIGHUP).
    ForgetKeys,
    /// SIGTERM: answer new Allocate requests with 508 while existing
    /// allocations drain ([`Server::set_draining`]).
    Draining,
    /// RFC 6062: hand the peer side of `connection` over to the worker that
    /// received its ConnectionBind.
    TakePeer {
        /// The connection.
        connection: ConnectionId,
        /// Where to send the stream and the peer bytes read before the bind.
        reply: oneshot::Sender<Option<(std::net::TcpStream, Vec<u8>)>>,
    },
    /// RFC 6062: a spliced connection owned by this worker has closed.
    PeerClosed(ConnectionId),
}

/// The state of one worker thread.
pub(crate) struct Worker {
    /// This worker's index (the top byte of its connection ids).
    pub(crate) index: u8,
    /// What all workers share.
    pub(crate) common: Arc<Common>,
    /// The protocol core.
    pub(crate) core: RefCell<Server>,
    /// This worker's sockets on the UDP listening addresses.
    pub(crate) udp: Vec<Rc<UdpIo>>,
    /// Client TCP/TLS connections, by 5-tuple.
    pub(crate) streams: RefCell<HashMap<FiveTuple, Rc<StreamConn>>>,
    /// UDP relay sockets, by relayed address.
    pub(crate) relays: RefCell<HashMap<SocketAddr, Relay>>,
    /// RFC 6062 relay listeners, by relayed address.
    pub(crate) tcp_relays: RefCell<HashMap<SocketAddr, TcpRelay>>,
    /// RFC 6062 peer connections not (yet) spliced.
    pub(crate) peers: RefCell<HashMap<ConnectionId, PeerSlot>>,
    /// The epoll set of this worker's UDP relay sockets.
    pub(crate) relay_poll: RelayPoll,
    /// Receive buffers shared by every relay socket of this worker.
    pub(crate) relay_rx: RefCell<RecvBatch>,
    /// A one-datagram buffer with headroom, for GRO chunks from peers.
    pub(crate) scratch: RefCell<Vec<u8>>,
    /// Datagrams waiting to go out together (GSO).
    pub(crate) gso: RefCell<GsoBatch>,
    /// New TCP/TLS connections per source IP per second.
    pub(crate) accept_rate: RefCell<KeyedLimiter<IpAddr>>,
    /// Relayed data dropped because a client's stream queue was full.
    stream_drops: Cell<u64>,
    deadline: Cell<Option<Instant>>,
    timer: Notify,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("index", &self.index).finish_non_exhaustive()
    }
}

/// Start worker `index` on a new thread. The returned receiver yields once the
/// worker's sockets are registered (or why it could not start).
pub(crate) fn spawn(
    index: u8,
    common: Arc<Common>,
    sockets: WorkerSockets,
    mail: mpsc::UnboundedReceiver<Mail>,
) -> std::io::Result<oneshot::Receiver<Result<(), String>>> {
    let (started_tx, started_rx) = oneshot::channel();
    std::thread::Builder::new().name(format!("turnd-worker-{index}")).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = started_tx.send(Err(format!("cannot build the runtime: {e}")));
                return;
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let worker = match Worker::start(index, common, sockets) {
                Ok(w) => w,
                Err(e) => {
                    let _ = started_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = started_tx.send(Ok(()));
            worker.run(mail).await;
        });
    })?;
    Ok(started_rx)
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Worker {
    fn start(index: u8, common: Arc<Common>, sockets: WorkerSockets) -> std::io::Result<Rc<Self>> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(std::io::Error::other)?;
        let config = common.core_config();
        let accept_rate = common.stream_limits().tcp_connection_rate;
        let max_sources = config.limits.max_tracked_sources;
        let core = Server::new(config, Arc::clone(&common.shared), index, seed, Instant::now(), unix_now());
        let udp = sockets.udp.into_iter().map(|s| UdpIo::new(s).map(Rc::new)).collect::<Result<Vec<_>, _>>()?;
        let worker = Rc::new(Self {
            index,
            core: RefCell::new(core),
            udp,
            streams: RefCell::default(),
            relays: RefCell::default(),
            tcp_relays: RefCell::default(),
            peers: RefCell::default(),
            relay_poll: RelayPoll::new()?,
            relay_rx: RefCell::new(RecvBatch::new(PEER_DATA_HEADROOM, PEER_DATA_TAILROOM)),
            scratch: RefCell::new(Vec::new()),
            gso: RefCell::default(),
            accept_rate: RefCell::new(KeyedLimiter::new(accept_rate, max_sources)),
            stream_drops: Cell::new(0),
            deadline: Cell::new(None),
            timer: Notify::new(),
            common,
        });
        for io in &worker.udp {
            let ready = relay_poll::readiness(Rc::clone(io))?;
            tokio::task::spawn_local(client_udp::run(Rc::clone(&worker), ready));
        }
        tokio::task::spawn_local(relay_poll::drive(Rc::clone(&worker)));
        for (listener, transport) in sockets.streams {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::task::spawn_local(stream::accept_loop(Rc::clone(&worker), listener, transport));
        }
        Ok(worker)
    }

    /// Serve until the process exits: timers, counters and mail.
    async fn run(self: Rc<Self>, mut mail: mpsc::UnboundedReceiver<Mail>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.deadline.get();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {
                    self.deadline.set(None);
                    self.core.borrow_mut().handle_timeout(Instant::now());
                    self.pump();
                }
                () = self.timer.notified() => {}
                _ = tick.tick() => self.on_tick(),
                m = mail.recv() => match m {
                    Some(m) => self.on_mail(m),
                    None => return,
                },
            }
        }
    }

    fn on_tick(&self) {
        let mut core = self.core.borrow_mut();
        core.set_wall_clock(Instant::now(), unix_now());
        let dropped = self.gso.borrow().dropped() + self.stream_drops.get();
        let streams = self.streams.borrow().len() as u64;
        self.common.publish(usize::from(self.index), core.metrics(), streams, dropped);
    }

    fn on_mail(self: &Rc<Self>, mail: Mail) {
        match mail {
            Mail::Config(c) => self.core.borrow_mut().set_config(c),
            Mail::ForgetKeys => self.core.borrow_mut().forget_keys(),
            Mail::Draining => self.core.borrow_mut().set_draining(true),
            Mail::TakePeer { connection, reply } => tcp_relay::hand_over(self, connection, reply),
            Mail::PeerClosed(c) => tcp_relay::peer_closed(self, c),
        }
        self.pump();
    }

    /// Drain the core's output queue: send, start I/O, remember the deadline.
    /// Call after every `handle_*` on the core (never while it is borrowed).
    pub(crate) fn pump(self: &Rc<Self>) {
        loop {
            let out = self.core.borrow_mut().poll_output();
            match out {
                Output::Transmit(t) => self.transmit(&t),
                Output::Event(e) => self.on_event(e),
                Output::Timeout(at) => {
                    self.set_deadline(at);
                    return;
                }
            }
        }
    }

    fn set_deadline(&self, at: Option<Instant>) {
        let old = self.deadline.get();
        if at == old {
            return;
        }
        self.deadline.set(at);
        // A later deadline needs no wake-up: the timer fires early, finds
        // nothing due, and picks up the new deadline.
        if let Some(at) = at {
            if old.is_none_or(|old| at < old) {
                self.timer.notify_one();
            }
        }
    }

    fn on_event(self: &Rc<Self>, event: Event) {
        match event {
            Event::NeedKey { lookup, realm, query } => keys::spawn_lookup(self, lookup, realm, query),
            Event::BindRelay { bind, client, protocol, family, even_port, reserve_next, dont_fragment } => {
                let request = relay::BindRequest { protocol, family, even_port, reserve_next, dont_fragment };
                let result = relay::bind(self, &request);
                if let Err(e) = &result {
                    tracing::debug!(client = %client.client, "relay bind failed: {e:?}");
                }
                self.core.borrow_mut().handle_relay_bound(bind, result, Instant::now());
            }
            Event::RelayReleased { relay, protocol } => relay::release(self, relay, protocol),
            Event::ConnectPeer { connection, relay, peer } => tcp_relay::connect(self, connection, relay, peer),
            Event::SpliceConnection { client, connection } => {
                if let Some(conn) = self.streams.borrow().get(&client) {
                    conn.start_splice(connection);
                }
            }
            Event::ClosePeerConnection { connection } => tcp_relay::close(self, connection),
        }
    }

    /// Send a message the core composed.
    fn transmit(self: &Rc<Self>, t: &Transmit) {
        match t.transport {
            Transport::Udp => match self.udp_for(t.source) {
                Some((io, src_ip)) => {
                    if let Err(e) = io.send_one(t.destination, src_ip, &t.contents) {
                        tracing::trace!(to = %t.destination, "send failed: {e}");
                    }
                }
                None => tracing::debug!(source = %t.source, "no UDP socket for transmit"),
            },
            Transport::Tcp | Transport::Tls => {
                let key = FiveTuple { transport: t.transport, client: t.destination, server: t.source };
                if let Some(conn) = self.streams.borrow().get(&key) {
                    if !conn.push_control(&t.contents) {
                        tracing::debug!(client = %t.destination, "stream queue full: message dropped");
                    }
                }
            }
            Transport::Dtls => {}
        }
    }

    /// Relay the bytes `buf[f.range]` as the core said (hot path).
    pub(crate) fn forward(self: &Rc<Self>, gso: &mut GsoBatch, f: &Forward, buf: &[u8]) {
        let Some(bytes) = buf.get(f.range.clone()) else { return };
        match f.transport {
            Transport::Udp => {
                if let Some(relay) = self.relays.borrow().get(&f.source) {
                    if relay.wants_fragmentation_change(f.dont_fragment) {
                        gso.flush();
                        relay.apply_fragmentation(f.dont_fragment);
                    }
                    gso.push(relay.io(), f.destination, None, bytes);
                    return;
                }
                match self.udp_for(f.source) {
                    // Peer data to clients: many destinations, one socket.
                    Some((io, None)) => gso.push_many(&io, f.destination, bytes),
                    Some((io, src_ip)) => gso.push(&io, f.destination, src_ip, bytes),
                    None => tracing::debug!(source = %f.source, "no UDP socket for forward"),
                }
            }
            Transport::Tcp | Transport::Tls => {
                let key = FiveTuple { transport: f.transport, client: f.destination, server: f.source };
                if let Some(conn) = self.streams.borrow().get(&key) {
                    if !conn.push_data(bytes) {
                        self.stream_drops.set(self.stream_drops.get() + 1);
                    }
                }
            }
            Transport::Dtls => {}
        }
    }

    /// The UDP socket that owns local address `source` (a listening address,
    /// possibly through a wildcard socket, or a relayed address), and the
    /// source IP to set when the socket is a wildcard one.
    pub(crate) fn udp_for(self: &Rc<Self>, source: SocketAddr) -> Option<(Rc<UdpIo>, Option<IpAddr>)> {
        for io in &self.udp {
            let local = io.local();
            if local == source {
                return Some((Rc::clone(io), None));
            }
            if local.port() == source.port() && local.ip().is_unspecified() && local.is_ipv4() == source.is_ipv4() {
                return Some((Rc::clone(io), Some(source.ip())));
            }
        }
        if let Some(r) = self.relays.borrow().get(&source) {
            return Some((Rc::clone(r.io()), None));
        }
        relay::adopt_parked(self, source).map(|io| (io, None))
    }
}
