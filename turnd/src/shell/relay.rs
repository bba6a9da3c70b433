//! Relay sockets (RFC 8656 §7.2): binding them on `relay.addresses` inside
//! `relay.port_min..=relay.port_max`, EVEN-PORT and reservations (§14.6,
//! §14.9), the per-allocation receive task, and releasing them.
//!
//! Memory per allocation matters (a server holds tens of thousands): each UDP
//! relay is one socket in the worker's relay epoll set ([`super::relay_poll`]),
//! without a task or buffers of its own; the datagrams are read into the
//! worker's shared [`RecvBatch`].

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use quinn_udp::BATCH_SIZE;
use rand::Rng;

use super::common::lock;
use super::relay_poll::Token;
use super::sockopt::{set_fragmentation, Fragmentation};
use super::tcp_relay;
use super::udp::{bind_udp, segments, GsoBatch, RecvBatch, UdpIo};
use super::worker::Worker;
use crate::core::{BindFailure, Family, RelayAddr, RelayBinding, RelayProtocol, PEER_DATA_HEADROOM, PEER_DATA_TAILROOM};

/// Random ports tried before giving up with 508 (when the range is larger).
const RANDOM_ATTEMPTS: usize = 128;
/// Batches read from one relay socket before letting other sockets run.
const ROUNDS: usize = 4;

/// What the core asked for in [`Event::BindRelay`](crate::core::Event::BindRelay).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BindRequest {
    pub(crate) protocol: RelayProtocol,
    pub(crate) family: Family,
    pub(crate) even_port: bool,
    pub(crate) reserve_next: bool,
    pub(crate) dont_fragment: bool,
}

/// One UDP relay socket of this worker.
#[derive(Debug)]
pub(crate) struct Relay {
    io: Rc<UdpIo>,
    /// Its place in the worker's relay epoll set.
    token: Token,
    /// DONT-FRAGMENT was in the Allocate: DF on everything (RFC 8656 §14.8).
    df_always: bool,
    /// Whether DF is currently set on the socket.
    df_now: Cell<bool>,
}

impl Relay {
    /// The socket.
    pub(crate) fn io(&self) -> &Rc<UdpIo> {
        &self.io
    }

    /// Whether sending a datagram with (or without) DONT-FRAGMENT needs the
    /// socket's DF setting changed first.
    pub(crate) fn wants_fragmentation_change(&self, dont_fragment: bool) -> bool {
        (self.df_always || dont_fragment) != self.df_now.get()
    }

    /// Set DF for the next datagrams (a Send indication's DONT-FRAGMENT, §10.2).
    pub(crate) fn apply_fragmentation(&self, dont_fragment: bool) {
        let df = self.df_always || dont_fragment;
        let policy = if df { Fragmentation::Forbid } else { Fragmentation::Allow };
        if set_fragmentation(self.io.socket(), self.io.local().is_ipv6(), policy).is_ok() {
            self.df_now.set(df);
        }
    }
}

/// The address family of an IP.
fn family_of(ip: &IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// Candidate ports, random first, for `req` in `min..=max`.
fn candidate_ports(min: u16, max: u16, req: &BindRequest) -> Vec<u16> {
    let mut rng = rand::thread_rng();
    // With R, port + 1 must fit too.
    let hi = if req.reserve_next { max.saturating_sub(1) } else { max };
    let ok = |p: u16| p >= min && p <= hi && (!req.even_port || p.is_multiple_of(2));
    if hi < min {
        return Vec::new();
    }
    let span = usize::from(hi - min) + 1;
    if span <= RANDOM_ATTEMPTS * 2 {
        // Small range: try every port, from a random start.
        let start = rng.gen_range(0..span);
        return (0..span)
            .filter_map(|i| u16::try_from(usize::from(min) + (start + i) % span).ok())
            .filter(|p| ok(*p))
            .collect();
    }
    (0..RANDOM_ATTEMPTS)
        .map(|_| {
            let p = rng.gen_range(min..=hi);
            if req.even_port && !p.is_multiple_of(2) {
                if p > min { p - 1 } else { p + 1 }
            } else {
                p
            }
        })
        .filter(|p| ok(*p))
        .collect()
}

/// Answer a BindRelay: bind, register and start serving the relay (and the
/// reserved next port), or say why not.
pub(crate) fn bind(worker: &Rc<Worker>, req: &BindRequest) -> Result<RelayBinding, BindFailure> {
    let settings = &worker.common.relay;
    let ips: Vec<IpAddr> = settings.addresses.iter().copied().filter(|ip| family_of(ip) == req.family).collect();
    if ips.is_empty() {
        return Err(BindFailure::FamilyNotSupported);
    }
    let ip = ips.get(rand::thread_rng().gen_range(0..ips.len())).copied().ok_or(BindFailure::FamilyNotSupported)?;
    for port in candidate_ports(settings.port_min, settings.port_max, req) {
        let addr = SocketAddr::new(ip, port);
        let bound = match req.protocol {
            RelayProtocol::Udp => bind_udp_pair(worker, addr, req),
            RelayProtocol::Tcp => tcp_relay::listen(worker, addr).map(|local| (local, None)),
        };
        match bound {
            Ok((local, reserved)) => {
                let public = |a: SocketAddr| RelayAddr { local: a, public: worker.common.advertised(a) };
                return Ok(RelayBinding { relay: public(local), reserved: reserved.map(public) });
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => {
                tracing::warn!(%addr, "cannot bind a relay socket: {e}");
                return Err(BindFailure::InsufficientCapacity);
            }
        }
    }
    tracing::warn!(%ip, "no free relay port between {} and {}", settings.port_min, settings.port_max);
    Err(BindFailure::InsufficientCapacity)
}

/// Bind `addr` (and with R, `addr + 1`, parked for its reservation token).
fn bind_udp_pair(worker: &Rc<Worker>, addr: SocketAddr, req: &BindRequest) -> io::Result<(SocketAddr, Option<SocketAddr>)> {
    let sock = bind_udp(addr, false)?;
    let next = if req.reserve_next {
        let next_addr = SocketAddr::new(addr.ip(), addr.port().wrapping_add(1));
        Some(bind_udp(next_addr, false)?)
    } else {
        None
    };
    let local = start(worker, sock, req.dont_fragment)?;
    let reserved = match next {
        Some(s) => {
            let a = s.local_addr()?;
            lock(&worker.common.parked).insert(a, s);
            Some(a)
        }
        None => None,
    };
    Ok((local, reserved))
}

/// Register `sock` as a relay of this worker, in its relay epoll set.
fn start(worker: &Rc<Worker>, sock: std::net::UdpSocket, dont_fragment: bool) -> io::Result<SocketAddr> {
    let io = Rc::new(UdpIo::new(sock)?);
    // quinn-udp forbade fragmentation; a relay allows it unless asked (§14.8).
    let policy = if dont_fragment { Fragmentation::Forbid } else { Fragmentation::Allow };
    set_fragmentation(io.socket(), io.local().is_ipv6(), policy)?;
    let local = io.local();
    let token = worker.relay_poll.register(&io)?;
    let relay = Relay { io, token, df_always: dont_fragment, df_now: Cell::new(dont_fragment) };
    worker.relays.borrow_mut().insert(local, relay);
    Ok(local)
}

/// A reserved relay claimed by an allocation of this worker: take it from the
/// shared table and start serving it here.
pub(crate) fn adopt_parked(worker: &Rc<Worker>, addr: SocketAddr) -> Option<Rc<UdpIo>> {
    let sock = lock(&worker.common.parked).remove(&addr)?;
    start(worker, sock, false).ok()?;
    worker.relays.borrow().get(&addr).map(|r| Rc::clone(r.io()))
}

/// Close a relay the core no longer uses.
pub(crate) fn release(worker: &Rc<Worker>, relay: SocketAddr, protocol: crate::core::RelayProtocol) {
    match protocol {
        RelayProtocol::Udp => {
            let removed = worker.relays.borrow_mut().remove(&relay);
            match removed {
                Some(r) => worker.relay_poll.deregister(r.token),
                None => {
                    lock(&worker.common.parked).remove(&relay);
                }
            }
        }
        RelayProtocol::Tcp => tcp_relay::release(worker, relay),
    }
}

/// Serve the relay sockets `ready` reported by the worker's epoll set
/// ([`super::relay_poll`]): read each until its queue is empty (tokens still
/// holding data after [`ROUNDS`] batches go to `backlog`), relay what they
/// hold, and send it all at the end.
pub(crate) fn serve_ready(worker: &Rc<Worker>, ready: &[Token], backlog: &mut Vec<Token>) {
    {
        let mut batch = worker.relay_rx.borrow_mut();
        let mut gso = worker.gso.borrow_mut();
        for &token in ready {
            let Some(io) = worker.relay_poll.socket(token) else { continue };
            if !read_dry(worker, &io, &mut batch, &mut gso) {
                backlog.push(token);
            }
        }
        gso.flush();
    }
    worker.pump();
}

/// Read `io` into the shared buffers and relay to clients; `false` if data
/// is left after [`ROUNDS`] batches.
fn read_dry(worker: &Rc<Worker>, io: &Rc<UdpIo>, batch: &mut RecvBatch, gso: &mut GsoBatch) -> bool {
    let relay = io.local();
    for _ in 0..ROUNDS {
        let n = match batch.recv(io) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => continue,
        };
        let now = Instant::now();
        let head = batch.head();
        for i in 0..n {
            let Some((meta, slot)) = batch.slot_mut(i) else { continue };
            if meta.stride == 0 || meta.stride >= meta.len {
                let forward = worker.core.borrow_mut().handle_peer_data(relay, meta.addr, slot, meta.len, now);
                if let Some(f) = forward {
                    worker.forward(gso, &f, slot);
                }
                continue;
            }
            // GRO: the core frames a payload in place, which would clobber the
            // neighbouring datagrams, so each one is copied out first.
            let mut scratch = worker.scratch.borrow_mut();
            for r in segments(meta.len, meta.stride) {
                let Some(payload) = slot.get(head + r.start..head + r.end) else { continue };
                let len = payload.len();
                scratch.clear();
                scratch.resize(PEER_DATA_HEADROOM + len + PEER_DATA_TAILROOM, 0);
                if let Some(dst) = scratch.get_mut(PEER_DATA_HEADROOM..PEER_DATA_HEADROOM + len) {
                    dst.copy_from_slice(payload);
                }
                let forward = worker.core.borrow_mut().handle_peer_data(relay, meta.addr, &mut scratch, len, now);
                if let Some(f) = forward {
                    worker.forward(gso, &f, &scratch);
                }
            }
        }
        // A short batch means the queue was empty: the next datagram brings a new edge.
        if n < BATCH_SIZE {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(even_port: bool, reserve_next: bool) -> BindRequest {
        BindRequest { protocol: RelayProtocol::Udp, family: Family::V4, even_port, reserve_next, dont_fragment: false }
    }

    #[test]
    fn small_ranges_are_tried_completely() {
        let mut ports = candidate_ports(50000, 50009, &req(false, false));
        ports.sort_unstable();
        assert_eq!(ports, (50000..=50009).collect::<Vec<_>>());
    }

    #[test]
    fn even_port_with_reservation_leaves_room_for_the_next_port() {
        for (min, max) in [(50001, 50010), (49152, 65535)] {
            let ports = candidate_ports(min, max, &req(true, true));
            assert!(!ports.is_empty());
            for p in ports {
                assert!(p.is_multiple_of(2));
                assert!(p >= min && p < max, "{p}");
            }
        }
    }

    #[test]
    fn impossible_ranges_give_no_candidates() {
        assert!(candidate_ports(50001, 50001, &req(true, false)).is_empty());
        assert!(candidate_ports(50000, 50000, &req(true, true)).is_empty());
        assert!(candidate_ports(65535, 65535, &req(false, true)).is_empty());
    }
}
