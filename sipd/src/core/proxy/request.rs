//! Requests from the network, in the order of kamailio's default routing
//! logic (WITH_AUTH, WITH_USRLOCDB): flood ban, scanner drop, size limits,
//! sanity checks, Max-Forwards, loops, retransmissions, CANCEL, in-dialog
//! routing, OPTIONS to us, then authentication (`authorize.rs`) and the
//! relaying rules, registrar, static routes and location (`initial.rs`)
//! (RFC 3261 §16.3 to §16.5).

use std::net::IpAddr;
use std::time::Instant;

use rtc_sip::{
    Disposition, HeaderName, Message, Method, ParseFailure, ResponseBuilder, SipUri,
    Transport as ViaTransport,
};

use super::forking::flow_destination;
use crate::core::engine::Core;
use crate::core::msg::loop_hash;
use crate::core::transaction::ServerKey;
use crate::core::types::{Flow, Transport};

/// Methods announced in Allow (what the proxy relays or handles).
pub(crate) const ALLOW: &[u8] = b"INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, MESSAGE, SUBSCRIBE, NOTIFY, REFER, PUBLISH";
/// Option tags this server supports as a registrar (RFC 3327, RFC 5626).
pub(crate) const SUPPORTED: &[&str] = &["path", "outbound"];

impl Core {
    /// One message (a datagram, a framed stream message or a WebSocket
    /// message) received on `flow`.
    pub fn handle_message(&mut self, flow: Flow, bytes: &[u8], now: Instant) {
        if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return; // keepalive; the shell answers pings
        }
        let response = bytes.starts_with(b"SIP/");
        if !response && !self.flood_ok(flow.remote.ip(), now) {
            return;
        }
        let parsed = match flow.transport {
            Transport::Tcp | Transport::Tls => Message::parse_framed(bytes, &self.limits),
            _ => Message::parse_datagram(bytes, &self.limits),
        };
        match parsed {
            Err(f) => self.refuse_malformed(&flow, &f),
            Ok(msg) if msg.is_request() => self.on_request(&flow, &msg, now),
            Ok(msg) => self.on_response(&flow, &msg, now),
        }
    }

    fn flood_ok(&mut self, ip: IpAddr, now: Instant) -> bool {
        let f = &self.cfg.flood;
        if !f.enabled || f.exempt.iter().any(|n| n.contains(&ip)) || self.is_trusted(ip) {
            return true;
        }
        if self.flood_check(ip, now) {
            return true;
        }
        self.metrics.flood_dropped += 1;
        false
    }

    pub(super) fn is_trusted(&self, ip: IpAddr) -> bool {
        self.cfg.trusted_sources.iter().any(|n| n.contains(&ip))
    }

    /// Answer what the parser refused, when it can be answered (RFC 4475 behaviour).
    fn refuse_malformed(&mut self, flow: &Flow, f: &ParseFailure<'_>) {
        self.metrics.malformed += 1;
        let (Disposition::Reply(status), Some(ctx)) = (f.disposition(), f.reply_context()) else {
            return;
        };
        let tag = format!("{:016x}", self.random());
        let reason = if status == 501 {
            "Not Implemented"
        } else {
            f.error().reason_phrase()
        };
        let built = ResponseBuilder::from_context(ctx.clone(), status, reason)
            .to_tag(&tag)
            .header("Server", self.cfg.server_header.as_bytes())
            .build();
        if let Ok(bytes) = built {
            self.metrics.local_replies += 1;
            self.transmit(flow.listener, flow_destination(flow), bytes, None);
        }
    }

    fn is_scanner(&self, ua: &[u8]) -> bool {
        let ua = ua.to_ascii_lowercase();
        self.scanners
            .iter()
            .any(|s| ua.windows(s.len()).any(|w| w == s.as_slice()))
    }

    /// §16.3 step 4 / §16.6 step 8: one of our Vias carries the loop hash this request has now.
    fn is_loop(&self, msg: &Message<'_>) -> bool {
        let want = format!("{:08x}", loop_hash(msg));
        msg.vias().flatten().any(|v| {
            v.branch()
                .and_then(|b| b.strip_prefix(b"z9hG4bKsd"))
                .and_then(|b| b.get(..8))
                == Some(want.as_bytes())
                && self.net.is_myself(v.host_raw(), v.port())
        })
    }

    fn on_request(&mut self, flow: &Flow, msg: &Message<'_>, now: Instant) {
        self.metrics.requests_received += 1;
        if msg.user_agent().is_some_and(|ua| self.is_scanner(ua)) {
            self.metrics.scanner_dropped += 1;
            return;
        }
        if let Err(f) = msg.validate(&self.limits) {
            self.refuse_malformed(flow, &f);
            return;
        }
        let Some(method) = msg.method() else { return };
        let ack = method == Method::Ack;
        let lim = self.cfg.limits;
        if msg.as_bytes().len() > lim.max_request_bytes {
            if !ack {
                self.reply_stateless(flow, msg, 513, "Message Too Large", &[]);
            }
            return;
        }
        if msg
            .request_uri()
            .is_some_and(|u| u.as_bytes().len() > lim.max_request_uri_bytes)
        {
            if !ack {
                self.reply_stateless(flow, msg, 414, "Request-URI Too Long", &[]);
            }
            return;
        }
        if msg
            .top_via()
            .is_ok_and(|v| matches!(v.transport(), ViaTransport::Other(_) | ViaTransport::Sctp))
        {
            return;
        }
        if ack {
            self.on_ack(flow, msg, now);
            return;
        }
        if msg.max_forwards() == Ok(Some(0)) {
            self.reply_stateless(flow, msg, 483, "Too Many Hops", &[]);
            return;
        }
        let unsupported: Vec<&[u8]> = msg.tokens(HeaderName::ProxyRequire).collect();
        if !unsupported.is_empty() {
            let list = unsupported.join(&b", "[..]);
            self.reply_stateless(flow, msg, 420, "Bad Extension", &[("Unsupported", &list)]);
            return;
        }
        if self.is_loop(msg) {
            self.reply_stateless(flow, msg, 482, "Loop Detected", &[]);
            return;
        }
        let Some(key) = ServerKey::of(msg) else {
            return;
        };
        if let Some(sid) = self.server_index.get(&key).copied() {
            self.absorb_retransmission(sid);
            return;
        }
        if method == Method::Cancel {
            self.on_cancel(flow, msg, key, now);
            return;
        }
        let Some(sid) = self.create_server(key, flow, msg) else {
            return;
        };
        if method == Method::Invite {
            self.reply(sid, msg, 100, "Trying", &[], now);
        }
        self.route_request(sid, flow, msg, now);
    }

    /// A retransmitted request gets the last response again (§17.2.1, §17.2.2).
    fn absorb_retransmission(&mut self, sid: u64) {
        self.metrics.retransmissions_absorbed += 1;
        let Some(t) = self.servers.get(&sid) else {
            return;
        };
        if t.machine.on_request_retransmission() {
            if let Some(r) = t.last_response.clone() {
                let (l, d) = t.reply.clone();
                self.transmit(l, d, r, None);
            }
        }
    }

    /// The domain a host names: a local domain (lower-case), or our first
    /// configured domain when it is one of our own addresses.
    pub(crate) fn local_domain_of(&self, u: &SipUri<'_>) -> Option<String> {
        let host = String::from_utf8_lossy(u.host_raw()).to_ascii_lowercase();
        if self.is_local_domain(&host) {
            return Some(host);
        }
        if self.net.is_myself(u.host_raw(), u.port()) {
            return self.default_domain();
        }
        None
    }

    fn route_request(&mut self, sid: u64, flow: &Flow, msg: &Message<'_>, now: Instant) {
        if msg.to().ok().is_some_and(|t| t.tag().is_some()) {
            self.route_in_dialog(sid, flow, msg, now);
            return;
        }
        let Some(ruri) = msg.request_uri().and_then(|u| u.as_sip().copied()) else {
            self.reply(sid, msg, 416, "Unsupported URI Scheme", &[], now);
            return;
        };
        let method = msg.method();
        let ruri_local = self.local_domain_of(&ruri).is_some();
        if method == Some(Method::Options) && ruri.user().is_none() && ruri_local {
            self.answer_options(sid, msg, now);
            return;
        }
        let register = method == Some(Method::Register);
        let from_domain = msg
            .from()
            .ok()
            .and_then(|a| a.uri().as_sip().and_then(|u| self.local_domain_of(u)));
        let trusted = self.is_trusted(flow.remote.ip());
        if register && msg.to().ok().is_some_and(|a| a.uri().as_sip().is_none()) {
            self.reply(sid, msg, 416, "Unsupported URI Scheme", &[], now);
            return;
        }
        let realm = if register {
            match msg
                .to()
                .ok()
                .and_then(|a| a.uri().as_sip().and_then(|u| self.local_domain_of(u)))
            {
                Some(d) if ruri_local => Some(d),
                _ => {
                    self.reply(sid, msg, 403, "Forbidden (not a local domain)", &[], now);
                    return;
                }
            }
        } else if trusted {
            None
        } else {
            from_domain
        };
        match realm {
            Some(realm) => self.authenticate(sid, flow, msg, realm, register, now),
            None => {
                if let Some(t) = self.servers.get_mut(&sid) {
                    t.local_caller = trusted;
                }
                self.after_auth(sid, msg, now);
            }
        }
    }

    /// 200 to OPTIONS for the proxy itself (kamailio answers these keepalives too).
    fn answer_options(&mut self, sid: u64, msg: &Message<'_>, now: Instant) {
        if let Some(refusal) = self.unsupported_required(msg) {
            self.reply(
                sid,
                msg,
                420,
                "Bad Extension",
                &[("Unsupported", &refusal)],
                now,
            );
            return;
        }
        let supported = SUPPORTED.join(", ");
        let extra: [(&str, &[u8]); 3] = [
            ("Allow", ALLOW),
            ("Accept", b"application/sdp"),
            ("Supported", supported.as_bytes()),
        ];
        self.reply(sid, msg, 200, "OK", &extra, now);
    }

    /// Require option tags we do not support (§8.2.2.3), joined for Unsupported.
    pub(crate) fn unsupported_required(&self, msg: &Message<'_>) -> Option<Vec<u8>> {
        let bad: Vec<&[u8]> = msg
            .tokens(HeaderName::Require)
            .filter(|t| {
                !SUPPORTED
                    .iter()
                    .any(|s| s.as_bytes().eq_ignore_ascii_case(t))
            })
            .collect();
        (!bad.is_empty()).then(|| bad.join(&b", "[..]))
    }

    /// The request if `sid` still waits to be processed (not cancelled, not answered).
    pub(crate) fn resumable(&self, sid: u64) -> Option<(std::sync::Arc<[u8]>, Flow)> {
        let t = self.servers.get(&sid)?;
        let open = matches!(
            t.machine.state(),
            crate::core::transaction::server::ServerState::Trying
                | crate::core::transaction::server::ServerState::Proceeding
        );
        (open && !t.cancelled).then(|| (t.request.clone(), t.flow))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn allow_lists_the_methods_a_registrar_proxy_handles() {
        let allow = String::from_utf8_lossy(super::ALLOW);
        for m in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"] {
            assert!(allow.contains(m));
        }
    }
}
