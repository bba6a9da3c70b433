//! Datagrams to many destinations from one socket in one `sendmmsg(2)` call.
//!
//! Peer data relayed to UDP clients all leaves through the worker's listening
//! socket, each datagram to a different client. Sent one by one, that is one
//! system call per relayed packet; queued here while the worker drains its
//! relay sockets, it is one call per batch. quinn-udp only batches datagrams
//! to a single destination (GSO), hence the direct call through `libc`.
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use socket2::SockAddr;

use super::udp::UdpIo;

/// Datagrams one `sendmmsg` call carries (the queue flushes when full).
pub(crate) const MMSG_BATCH: usize = 64;
/// Payload bytes queued before the queue flushes.
const MMSG_BYTES: usize = 256 * 1024;

#[derive(Debug)]
struct Entry {
    io: Rc<UdpIo>,
    destination: SockAddr,
    start: usize,
    len: usize,
}

/// Datagrams waiting for one `sendmmsg` per socket.
#[derive(Debug, Default)]
pub(crate) struct MmsgQueue {
    buf: Vec<u8>,
    entries: Vec<Entry>,
    /// Datagrams the kernel refused (buffer full, errors).
    pub(crate) dropped: u64,
}

impl MmsgQueue {
    /// Queue `payload` for `destination` on `io`; it leaves at the latest on
    /// [`MmsgQueue::flush`]. `io` must not need a source IP (not a wildcard socket).
    pub(crate) fn push(&mut self, io: &Rc<UdpIo>, destination: SocketAddr, payload: &[u8]) {
        if self.entries.len() >= MMSG_BATCH || self.buf.len() + payload.len() > MMSG_BYTES {
            self.flush();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        self.entries.push(Entry { io: Rc::clone(io), destination: destination.into(), start, len: payload.len() });
    }

    /// Send everything queued: one `sendmmsg` per run of datagrams on one socket.
    pub(crate) fn flush(&mut self) {
        let mut rest = self.entries.as_slice();
        while let Some(first) = rest.first() {
            let run = rest.iter().take_while(|e| Rc::ptr_eq(&e.io, &first.io)).count();
            let (now, later) = rest.split_at(run);
            self.dropped += send_all(&first.io, now, &self.buf);
            rest = later;
        }
        self.entries.clear();
        self.buf.clear();
    }
}

/// Send `entries` (at most [`MMSG_BATCH`]) on `io`; the number dropped.
fn send_all(io: &UdpIo, entries: &[Entry], buf: &[u8]) -> u64 {
    let mut iov: [libc::iovec; MMSG_BATCH] = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MMSG_BATCH];
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
    let mut msgs: [libc::mmsghdr; MMSG_BATCH] = unsafe { std::mem::zeroed() };
    let mut count = 0;
    for ((e, v), m) in entries.iter().zip(iov.iter_mut()).zip(msgs.iter_mut()) {
        let Some(payload) = buf.get(e.start..e.start + e.len) else { continue };
        v.iov_base = payload.as_ptr().cast_mut().cast();
        v.iov_len = payload.len();
        m.msg_hdr.msg_name = e.destination.as_ptr().cast_mut().cast();
        m.msg_hdr.msg_namelen = e.destination.len();
        m.msg_hdr.msg_iov = std::ptr::from_mut(v);
        m.msg_hdr.msg_iovlen = 1;
        count += 1;
    }
    let fd = io.as_raw_fd();
    let mut sent = 0;
    let mut dropped = 0u64;
    while sent < count {
        let Some(rest) = msgs.get_mut(sent..count) else { break };
        let want = u32::try_from(rest.len()).unwrap_or(0);
        // SAFETY: `rest` holds `want` initialised headers whose names and
        // iovecs point into `entries`, `iov` and `buf`, all alive for the call;
        // the kernel only reads them (and writes msg_len).
        let n = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), want, 0) };
        if n > 0 {
            sent += n.unsigned_abs() as usize;
            continue;
        }
        let err = io::Error::last_os_error();
        if n < 0 && err.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        tracing::trace!(addr = %io.local(), "sendmmsg: {err}");
        if err.kind() == io::ErrorKind::WouldBlock {
            // The socket buffer is full: the rest would fail the same way.
            dropped += (count - sent) as u64;
            break;
        }
        // The first datagram of the rest failed (unreachable, too big): drop
        // it and go on with the others, as one-by-one sends would.
        dropped += 1;
        sent += 1;
    }
    dropped + (entries.len() - count) as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::shell::udp::bind_udp;

    #[test]
    fn queued_datagrams_reach_every_destination_in_order() {
        let tx = Rc::new(UdpIo::new(bind_udp("127.0.0.1:0".parse().unwrap(), false).unwrap()).unwrap());
        let peers: Vec<_> = (0..3).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        let mut q = MmsgQueue::default();
        // More than one batch, spread over three destinations.
        for i in 0..(MMSG_BATCH + 10) {
            let to = peers[i % 3].local_addr().unwrap();
            q.push(&tx, to, &[u8::try_from(i).unwrap(); 100][..1 + i % 50]);
        }
        q.flush();
        assert_eq!(q.dropped, 0);
        for (p, peer) in peers.iter().enumerate() {
            peer.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
            for i in (p..MMSG_BATCH + 10).step_by(3) {
                let mut buf = [0u8; 200];
                let (n, from) = peer.recv_from(&mut buf).unwrap();
                assert_eq!(from, tx.local());
                assert_eq!(&buf[..n], &[u8::try_from(i).unwrap(); 100][..1 + i % 50]);
            }
        }
    }
}
