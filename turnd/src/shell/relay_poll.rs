//! One epoll set for all the UDP relay sockets of a worker.
//!
//! A worker may hold tens of thousands of relay sockets, each seeing a
//! datagram now and then. Registering each with the runtime costs a task and
//! a wake-up per datagram, and every datagram is sent on its own because each
//! task flushes what it read. Here the relay sockets sit in one
//! edge-triggered epoll set of the worker's own, registered with the runtime
//! as a single file descriptor: one task ([`drive`]) asks the set which
//! sockets are ready, reads each until its queue is empty, and sends what it
//! relays to clients in `sendmmsg` batches ([`super::mmsg`]).
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::udp::UdpIo;
use super::worker::Worker;

/// Ready sockets asked for per `epoll_wait`.
pub(crate) const EVENTS: usize = 256;

/// A relay socket's place in the set (the epoll user data).
pub(crate) type Token = usize;

/// The worker's epoll set of relay sockets, and the sockets by token.
#[derive(Debug)]
pub(crate) struct RelayPoll {
    epoll: AsyncFd<OwnedFd>,
    slots: RefCell<Vec<Option<Rc<UdpIo>>>>,
    free: RefCell<Vec<Token>>,
}

impl RelayPoll {
    /// A new, empty set, registered with the current runtime.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let epoll = readiness(owned)?;
        Ok(Self { epoll, slots: RefCell::default(), free: RefCell::default() })
    }

    /// Add a relay socket (edge-triggered: it is reported when datagrams
    /// arrive, and must then be read until its queue is empty).
    pub(crate) fn register(&self, io: &Rc<UdpIo>) -> io::Result<Token> {
        let token = match self.free.borrow_mut().pop() {
            Some(t) => t,
            None => self.slots.borrow().len(),
        };
        let mut event = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: token as u64 };
        // SAFETY: both descriptors are open; `event` lives for the call.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, io.as_raw_fd(), &raw mut event) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if token < self.slots.borrow().len() {
                self.free.borrow_mut().push(token);
            }
            return Err(err);
        }
        let mut slots = self.slots.borrow_mut();
        match slots.get_mut(token) {
            Some(slot) => *slot = Some(Rc::clone(io)),
            None => slots.push(Some(Rc::clone(io))),
        }
        Ok(token)
    }

    /// Remove the socket registered as `token`.
    pub(crate) fn deregister(&self, token: Token) {
        let Some(io) = self.slots.borrow_mut().get_mut(token).and_then(Option::take) else { return };
        // SAFETY: both descriptors are open (`io` is still alive here).
        unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, io.as_raw_fd(), std::ptr::null_mut()) };
        self.free.borrow_mut().push(token);
    }

    /// The socket registered as `token`, if it still is.
    pub(crate) fn socket(&self, token: Token) -> Option<Rc<UdpIo>> {
        self.slots.borrow().get(token).and_then(Clone::clone)
    }

    /// Fill `events` with the sockets that became ready, without waiting.
    fn ready(&self, events: &mut [libc::epoll_event]) -> usize {
        let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` is valid for `max` entries, which the kernel writes.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), max, 0) };
        usize::try_from(n).unwrap_or(0)
    }
}

/// Register `inner` with the current runtime for readability.
///
/// `inner` owns its descriptor (an `OwnedFd`, or a shared [`UdpIo`] whose
/// socket never changes and closes only when the last `Rc` goes), which is
/// what keeps the registration sound.
pub(crate) fn readiness<T: AsRawFd + OwnsFd>(inner: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: per `OwnsFd`, the descriptor stays open and the same for the
    // lifetime of `inner`, which the `AsyncFd` owns.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// Types whose `as_raw_fd` is one descriptor that stays open while they live.
pub(crate) trait OwnsFd {}
impl OwnsFd for OwnedFd {}
impl OwnsFd for Rc<UdpIo> {}

/// The worker's relay task: wait for the set, serve the ready sockets, repeat.
pub(crate) async fn drive(worker: Rc<Worker>) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut ready: Vec<Token> = Vec::new();
    let mut backlog: Vec<Token> = Vec::new();
    loop {
        let mut guard = match worker.relay_poll.epoll.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!("relay epoll set failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let n = worker.relay_poll.ready(&mut events);
        ready.clear();
        ready.append(&mut backlog);
        ready.extend(events.iter().take(n).map(|e| e.u64 as Token));
        super::relay::serve_ready(&worker, &ready, &mut backlog);
        // Edge-triggered: only once the set has reported everything and every
        // socket was read dry may the task wait for the next edge. Nothing
        // else runs between the read and here, so no edge is lost.
        if n < events.len() && backlog.is_empty() {
            guard.clear_ready();
        }
        drop(guard);
        tokio::task::yield_now().await;
    }
}
