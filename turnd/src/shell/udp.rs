//! UDP sockets on the hot path: creation with socket2, batched receive with
//! `recvmmsg` and GRO, and GSO batching of equal-size datagrams on send, all
//! through `quinn_udp::UdpSocketState`.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};
use socket2::{Domain, Protocol, Socket, Type};

use super::mmsg::MmsgQueue;

/// Room for the largest UDP payload, or one GRO chunk (the kernel caps those at 64 KiB).
pub(crate) const SLOT: usize = 1 << 16;

/// Kernel buffer size asked for on listening sockets (capped by `net.core.rmem_max`).
const LISTENER_BUFFER: usize = 4 << 20;

/// Most bytes one GSO send may carry (the IP length field, minus headers).
const GSO_MAX_BYTES: usize = 65_000;

/// A non-blocking UDP socket bound with socket2.
///
/// Listening sockets set `SO_REUSEPORT` so that every worker binds its own
/// socket on the same address and the kernel shards clients by 4-tuple; relay
/// sockets do not, so that the kernel refuses a port that is already taken.
/// IPv6 sockets are IPv6-only, so `0.0.0.0` and `[::]` can both be bound.
pub(crate) fn bind_udp(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
        // Larger kernel buffers absorb bursts (coturn users report drops near
        // 700 Mbit/s with the defaults); the kernel silently caps the value.
        let _ = socket.set_recv_buffer_size(LISTENER_BUFFER);
        let _ = socket.set_send_buffer_size(LISTENER_BUFFER);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking UDP socket plus its quinn-udp state. Readiness is the
/// caller's business: listeners wrap it in an `AsyncFd`, relay sockets sit in
/// the worker's relay epoll set ([`super::relay_poll`]).
#[derive(Debug)]
pub(crate) struct UdpIo {
    socket: std::net::UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
}

impl AsRawFd for UdpIo {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl UdpIo {
    /// Set up quinn-udp on the non-blocking `sock` (which forbids
    /// fragmentation: relay sockets change that afterwards).
    pub(crate) fn new(sock: std::net::UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new((&sock).into())?;
        let local = sock.local_addr()?;
        sock.set_nonblocking(true)?;
        Ok(Self { socket: sock, state, local })
    }

    /// The bound address.
    pub(crate) fn local(&self) -> SocketAddr {
        self.local
    }

    /// The socket, for socket options.
    pub(crate) fn socket(&self) -> &std::net::UdpSocket {
        &self.socket
    }

    /// Receive up to [`BATCH_SIZE`] buffers without blocking (`WouldBlock` when none).
    fn try_recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        self.state.recv((&self.socket).into(), bufs, meta)
    }

    /// Send without blocking; `WouldBlock` when the kernel buffer is full.
    /// Unlike quinn-udp's `send`, every other error is reported too.
    ///
    /// The socket is non-blocking, so this goes straight to the kernel.
    /// Nothing ever awaits writability.
    pub(crate) fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.state.try_send((&self.socket).into(), transmit)
    }

    /// Send one datagram to `destination`, from `src_ip` on a wildcard socket.
    pub(crate) fn send_one(&self, destination: SocketAddr, src_ip: Option<IpAddr>, contents: &[u8]) -> io::Result<()> {
        self.try_send(&Transmit { destination, ecn: None, contents, segment_size: None, src_ip })
    }

    /// How many datagrams one GSO send may carry (1 without GSO).
    pub(crate) fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }
}

/// Receive buffers for one `recvmmsg` call: [`BATCH_SIZE`] slots of [`SLOT`]
/// bytes, each preceded by `head` and followed by `tail` spare bytes so that
/// the core can frame a peer payload in place.
#[derive(Debug)]
pub(crate) struct RecvBatch {
    buf: Vec<u8>,
    head: usize,
    stride: usize,
    meta: [RecvMeta; BATCH_SIZE],
}

impl RecvBatch {
    /// Buffers with `head` bytes before and `tail` bytes after each slot.
    /// The memory is only touched (and so only resident) where datagrams land.
    pub(crate) fn new(head: usize, tail: usize) -> Self {
        let stride = head + SLOT + tail;
        Self { buf: vec![0; stride * BATCH_SIZE], head, stride, meta: [RecvMeta::default(); BATCH_SIZE] }
    }

    /// Read a batch from `io`: the number of slots filled, or `WouldBlock`.
    /// Fewer than [`BATCH_SIZE`] means the socket's queue was empty.
    pub(crate) fn recv(&mut self, io: &UdpIo) -> io::Result<usize> {
        let (head, stride) = (self.head, self.stride);
        let mut chunks = self.buf.chunks_mut(stride);
        let mut slices: [IoSliceMut<'_>; BATCH_SIZE] = std::array::from_fn(|_| {
            let slot = chunks.next().and_then(|c| c.get_mut(head..head + SLOT)).unwrap_or_default();
            IoSliceMut::new(slot)
        });
        io.try_recv(&mut slices, &mut self.meta)
    }

    /// Slot `i` after [`RecvBatch::recv`]: its metadata and the whole slot,
    /// headroom included (the received bytes start at [`RecvBatch::head`]).
    pub(crate) fn slot_mut(&mut self, i: usize) -> Option<(RecvMeta, &mut [u8])> {
        let meta = *self.meta.get(i)?;
        let start = i.checked_mul(self.stride)?;
        let slot = self.buf.get_mut(start..start + self.stride)?;
        Some((meta, slot))
    }

    /// Where received bytes start inside a slot.
    pub(crate) fn head(&self) -> usize {
        self.head
    }
}

/// The datagrams of one received buffer: one, or several of `stride` bytes
/// each (the last may be shorter) when the kernel coalesced them with GRO.
pub(crate) fn segments(len: usize, stride: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let stride = if stride == 0 { len.max(1) } else { stride };
    (0..len).step_by(stride).map(move |start| start..(start + stride).min(len))
}

/// Coalesces consecutive datagrams of equal size to the same destination into
/// one GSO send (the last one may be shorter), when the socket supports GSO;
/// datagrams to many destinations from one socket go out with `sendmmsg`
/// ([`GsoBatch::push_many`]).
#[derive(Debug)]
pub(crate) struct GsoBatch {
    many: MmsgQueue,
    buf: Vec<u8>,
    target: Option<Rc<UdpIo>>,
    destination: SocketAddr,
    src_ip: Option<IpAddr>,
    segment: usize,
    count: usize,
    sealed: bool,
    /// Datagrams that could not be sent (kernel buffer full, errors).
    pub(crate) dropped: u64,
}

impl Default for GsoBatch {
    fn default() -> Self {
        Self {
            many: MmsgQueue::default(),
            buf: Vec::new(),
            target: None,
            destination: SocketAddr::from(([0, 0, 0, 0], 0)),
            src_ip: None,
            segment: 0,
            count: 0,
            sealed: false,
            dropped: 0,
        }
    }
}

impl GsoBatch {
    /// Queue one datagram; it goes out at the latest on [`GsoBatch::flush`].
    pub(crate) fn push(&mut self, io: &Rc<UdpIo>, destination: SocketAddr, src_ip: Option<IpAddr>, payload: &[u8]) {
        let max = io.max_gso_segments();
        if max <= 1 || payload.is_empty() {
            self.flush_gso();
            if io.send_one(destination, src_ip, payload).is_err() {
                self.dropped += 1;
            }
            return;
        }
        let same =
            self.target.as_ref().is_some_and(|t| Rc::ptr_eq(t, io)) && self.destination == destination && self.src_ip == src_ip;
        if same
            && !self.sealed
            && payload.len() <= self.segment
            && self.count < max
            && self.buf.len() + payload.len() <= GSO_MAX_BYTES
        {
            self.buf.extend_from_slice(payload);
            self.count += 1;
            // A shorter datagram can only be the last of a GSO batch.
            self.sealed = payload.len() < self.segment;
            return;
        }
        self.flush_gso();
        self.target = Some(Rc::clone(io));
        self.destination = destination;
        self.src_ip = src_ip;
        self.segment = payload.len();
        self.count = 1;
        self.sealed = false;
        self.buf.clear();
        self.buf.extend_from_slice(payload);
    }

    /// Queue one datagram for a `sendmmsg` of datagrams to many destinations
    /// from `io`, which needs no source IP. It goes out at the latest on
    /// [`GsoBatch::flush`].
    pub(crate) fn push_many(&mut self, io: &Rc<UdpIo>, destination: SocketAddr, payload: &[u8]) {
        self.many.push(io, destination, payload);
    }

    /// Datagrams that could not be sent (kernel buffer full, errors).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped + self.many.dropped
    }

    /// Send whatever is queued.
    pub(crate) fn flush(&mut self) {
        self.many.flush();
        self.flush_gso();
    }

    fn flush_gso(&mut self) {
        let Some(io) = self.target.take() else { return };
        let transmit = Transmit {
            destination: self.destination,
            ecn: None,
            contents: &self.buf,
            segment_size: (self.count > 1).then_some(self.segment),
            src_ip: self.src_ip,
        };
        match io.try_send(&transmit) {
            Ok(()) => {}
            Err(e) if self.count > 1 && e.kind() != io::ErrorKind::WouldBlock => {
                // The device refused segmentation offload (quinn-udp turns it
                // off for the socket): send the datagrams one by one.
                for chunk in self.buf.chunks(self.segment.max(1)) {
                    if io.send_one(self.destination, self.src_ip, chunk).is_err() {
                        self.dropped += 1;
                    }
                }
            }
            Err(_) => self.dropped += self.count as u64,
        }
        self.count = 0;
        self.buf.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn gro_buffers_split_at_the_stride() {
        let got: Vec<_> = segments(2500, 1000).collect();
        assert_eq!(got, vec![0..1000, 1000..2000, 2000..2500]);
        assert_eq!(segments(300, 300).collect::<Vec<_>>(), vec![0..300]);
        assert_eq!(segments(300, 0).collect::<Vec<_>>(), vec![0..300]);
        assert_eq!(segments(0, 1000).count(), 0);
    }

    #[tokio::test]
    async fn batch_receive_and_gso_send_deliver_every_datagram_intact() {
        let rx = Rc::new(UdpIo::new(bind_udp("127.0.0.1:0".parse().unwrap(), false).unwrap()).unwrap());
        let tx = Rc::new(UdpIo::new(bind_udp("127.0.0.1:0".parse().unwrap(), false).unwrap()).unwrap());
        let mut batch = GsoBatch::default();
        let mut sent = Vec::new();
        for i in 0..10u8 {
            // Eight equal datagrams then two shorter ones: one GSO send, then singles.
            let len = if i < 8 { 200 } else { 100 - usize::from(i) };
            let payload = vec![i; len];
            batch.push(&tx, rx.local(), None, &payload);
            sent.push(payload);
        }
        batch.flush();
        assert_eq!(batch.dropped, 0);
        let mut got = Vec::new();
        let mut bufs = RecvBatch::new(48, 3);
        let ready = crate::shell::relay_poll::readiness(Rc::clone(&rx)).unwrap();
        while got.len() < sent.len() {
            let mut guard = ready.readable().await.unwrap();
            let n = match bufs.recv(&rx) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            let head = bufs.head();
            for i in 0..n {
                let (meta, slot) = bufs.slot_mut(i).unwrap();
                assert_eq!(meta.addr, tx.local());
                let data = &slot[head..head + meta.len];
                for r in segments(meta.len, meta.stride) {
                    got.push(data[r].to_vec());
                }
            }
        }
        assert_eq!(got, sent);
    }
}
