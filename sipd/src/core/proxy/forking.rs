//! Building and sending the forwarded copies of a request (RFC 3261 §16.6):
//! Request-URI, Route set, Max-Forwards, Record-Route (double when the
//! listener changes, with flow tokens), Via with received/rport and our
//! branch, credentials of our realm removed.

use std::time::Instant;

use rtc_sip::{Credentials, Editor, HeaderName, Host, Message, Method, Via};

use super::{Branch, ProxyCtx};
use crate::core::engine::Core;
use crate::core::msg::loop_hash;
use crate::core::types::{Destination, Flow, ListenerId, Transport};

/// Where one branch goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// New Request-URI; `None` keeps it.
    pub(crate) ruri: Option<String>,
    /// The complete Route header values of the forwarded request, top first.
    pub(crate) routes: Vec<String>,
    pub(crate) listener: ListenerId,
    pub(crate) dest: Destination,
    /// The destination is this client's own flow (its Record-Route gets a flow token).
    pub(crate) flow: Option<Flow>,
}

/// What applies to every branch of a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub(crate) record_route: bool,
    pub(crate) strip_realm: Option<String>,
}

/// The destination that reaches a flow: its connection, or its UDP source address.
pub(crate) fn flow_destination(f: &Flow) -> Destination {
    match f.connection {
        Some(c) => Destination::Connection(c, f.remote),
        None => Destination::Addr(f.remote),
    }
}

/// NAT between the client and us: its Via sent-by is not where the packet came from.
pub(crate) fn via_mismatch(flow: &Flow, via: &Via<'_>) -> bool {
    let ip = match via.host() {
        Host::Ipv4(a) => Some(std::net::IpAddr::V4(a)),
        Host::Ipv6(a) => Some(std::net::IpAddr::V6(a)),
        Host::Domain(_) => None,
    };
    ip != Some(flow.remote.ip())
        || via.port().unwrap_or(flow.transport.default_port()) != flow.remote.port()
}

impl Core {
    /// Record-Route values, top first (§16.6 step 4). Two entries when the
    /// request leaves on another listener than it came in on, or when a flow
    /// token is needed (so its direction is never ambiguous); the entry facing
    /// a side carries that side's token.
    fn record_routes(&self, inbound: &Flow, req: &Message<'_>, target: &Target) -> Vec<String> {
        let sig = self
            .signer
            .route_signature(req.call_id().unwrap_or_default());
        let tokens = self.cfg.flow_tokens;
        let needs_in = tokens
            && (inbound.transport.is_reliable()
                || req
                    .top_via()
                    .ok()
                    .is_some_and(|v| via_mismatch(inbound, &v)));
        let in_tok = needs_in.then(|| self.signer.encode(inbound));
        let out_tok = target
            .flow
            .filter(|_| tokens)
            .map(|f| self.signer.encode(&f));
        let double = inbound.listener != target.listener || in_tok.is_some() || out_tok.is_some();
        let rr = |l, t: Option<&String>| self.net.record_route(l, t.map(String::as_str), &sig);
        if double {
            [
                rr(target.listener, out_tok.as_ref()),
                rr(inbound.listener, in_tok.as_ref()),
            ]
            .into_iter()
            .flatten()
            .collect()
        } else {
            rr(inbound.listener, None).into_iter().collect()
        }
    }

    /// The forwarded copy of `req` for `target`.
    pub(super) fn branch_request(
        &self,
        req: &Message<'_>,
        inbound: &Flow,
        target: &Target,
        plan: &Plan,
        branch: &str,
    ) -> Option<Vec<u8>> {
        let via = req.top_via().ok()?;
        let transport = self.net.transport_of(target.listener)?;
        let sent_by = self.net.sent_by(target.listener)?;
        let mut e = Editor::new(req);
        let rport = self.cfg.force_rport || via.rport().is_some();
        let port = inbound.remote.port().to_string();
        let ip = inbound.remote.ip().to_string();
        if rport {
            e.set_top_via_param("rport", Some(port.as_bytes()));
        }
        if rport || via_mismatch(inbound, &via) {
            e.set_top_via_param("received", Some(ip.as_bytes()));
        }
        e.decrement_max_forwards();
        if let Some(r) = &target.ruri {
            e.set_request_uri(r.as_bytes());
        }
        if req.header(HeaderName::Route).is_some() || !target.routes.is_empty() {
            e.remove_headers(HeaderName::Route);
            if !target.routes.is_empty() {
                e.add_header("Route", target.routes.join(", ").as_bytes());
            }
        }
        if let Some(realm) = &plan.strip_realm {
            for kind in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
                let ours = |v: &[u8]| matches!(Credentials::parse(v), Ok(Credentials::Digest(d)) if d.realm.eq_ignore_ascii_case(realm.as_bytes()));
                if req.headers_named(kind).any(|h| ours(h.value())) {
                    e.remove_headers(kind);
                    for h in req.headers_named(kind).filter(|h| !ours(h.value())) {
                        e.add_header(kind.as_str(), h.value());
                    }
                }
            }
        }
        if plan.record_route {
            for rr in self.record_routes(inbound, req, target) {
                e.add_record_route(rr.as_bytes());
            }
        }
        let rport_param = if transport == Transport::Udp {
            ";rport"
        } else {
            ""
        };
        let our_via = format!(
            "SIP/2.0/{} {sent_by};branch={branch}{rport_param}",
            transport.via_token()
        );
        e.prepend_via(our_via.as_bytes());
        e.finish().ok()
    }

    /// Fork `req` (server transaction `sid`) to `targets` in parallel.
    pub(super) fn forward(
        &mut self,
        sid: u64,
        req: &Message<'_>,
        targets: Vec<Target>,
        plan: Plan,
        now: Instant,
    ) {
        let Some(inbound) = self.servers.get(&sid).map(|t| t.flow) else {
            return;
        };
        let invite = req.method() == Some(Method::Invite);
        let pid = self.new_id();
        let lh = loop_hash(req);
        self.proxies.insert(
            pid,
            ProxyCtx {
                server: sid,
                invite,
                branches: Vec::new(),
                final_sent: false,
                cancelled: false,
            },
        );
        if let Some(t) = self.servers.get_mut(&sid) {
            t.proxy = Some(pid);
        }
        let max = self.cfg.limits.max_branches;
        for target in targets.into_iter().take(max) {
            let branch = self.new_branch(lh);
            let Some(bytes) = self.branch_request(req, &inbound, &target, &plan, &branch) else {
                continue;
            };
            let timer = invite.then(|| now + self.timers.c);
            let index = match self.proxies.get_mut(&pid) {
                Some(ctx) => {
                    ctx.branches.push(Branch {
                        timer,
                        ..Branch::default()
                    });
                    ctx.branches.len() - 1
                }
                None => return,
            };
            self.metrics.forwarded += 1;
            let cid = self.start_client(
                pid,
                index,
                target.listener,
                target.dest,
                bytes,
                branch.as_bytes(),
                invite,
                false,
                now,
            );
            if let Some(b) = self
                .proxies
                .get_mut(&pid)
                .and_then(|c| c.branches.get_mut(index))
            {
                b.client = Some(cid);
            }
        }
        if self
            .proxies
            .get(&pid)
            .is_some_and(|c| c.branches.is_empty())
        {
            self.proxies.remove(&pid);
            if let Some(t) = self.servers.get_mut(&sid) {
                t.proxy = None;
            }
            self.reply(
                sid,
                req,
                500,
                "Server Internal Error (cannot forward)",
                &[],
                now,
            );
            return;
        }
        self.rearm_proxy(pid);
    }

    /// Forward an ACK for a 2xx without a transaction (§16.11): its branch is
    /// derived from the incoming one, so retransmissions get the same branch.
    pub(super) fn forward_stateless(&mut self, req: &Message<'_>, inbound: &Flow, target: Target) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in req
            .top_via()
            .ok()
            .and_then(|v| v.branch())
            .unwrap_or_default()
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let branch = format!("z9hG4bKsd{:08x}{h:016x}", loop_hash(req));
        if let Some(bytes) = self.branch_request(req, inbound, &target, &Plan::default(), &branch) {
            self.metrics.forwarded += 1;
            self.transmit(target.listener, target.dest, bytes, None);
        }
    }
}
