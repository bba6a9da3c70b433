//! Responses the core writes itself (RFC 3261 §8.2.6), where they go
//! (§18.2.2 with RFC 3581 `rport`), and sending through a server transaction.

use std::time::Instant;

use rtc_sip::{Message, ResponseBuilder};

use super::engine::Core;
use super::table::Stage;
use super::types::{Destination, Flow, ListenerId};

impl Core {
    /// A response to `req` with our Server header.
    pub(super) fn build_reply(
        &self,
        req: &Message<'_>,
        status: u16,
        reason: &str,
        tag: &str,
        extra: &[(&str, &[u8])],
    ) -> Option<Vec<u8>> {
        let mut b = ResponseBuilder::new(req, status, reason).ok()?.to_tag(tag);
        for (n, v) in extra {
            b = b.header(n, v);
        }
        b.header("Server", self.cfg.server_header.as_bytes())
            .build()
            .ok()
    }

    /// Answer outside any transaction (§8.2.6, §16.3): to the source flow.
    pub(super) fn reply_stateless(
        &mut self,
        flow: &Flow,
        req: &Message<'_>,
        status: u16,
        reason: &str,
        extra: &[(&str, &[u8])],
    ) {
        let tag = format!("{:016x}", self.random());
        if let Some(bytes) = self.build_reply(req, status, reason, &tag, extra) {
            self.metrics.local_replies += 1;
            let (l, d) = self.reply_destination(flow, req);
            self.transmit(l, d, bytes, None);
        }
    }

    /// §18.2.2 with RFC 3581: streams answer on the connection; UDP to the
    /// source address, and to the source port when `rport` asks (or is forced).
    pub(super) fn reply_destination(
        &self,
        flow: &Flow,
        req: &Message<'_>,
    ) -> (ListenerId, Destination) {
        if let Some(c) = flow.connection {
            return (flow.listener, Destination::Connection(c, flow.remote));
        }
        let via = req.top_via().ok();
        let port = match via {
            Some(v) if !self.cfg.force_rport && v.rport().is_none() => v.port().unwrap_or(5060),
            _ => flow.remote.port(),
        };
        (
            flow.listener,
            Destination::Addr(std::net::SocketAddr::new(flow.remote.ip(), port)),
        )
    }

    /// Answer within server transaction `sid`.
    pub(super) fn reply(
        &mut self,
        sid: u64,
        req: &Message<'_>,
        status: u16,
        reason: &str,
        extra: &[(&str, &[u8])],
        now: Instant,
    ) {
        let Some(tag) = self.servers.get(&sid).map(|t| t.to_tag.clone()) else {
            return;
        };
        if let Some(bytes) = self.build_reply(req, status, reason, &tag, extra) {
            if status > 100 {
                self.metrics.local_replies += 1;
            }
            self.send_response(sid, bytes, status, now);
        }
    }

    /// Send a response through server transaction `sid`, which stores it for retransmissions.
    pub(super) fn send_response(&mut self, sid: u64, bytes: Vec<u8>, status: u16, now: Instant) {
        let Some(t) = self.servers.get_mut(&sid) else {
            return;
        };
        if !t.machine.on_send(status, now) {
            return;
        }
        if status >= 200 {
            t.stage = Stage::Idle;
        }
        let (l, d) = t.reply.clone();
        t.last_response = Some(bytes.clone());
        self.transmit(l, d, bytes, None);
        self.after_server(sid);
    }
}
