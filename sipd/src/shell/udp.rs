//! UDP listeners (RFC 3261 §18.1.1, §18.2.1): sockets made with socket2,
//! batched receive (`recvmmsg`, GRO) and non-blocking send through
//! `quinn_udp::UdpSocketState`.
//!
//! Every datagram is one SIP message; it is copied out of the batch buffer and
//! handed to the core driver with the listener and source it came from.
//! Sends never wait: when the kernel buffer is full the datagram is dropped
//! and SIP's own retransmissions (RFC 3261 §17) recover.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use super::inbound::Inbound;
use super::net::Net;
use crate::core::ListenerId;

/// Room for the largest UDP payload or one GRO chunk.
const SLOT: usize = 1 << 16;
/// Kernel buffer size asked for (capped by `net.core.rmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket bound with socket2; IPv6 sockets are IPv6-only so
/// that `0.0.0.0` and `[::]` can both be bound on the same port.
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A UDP listener registered with the runtime, plus its quinn-udp state.
#[derive(Debug)]
pub(crate) struct UdpIo {
    socket: tokio::net::UdpSocket,
    state: UdpSocketState,
    /// Datagrams that could not be sent.
    pub(crate) send_drops: AtomicU64,
}

impl UdpIo {
    /// Set up quinn-udp on `sock` and register it with the current runtime.
    pub(crate) fn new(sock: std::net::UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new((&sock).into())?;
        let socket = tokio::net::UdpSocket::from_std(sock)?;
        Ok(Self { socket, state, send_drops: AtomicU64::new(0) })
    }

    /// Send one datagram without waiting; failures are counted, not returned,
    /// since the transaction layer retransmits.
    pub(crate) fn send(&self, destination: SocketAddr, contents: &[u8]) -> bool {
        let transmit = Transmit { destination, ecn: None, contents, segment_size: None, src_ip: None };
        let sent = self.socket.try_io(Interest::WRITABLE, || self.state.try_send((&self.socket).into(), &transmit));
        if let Err(e) = &sent {
            self.send_drops.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(to = %destination, "UDP send failed: {e}");
        }
        sent.is_ok()
    }

    fn try_recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        self.socket.try_io(Interest::READABLE, || self.state.recv((&self.socket).into(), bufs, meta))
    }
}

/// The datagrams of one received buffer: one, or several of `stride` bytes
/// each (the last may be shorter) when the kernel coalesced them with GRO.
fn segments(len: usize, stride: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let stride = if stride == 0 { len.max(1) } else { stride };
    (0..len).step_by(stride).map(move |start| start..(start + stride).min(len))
}

/// Receive on `io` until the cores are gone, handing every datagram to its
/// core. UDP keeps being served during the shutdown drain, so transactions
/// in progress can finish.
pub(crate) async fn recv_loop(io: Arc<UdpIo>, listener: ListenerId, net: Arc<Net>) {
    let mut buf = vec![0u8; SLOT * BATCH_SIZE];
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    loop {
        if let Err(e) = io.socket.readable().await {
            tracing::warn!("UDP socket failed: {e}");
            return;
        }
        let n = {
            let mut slices: Vec<IoSliceMut<'_>> = buf.chunks_mut(SLOT).map(IoSliceMut::new).collect();
            match io.try_recv(&mut slices, &mut meta) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    // ICMP errors and the like: note and carry on.
                    tracing::debug!("UDP receive error: {e}");
                    continue;
                }
            }
        };
        for (m, chunk) in meta.iter().zip(buf.chunks(SLOT)).take(n) {
            let Some(data) = chunk.get(..m.len) else { continue };
            for range in segments(m.len, m.stride) {
                let Some(bytes) = data.get(range) else { continue };
                if bytes.iter().all(|&b| b == b'\r' || b == b'\n' || b == 0) {
                    // Keepalive datagrams (CRLF or NUL, RFC 5626 §4.4.1 uses STUN
                    // but many phones send these) need no answer.
                    continue;
                }
                let msg = Inbound::Datagram { listener, remote: m.addr, bytes: bytes.to_vec() };
                if !net.deliver(msg).await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gro_buffers_split_at_the_stride() {
        assert_eq!(segments(2500, 1000).collect::<Vec<_>>(), vec![0..1000, 1000..2000, 2000..2500]);
        assert_eq!(segments(300, 0).collect::<Vec<_>>(), vec![0..300]);
        assert_eq!(segments(0, 1000).count(), 0);
    }

    #[tokio::test]
    async fn datagrams_reach_the_driver_with_their_source_and_keepalives_do_not() {
        let io = Arc::new(UdpIo::new(bind_udp("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap());
        let addr = io.socket.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let (_trigger, shutdown) = rtc_daemon::ShutdownTrigger::new();
        let limits = crate::config::ConnectionLimits::default();
        let net = Arc::new(Net::new(vec![tx], crate::shell::inbound::ConnIds::new(1), limits, shutdown, None));
        let task = tokio::spawn(recv_loop(Arc::clone(&io), ListenerId(3), net));
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"\r\n\r\n", addr).await.unwrap();
        client.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", addr).await.unwrap();
        match rx.recv().await.unwrap() {
            Inbound::Datagram { listener, remote, bytes } => {
                assert_eq!(listener, ListenerId(3));
                assert_eq!(remote, client.local_addr().unwrap());
                assert_eq!(bytes, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(io.send(client.local_addr().unwrap(), b"pong"));
        let mut got = [0u8; 16];
        let (n, from) = client.recv_from(&mut got).await.unwrap();
        assert_eq!((&got[..n], from), (&b"pong"[..], addr));
        task.abort();
    }
}
