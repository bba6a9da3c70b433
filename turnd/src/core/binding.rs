//! Binding requests (RFC 8489 §3) and RFC 5780 NAT behaviour discovery.
//!
//! Binding needs no credentials; answers are limited per source IP. With
//! `rfc5780` configured, responses carry OTHER-ADDRESS and RESPONSE-ORIGIN, and
//! CHANGE-REQUEST makes the response leave from the other IP and/or port
//! (the [`Transmit::source`](super::Transmit::source) says which). Without it,
//! a CHANGE-REQUEST asking for a change is an unknown comprehension-required
//! attribute: 420, as RFC 5780 §7.2 expects of a server that cannot honour it
//! (and as coturn does); an empty one is ignored.

use std::net::SocketAddr;
use std::time::Instant;

use rtc_stun::attr::{ChangeRequest, OtherAddress, ResponseOrigin, ResponsePort, XorMappedAddress};
use rtc_stun::{AttrType, Message};

use super::config::Rfc5780Config;
use super::reply::Reply;
use super::request::unknown_required;
use super::server::Server;
use super::types::{FiveTuple, Transmit};

/// Comprehension-required attributes a Binding request may carry.
const BINDING_UNDERSTOOD: &[AttrType] = &[
    AttrType::USERNAME,
    AttrType::MESSAGE_INTEGRITY,
    AttrType::MESSAGE_INTEGRITY_SHA256,
    AttrType::REALM,
    AttrType::NONCE,
    AttrType::USERHASH,
    AttrType::PASSWORD_ALGORITHM,
    AttrType::PADDING,
    AttrType::RESPONSE_PORT,
];

/// The address RFC 5780 calls OTHER-ADDRESS for a request received on `local`:
/// the other IP and the other port.
pub fn other_address(cfg: &Rfc5780Config, local: SocketAddr) -> SocketAddr {
    let ip = if local.ip() == cfg.primary.ip() { cfg.alternate.ip() } else { cfg.primary.ip() };
    let port = if local.port() == cfg.primary.port() { cfg.alternate.port() } else { cfg.primary.port() };
    SocketAddr::new(ip, port)
}

impl Server {
    pub(crate) fn handle_binding(&mut self, from: &FiveTuple, msg: &Message<'_>, now: Instant) {
        if !self.allow_unauthenticated(from.client.ip(), now) {
            return;
        }
        self.metrics.binding_requests += 1;
        let reply = Reply::to(msg);
        let rfc5780 = self.config.rfc5780;
        let mut unknown = unknown_required(msg, BINDING_UNDERSTOOD);
        // An empty CHANGE-REQUEST (neither flag set) asks for nothing; some
        // clients always send one, so it is accepted even without RFC 5780.
        let empty_change =
            matches!(msg.attr::<ChangeRequest>(), Ok(Some(ChangeRequest { change_ip: false, change_port: false })));
        if rfc5780.is_some() || empty_change {
            unknown.retain(|t| *t != AttrType::CHANGE_REQUEST);
        }
        if !unknown.is_empty() {
            self.send_unknown_attributes(from, &reply, &unknown);
            return;
        }
        let (Ok(change), Ok(response_port)) = (msg.attr::<ChangeRequest>(), msg.attr::<ResponsePort>()) else {
            self.send_error(from, &reply, 400);
            return;
        };
        let mut source = from.server;
        let mut destination = from.client;
        let mut other = None;
        if let Some(cfg) = rfc5780 {
            let o = other_address(&cfg, from.server);
            other = Some(o);
            if let Some(c) = change {
                // RFC 5780 §6.1: changing address or port makes no sense on a
                // connection, which is bound to its 5-tuple.
                if (c.change_ip || c.change_port) && from.transport.is_stream() {
                    self.send_error(from, &reply, 400);
                    return;
                }
                if c.change_ip {
                    source.set_ip(o.ip());
                }
                if c.change_port {
                    source.set_port(o.port());
                }
            }
            // RFC 5780 §7.5: RESPONSE-PORT only applies to datagrams.
            if let Some(ResponsePort(p)) = response_port {
                if !from.transport.is_stream() {
                    destination.set_port(p);
                }
            }
        }
        let mapped = from.client;
        let bytes = reply.success(self.config.software.as_deref(), |enc| {
            enc.add(&XorMappedAddress(mapped))?;
            if let Some(o) = other {
                enc.add(&OtherAddress(o))?;
                enc.add(&ResponseOrigin(source))?;
            }
            Ok(())
        });
        self.transmit(Transmit { transport: from.transport, source, destination, contents: bytes });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// (local address the request arrived on, expected OTHER-ADDRESS)
    const OTHER: &[(&str, &str)] = &[
        ("192.0.2.1:3478", "192.0.2.2:3479"),
        ("192.0.2.1:3479", "192.0.2.2:3478"),
        ("192.0.2.2:3478", "192.0.2.1:3479"),
        ("192.0.2.2:3479", "192.0.2.1:3478"),
    ];

    #[test]
    fn other_address_swaps_ip_and_port() {
        let cfg = Rfc5780Config { primary: "192.0.2.1:3478".parse().unwrap(), alternate: "192.0.2.2:3479".parse().unwrap() };
        for (local, other) in OTHER {
            assert_eq!(other_address(&cfg, local.parse().unwrap()), other.parse().unwrap(), "{local}");
        }
    }
}
