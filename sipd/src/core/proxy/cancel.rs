//! CANCEL (RFC 3261 §9.2, §16.10): answer 200, cancel the branches that
//! have a provisional, hold the others until one arrives, and let the
//! INVITE end with 487.

use std::time::Instant;

use rtc_sip::Message;

use crate::core::engine::Core;
use crate::core::msg::build_cancel;
use crate::core::table::Stage;
use crate::core::transaction::server::ServerState;
use crate::core::transaction::{MethodClass, ServerKey};
use crate::core::types::Flow;

impl Core {
    /// A CANCEL that is not a retransmission.
    pub(super) fn on_cancel(
        &mut self,
        flow: &Flow,
        msg: &Message<'_>,
        key: ServerKey,
        now: Instant,
    ) {
        let Some(isid) = self
            .server_index
            .get(&key.with_class(MethodClass::Invite))
            .copied()
        else {
            // Stray CANCEL (§16.10: answered statelessly; kamailio does the same).
            self.reply_stateless(flow, msg, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        if let Some(sid) = self.create_server(key, flow, msg) {
            self.reply(sid, msg, 200, "OK", &[], now);
        }
        self.cancel_server(isid, now);
    }

    fn cancel_server(&mut self, isid: u64, now: Instant) {
        let Some(t) = self.servers.get_mut(&isid) else {
            return;
        };
        if t.machine.state() != ServerState::Proceeding {
            return;
        }
        t.cancelled = true;
        match t.proxy {
            Some(pid) => {
                if let Some(ctx) = self.proxies.get_mut(&pid) {
                    ctx.cancelled = true;
                }
                self.cancel_branches(pid, None, now);
                self.maybe_finish(pid, now);
                self.rearm_proxy(pid);
            }
            None => {
                // Still waiting for the database: answer 487 now; the late answer is ignored.
                t.stage = Stage::Idle;
                if let Some((raw, _)) = self.stored_request(isid) {
                    if let Ok(req) = Message::parse_datagram(&raw, &self.limits) {
                        self.reply(isid, &req, 487, "Request Terminated", &[], now);
                    }
                }
            }
        }
    }

    /// Cancel every pending branch but `except`. A branch without a
    /// provisional cannot be cancelled yet (§9.1): it is counted as 487 now
    /// and cancelled when its provisional arrives.
    pub(super) fn cancel_branches(&mut self, pid: u64, except: Option<usize>, now: Instant) {
        let Some(ctx) = self.proxies.get_mut(&pid) else {
            return;
        };
        let mut to_cancel = Vec::new();
        for (i, b) in ctx.branches.iter_mut().enumerate() {
            if Some(i) == except || b.done || b.cancel_sent || b.cancel_wanted {
                continue;
            }
            if b.provisional {
                to_cancel.push(i);
            } else {
                b.cancel_wanted = true;
                b.done = true;
                b.status = 487;
                b.timer = None;
            }
        }
        for i in to_cancel {
            self.send_cancel(pid, i, now);
        }
    }

    /// Send CANCEL on branch `i` and give it 64*T1 to end (§9.1).
    pub(super) fn send_cancel(&mut self, pid: u64, i: usize, now: Instant) {
        let give_up = now + self.timers.sixty_four_t1();
        let Some(b) = self
            .proxies
            .get_mut(&pid)
            .and_then(|c| c.branches.get_mut(i))
        else {
            return;
        };
        if b.cancel_sent {
            return;
        }
        b.cancel_sent = true;
        if !b.done {
            b.timer = Some(give_up);
        }
        let Some(c) = b.client.and_then(|cid| self.clients.get(&cid)) else {
            return;
        };
        let (listener, dest, branch) = (c.listener, c.dest.clone(), c.branch.clone());
        let Some(bytes) = Message::parse_datagram(&c.request, &self.limits)
            .ok()
            .and_then(|r| build_cancel(&r))
        else {
            return;
        };
        self.start_client(pid, i, listener, dest, bytes, &branch, false, true, now);
        self.rearm_proxy(pid);
    }
}
