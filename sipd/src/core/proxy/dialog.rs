//! In-dialog requests (To tag present): loose routing (RFC 3261 §16.4,
//! §16.6 step 6 for strict next hops, §16.4 for a strict router before us),
//! flow tokens, signed Record-Routes, and ACKs without a transaction.

use std::time::Instant;

use rtc_sip::{Message, NameAddr, SipUri};

use super::forking::{flow_destination, Plan, Target};
use crate::core::engine::Core;
use crate::core::flow::same_flow;
use crate::core::transaction::ServerKey;
use crate::core::types::Flow;

type Refusal = (u16, &'static str);

impl Core {
    fn is_our_route(&self, u: &SipUri<'_>) -> bool {
        self.net.is_myself(u.host_raw(), u.port())
    }

    /// Check one of our Route URIs: its signature (if any) and its flow token.
    fn our_route(
        &self,
        u: &SipUri<'_>,
        call_id: &[u8],
        signed: &mut bool,
        tokens: &mut Vec<Option<Flow>>,
    ) -> Result<(), Refusal> {
        if let Some(sig) = u.param("dlg") {
            if !sig
                .value
                .is_some_and(|s| self.signer.route_signature_ok(call_id, s))
            {
                return Err((403, "Forbidden (route signature)"));
            }
            *signed = true;
        }
        tokens.push(u.user().and_then(|t| self.signer.decode(t)));
        Ok(())
    }

    /// Where an in-dialog request goes.
    pub(super) fn dialog_target(&self, flow: &Flow, req: &Message<'_>) -> Result<Target, Refusal> {
        let call_id = req.call_id().unwrap_or_default();
        let mut routes: Vec<NameAddr<'_>> = req
            .routes()
            .collect::<Result<_, _>>()
            .map_err(|_| (400, "Bad Request (Route)"))?;
        let Some(ruri) = req.request_uri() else {
            return Err((400, "Bad Request"));
        };
        let mut ruri_override: Option<String> = None;
        let (mut signed, mut tokens) = (false, Vec::new());
        // §16.4: a strict router before us put our Record-Route into the Request-URI.
        if let Some(u) = ruri
            .as_sip()
            .filter(|u| self.is_our_route(u) && u.param("dlg").is_some())
        {
            self.our_route(u, call_id, &mut signed, &mut tokens)?;
            let last = routes.pop().ok_or((400, "Bad Request (Route)"))?;
            ruri_override = Some(String::from_utf8_lossy(last.uri().as_bytes()).into_owned());
        }
        let mut popped = 0;
        for r in routes.iter().take(3) {
            let Some(u) = r.uri().as_sip().filter(|u| self.is_our_route(u)).copied() else {
                break;
            };
            self.our_route(&u, call_id, &mut signed, &mut tokens)?;
            popped += 1;
        }
        if popped == 0 && ruri_override.is_none() {
            return Err((404, "Not Here"));
        }
        if !signed {
            return Err((403, "Forbidden (route signature)"));
        }
        let rest: Vec<String> = routes
            .iter()
            .skip(popped)
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .collect();
        // With two of our entries (we always double record-route when a flow
        // token is involved) the last one faces the destination; with one,
        // its token names the destination unless it is the sender's own flow.
        let towards = match tokens.as_slice() {
            [only] => only.filter(|f| !same_flow(f, flow)),
            [.., last] => *last,
            [] => None,
        };
        if let Some(f) = towards {
            if self.is_closed(f.connection) {
                return Err((430, "Flow Failed"));
            }
            return Ok(Target {
                ruri: ruri_override,
                routes: rest,
                listener: f.listener,
                dest: flow_destination(&f),
                flow: Some(f),
            });
        }
        let no_hop = (503, "Service Unavailable (no transport to next hop)");
        if let Some(next) = routes.get(popped) {
            let u = next
                .uri()
                .as_sip()
                .copied()
                .ok_or((416, "Unsupported URI Scheme"))?;
            let (listener, dest) = self.net.next_hop(&u).ok_or(no_hop)?;
            if u.lr() {
                return Ok(Target {
                    ruri: ruri_override,
                    routes: rest,
                    listener,
                    dest,
                    flow: None,
                });
            }
            // §16.6 step 6: a strict router next; its URI becomes the Request-URI.
            let old = ruri_override
                .unwrap_or_else(|| String::from_utf8_lossy(ruri.as_bytes()).into_owned());
            let mut routes: Vec<String> = rest.into_iter().skip(1).collect();
            routes.push(format!("<{old}>"));
            let new_ruri = String::from_utf8_lossy(u.as_bytes()).into_owned();
            return Ok(Target {
                ruri: Some(new_ruri),
                routes,
                listener,
                dest,
                flow: None,
            });
        }
        let (listener, dest) = match &ruri_override {
            Some(s) => SipUri::parse(s.as_bytes())
                .ok()
                .and_then(|u| self.net.next_hop(&u)),
            None => ruri.as_sip().and_then(|u| self.net.next_hop(u)),
        }
        .ok_or(no_hop)?;
        Ok(Target {
            ruri: ruri_override,
            routes: rest,
            listener,
            dest,
            flow: None,
        })
    }

    pub(super) fn route_in_dialog(
        &mut self,
        sid: u64,
        flow: &Flow,
        req: &Message<'_>,
        now: Instant,
    ) {
        match self.dialog_target(flow, req) {
            Ok(target) => self.forward(sid, req, vec![target], Plan::default(), now),
            Err((code, reason)) => self.reply(sid, req, code, reason, &[], now),
        }
    }

    /// ACK: absorbed by the INVITE server transaction it completes (non-2xx),
    /// forwarded when in-dialog with our Route (2xx), dropped otherwise.
    pub(super) fn on_ack(&mut self, flow: &Flow, req: &Message<'_>, now: Instant) {
        if let Some(sid) = ServerKey::of(req).and_then(|k| self.server_index.get(&k).copied()) {
            if self
                .servers
                .get_mut(&sid)
                .is_some_and(|t| t.machine.on_ack(now))
            {
                self.metrics.retransmissions_absorbed += 1;
                self.after_server(sid);
                return;
            }
        }
        let in_dialog = req.to().ok().is_some_and(|t| t.tag().is_some());
        if !in_dialog {
            return;
        }
        if let Ok(target) = self.dialog_target(flow, req) {
            self.forward_stateless(req, flow, target);
        }
    }
}
