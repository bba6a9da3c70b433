//! The driver of one UDP listening socket in one worker: batched receive
//! (`recvmmsg`, GRO), the core, and GSO-batched relaying toward peers.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use quinn_udp::BATCH_SIZE;
use tokio::io::unix::AsyncFd;

use super::udp::{segments, RecvBatch, UdpIo};
use super::worker::Worker;
use crate::core::{FiveTuple, Transport};

/// Batches read before yielding to the worker's other sockets.
const ROUNDS: usize = 8;

/// Serve the socket in `ready` until the worker stops.
pub(crate) async fn run(worker: Rc<Worker>, ready: AsyncFd<Rc<UdpIo>>) {
    let io = Rc::clone(ready.get_ref());
    // Client packets are relayed from where they lie: no headroom needed.
    let mut batch = RecvBatch::new(0, 0);
    loop {
        let mut guard = match ready.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(addr = %io.local(), "UDP listener failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        for _ in 0..ROUNDS {
            match batch.recv(&io) {
                Ok(n) => {
                    on_batch(&worker, &io, &mut batch, n);
                    // A short batch means the queue was empty: wait for the
                    // next edge rather than asking the kernel again.
                    if n < BATCH_SIZE {
                        guard.clear_ready();
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) => {
                    // ICMP errors from earlier sends surface here; keep serving.
                    tracing::trace!(addr = %io.local(), "UDP receive error: {e}");
                }
            }
        }
        drop(guard);
        tokio::task::yield_now().await;
    }
}

fn on_batch(worker: &Rc<Worker>, io: &UdpIo, batch: &mut RecvBatch, n: usize) {
    let now = Instant::now();
    let local = io.local();
    {
        let mut gso = worker.gso.borrow_mut();
        for i in 0..n {
            let Some((meta, slot)) = batch.slot_mut(i) else { continue };
            let Some(data) = slot.get(..meta.len) else { continue };
            // On a wildcard socket, the address the client wrote to (IP_PKTINFO).
            let server = SocketAddr::new(meta.dst_ip.unwrap_or(local.ip()), local.port());
            let from = FiveTuple { transport: Transport::Udp, client: meta.addr, server };
            for range in segments(meta.len, meta.stride) {
                let Some(packet) = data.get(range) else { continue };
                let forward = worker.core.borrow_mut().handle_client_packet(from, packet, now);
                if let Some(f) = forward {
                    worker.forward(&mut gso, &f, packet);
                }
            }
        }
        gso.flush();
    }
    worker.pump();
}
