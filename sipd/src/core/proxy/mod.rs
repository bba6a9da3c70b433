//! The stateful proxy (RFC 3261 §16): request processing in kamailio's
//! order, in-dialog routing, forking, response selection and CANCEL.

mod authorize;
mod cancel;
mod dialog;
mod forking;
mod initial;
mod request;
mod response;

use std::time::Instant;

use super::engine::Core;
use super::table::TimerRef;

pub(super) use forking::via_mismatch;

/// The response context of one proxied request (§16.7).
#[derive(Debug)]
pub(crate) struct ProxyCtx {
    /// The server transaction responses go to.
    pub(super) server: u64,
    pub(super) invite: bool,
    pub(super) branches: Vec<Branch>,
    /// A final response (or, for INVITE, a first 2xx) went upstream.
    pub(super) final_sent: bool,
    /// The caller sent CANCEL.
    pub(super) cancelled: bool,
}

/// One forwarded copy of the request.
#[derive(Debug, Default)]
pub(crate) struct Branch {
    pub(super) client: Option<u64>,
    /// Any provisional arrived (a CANCEL may be sent, §9.1).
    pub(super) provisional: bool,
    /// Cancel as soon as a provisional arrives.
    pub(super) cancel_wanted: bool,
    pub(super) cancel_sent: bool,
    /// A final response arrived, or the branch gave up.
    pub(super) done: bool,
    pub(super) status: u16,
    /// The final response as received (`None` for timeouts and failures).
    pub(super) response: Option<Vec<u8>>,
    /// Timer C (§16.6 step 11), or, after a CANCEL, when to give up waiting (§9.1: 64*T1).
    pub(super) timer: Option<Instant>,
}

impl ProxyCtx {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.branches
            .iter()
            .filter(|b| !b.done)
            .filter_map(|b| b.timer)
            .min()
    }

    fn all_done(&self) -> bool {
        self.branches.iter().all(|b| b.done)
    }
}

impl Core {
    pub(super) fn rearm_proxy(&mut self, pid: u64) {
        if let Some(d) = self.proxies.get(&pid).and_then(ProxyCtx::deadline) {
            self.arm(d, TimerRef::Proxy(pid));
        }
    }

    /// Timer C and the post-CANCEL give-up timer (§16.8, §9.1).
    pub(super) fn proxy_timer(&mut self, pid: u64, now: Instant) {
        let Some(ctx) = self.proxies.get(&pid) else {
            return;
        };
        let due: Vec<(usize, bool, bool)> = ctx
            .branches
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.done && b.timer.is_some_and(|t| t <= now))
            .map(|(i, b)| (i, b.provisional, b.cancel_sent))
            .collect();
        for (i, provisional, cancel_sent) in due {
            self.metrics.timeouts += 1;
            if provisional && !cancel_sent {
                // Timer C with a provisional: cancel the branch (§16.8).
                self.send_cancel(pid, i, now);
            } else {
                let status = if cancel_sent { 487 } else { 408 };
                self.abandon_branch(pid, i);
                self.branch_failed(pid, i, status, now);
            }
        }
        self.maybe_finish(pid, now);
        self.rearm_proxy(pid);
    }

    /// Stop the client transaction of a branch.
    fn abandon_branch(&mut self, pid: u64, i: usize) {
        let cid = self
            .proxies
            .get(&pid)
            .and_then(|c| c.branches.get(i))
            .and_then(|b| b.client);
        if let Some(c) = cid.and_then(|cid| self.clients.get_mut(&cid)) {
            c.machine.terminate();
        }
        if let Some(cid) = cid {
            self.after_client(cid);
        }
    }

    /// A branch ended without a response: timeout (408), transport error (503), cancelled (487).
    pub(super) fn branch_failed(&mut self, pid: u64, i: usize, status: u16, now: Instant) {
        let Some(b) = self
            .proxies
            .get_mut(&pid)
            .and_then(|c| c.branches.get_mut(i))
        else {
            return;
        };
        if b.done {
            return;
        }
        b.done = true;
        b.status = status;
        b.timer = None;
        self.maybe_finish(pid, now);
        self.maybe_reap_proxy(pid);
    }

    /// Forget a context once its final response went out and no branch transaction is left.
    pub(super) fn maybe_reap_proxy(&mut self, pid: u64) {
        let Some(ctx) = self.proxies.get(&pid) else {
            return;
        };
        let live = ctx
            .branches
            .iter()
            .any(|b| b.client.is_some_and(|c| self.clients.contains_key(&c)));
        if ctx.final_sent && ctx.all_done() && !live {
            self.proxies.remove(&pid);
        }
    }
}
