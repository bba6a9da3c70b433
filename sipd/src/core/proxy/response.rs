//! Responses from downstream (RFC 3261 §16.7): matching to a client
//! transaction (§17.1.3), forwarding provisional and 2xx at once, choosing
//! the best final response once every branch has answered, aggregating
//! 401/407 challenges, and the 503→500 rule.

use std::time::Instant;

use rtc_sip::{HeaderName, Message, Method};

use crate::core::engine::Core;
use crate::core::msg::{build_ack, relay_response};
use crate::core::transaction::client::OnResponse;
use crate::core::types::Flow;

/// §16.7 step 6: any 6xx; else the lowest class, preferring 401, 407, 415, 420, 484 among 4xx.
fn best_index(statuses: &[u16]) -> Option<usize> {
    if let Some(i) = statuses.iter().position(|s| (600..700).contains(s)) {
        return Some(i);
    }
    let class = statuses.iter().map(|s| s / 100).min()?;
    if class == 4 {
        for pref in [401, 407, 415, 420, 484] {
            if let Some(i) = statuses.iter().position(|s| *s == pref) {
                return Some(i);
            }
        }
    }
    statuses.iter().position(|s| s / 100 == class)
}

fn reason_for(status: u16) -> &'static str {
    match status {
        408 => "Request Timeout",
        487 => "Request Terminated",
        _ => "Server Internal Error",
    }
}

impl Core {
    pub(super) fn on_response(&mut self, _flow: &Flow, msg: &Message<'_>, now: Instant) {
        self.metrics.responses_received += 1;
        if msg.validate(&self.limits).is_err() {
            self.metrics.malformed += 1;
            return;
        }
        let (Ok(via), Ok(cseq), Some(status)) = (msg.top_via(), msg.cseq(), msg.status()) else {
            return;
        };
        let cancel = cseq.method == Method::Cancel;
        let Some(cid) = via
            .branch()
            .and_then(|b| self.client_index.get(&(b.into(), cancel)).copied())
        else {
            self.metrics.stray_responses += 1;
            return;
        };
        let Some(c) = self.clients.get_mut(&cid) else {
            return;
        };
        let action = c.machine.on_response(status, now);
        let (proxy, index) = (c.proxy, c.index);
        match action {
            OnResponse::PassUp => {
                if !cancel {
                    self.branch_response(proxy, index, status, msg, now);
                }
            }
            OnResponse::PassUpAndAck => {
                let ack = Message::parse_datagram(&c.request, &self.limits)
                    .ok()
                    .and_then(|req| build_ack(&req, msg));
                if let Some(ack) = ack {
                    let (l, d) = (c.listener, c.dest.clone());
                    c.ack = Some(ack.clone());
                    self.transmit(l, d, ack, None);
                }
                if !cancel {
                    self.branch_response(proxy, index, status, msg, now);
                }
            }
            OnResponse::AckAgain => {
                self.metrics.retransmissions_absorbed += 1;
                if let Some(ack) = c.ack.clone() {
                    let (l, d) = (c.listener, c.dest.clone());
                    self.transmit(l, d, ack, None);
                }
            }
            OnResponse::Absorb => self.metrics.retransmissions_absorbed += 1,
        }
        self.after_client(cid);
    }

    /// Relay a response upstream through the server transaction.
    fn relay_up(&mut self, server: u64, msg: &Message<'_>, status: u16, now: Instant) {
        if let Some(bytes) = relay_response(msg, &[], None) {
            self.metrics.forwarded += 1;
            self.send_response(server, bytes, status, now);
        }
    }

    fn branch_response(
        &mut self,
        pid: u64,
        i: usize,
        status: u16,
        msg: &Message<'_>,
        now: Instant,
    ) {
        let c_timer = self.timers.c;
        let Some(ctx) = self.proxies.get_mut(&pid) else {
            return;
        };
        let (server, invite, final_sent) = (ctx.server, ctx.invite, ctx.final_sent);
        let Some(b) = ctx.branches.get_mut(i) else {
            return;
        };
        match status {
            100..=199 => {
                b.provisional = true;
                let cancel_now = b.cancel_wanted && !b.cancel_sent;
                if status > 100 && invite && !b.cancel_sent {
                    b.timer = Some(now + c_timer);
                }
                if status > 100 && !final_sent && !b.cancel_wanted {
                    self.relay_up(server, msg, status, now);
                }
                if cancel_now {
                    self.send_cancel(pid, i, now);
                }
            }
            200..=299 => {
                b.done = true;
                b.status = status;
                b.timer = None;
                if let Some(ctx) = self.proxies.get_mut(&pid) {
                    ctx.final_sent = true;
                }
                if invite || !final_sent {
                    self.relay_up(server, msg, status, now);
                }
                if invite {
                    // §16.7 step 10: a 2xx ends the other branches.
                    self.cancel_branches(pid, Some(i), now);
                }
            }
            _ => {
                b.done = true;
                b.status = status;
                b.timer = None;
                b.response = Some(msg.as_bytes().to_vec());
                if status >= 600 && invite {
                    self.cancel_branches(pid, Some(i), now);
                }
                self.maybe_finish(pid, now);
            }
        }
        self.rearm_proxy(pid);
    }

    /// Once every branch is done, send the best final response (§16.7 steps 6-8).
    pub(super) fn maybe_finish(&mut self, pid: u64, now: Instant) {
        let Some(ctx) = self.proxies.get_mut(&pid) else {
            return;
        };
        if ctx.final_sent || !ctx.all_done() {
            return;
        }
        ctx.final_sent = true;
        let server = ctx.server;
        let statuses: Vec<u16> = ctx.branches.iter().map(|b| b.status).collect();
        let Some(best) = best_index(&statuses) else {
            return;
        };
        let status = statuses.get(best).copied().unwrap_or(500);
        let chosen = ctx.branches.get(best).and_then(|b| b.response.clone());
        // §16.7 step 7: every challenge of every 401/407 goes into the chosen one.
        let mut challenges: Vec<(HeaderName, Vec<u8>)> = Vec::new();
        if matches!(status, 401 | 407) {
            for (j, b) in ctx.branches.iter().enumerate() {
                let Some(raw) = b.response.as_ref().filter(|_| j != best) else {
                    continue;
                };
                let Ok(m) = Message::parse_datagram(raw, &self.limits) else {
                    continue;
                };
                for kind in [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate] {
                    challenges.extend(m.headers_named(kind).map(|h| (kind, h.value().to_vec())));
                }
            }
        }
        let rewrite = (status == 503).then_some((500, "Server Internal Error"));
        match chosen {
            Some(raw) => {
                let Ok(m) = Message::parse_datagram(&raw, &self.limits) else {
                    return;
                };
                let extra: Vec<(&str, &[u8])> = challenges
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                if let Some(bytes) = relay_response(&m, &extra, rewrite) {
                    self.metrics.forwarded += 1;
                    let status = rewrite.map_or(status, |(s, _)| s);
                    self.send_response(server, bytes, status, now);
                }
            }
            None => {
                let Some((raw, _)) = self.stored_request(server) else {
                    return;
                };
                let Ok(req) = Message::parse_datagram(&raw, &self.limits) else {
                    return;
                };
                let status = if status == 503 { 500 } else { status };
                self.reply(server, &req, status, reason_for(status), &[], now);
            }
        }
        self.maybe_reap_proxy(pid);
    }
}

#[cfg(test)]
mod tests {
    use super::best_index;

    #[test]
    fn best_response_selection_follows_section_16_7() {
        assert_eq!(best_index(&[486, 603, 404]), Some(1), "6xx wins");
        assert_eq!(best_index(&[486, 302, 500]), Some(1), "lowest class");
        assert_eq!(
            best_index(&[404, 407, 401]),
            Some(2),
            "401 preferred in 4xx"
        );
        assert_eq!(best_index(&[480, 486]), Some(0));
        assert_eq!(best_index(&[]), None);
    }
}
