//! Demultiplexing client packets and dispatching STUN requests by method.

use std::net::IpAddr;
use std::time::Instant;

use rtc_stun::attr::{AlgorithmId, Nonce, PasswordAlgorithm as PaAttr, PasswordAlgorithms, Realm};
use rtc_stun::{classify, AttrType, Class, Message, Method, PacketKind};

use super::auth::{Authenticated, Fresh, Verdict, NONCE_FEATURES};
use super::nonce;
use super::reply::Reply;
use super::server::Server;
use super::types::{FiveTuple, Forward};

/// Comprehension-required attributes the TURN methods understand (RFC 8489
/// §6.3.1); anything else in 0x0000..=0x7FFF gets 420.
const TURN_UNDERSTOOD: &[AttrType] = &[
    AttrType::MAPPED_ADDRESS,
    AttrType::USERNAME,
    AttrType::MESSAGE_INTEGRITY,
    AttrType::ERROR_CODE,
    AttrType::UNKNOWN_ATTRIBUTES,
    AttrType::CHANNEL_NUMBER,
    AttrType::LIFETIME,
    AttrType::XOR_PEER_ADDRESS,
    AttrType::DATA,
    AttrType::REALM,
    AttrType::NONCE,
    AttrType::XOR_RELAYED_ADDRESS,
    AttrType::REQUESTED_ADDRESS_FAMILY,
    AttrType::EVEN_PORT,
    AttrType::REQUESTED_TRANSPORT,
    AttrType::DONT_FRAGMENT,
    AttrType::MESSAGE_INTEGRITY_SHA256,
    AttrType::PASSWORD_ALGORITHM,
    AttrType::USERHASH,
    AttrType::XOR_MAPPED_ADDRESS,
    AttrType::RESERVATION_TOKEN,
    AttrType::PADDING,
    AttrType::CONNECTION_ID,
];

/// The comprehension-required attributes of `msg` outside `understood`.
pub(crate) fn unknown_required(msg: &Message<'_>, understood: &[AttrType]) -> Vec<AttrType> {
    let mut out: Vec<AttrType> = Vec::new();
    for t in msg.attributes().map(|a| a.attr_type) {
        if t.is_comprehension_required() && !understood.contains(&t) && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

impl Server {
    /// A packet from a client: STUN or ChannelData (RFC 8656 §12).
    ///
    /// Relayed data (ChannelData, Send indications) comes back as a
    /// [`Forward`] naming a range of `packet`; everything else is queued for
    /// [`Server::poll_output`].
    pub fn handle_client_packet(&mut self, from: FiveTuple, packet: &[u8], now: Instant) -> Option<Forward> {
        match classify(packet) {
            PacketKind::ChannelData => self.relay_channel_data(&from, packet, now),
            PacketKind::Stun => self.handle_stun(&from, packet, now, None),
            PacketKind::Other => {
                self.metrics.malformed_packets += 1;
                None
            }
        }
    }

    /// Whether an unauthenticated answer to `ip` is within its rate limit.
    pub(crate) fn allow_unauthenticated(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.unauthenticated.check(&ip, now) {
            true
        } else {
            self.metrics.unauthenticated_dropped += 1;
            false
        }
    }

    pub(crate) fn handle_stun(&mut self, from: &FiveTuple, packet: &[u8], now: Instant, fresh: Fresh<'_>) -> Option<Forward> {
        let msg = match Message::parse(packet) {
            Ok(m) => m,
            Err(e) => {
                self.metrics.malformed_packets += 1;
                // RFC 8489 §6.3: a request whose header could be read gets 400.
                if let Some(h) = e.header() {
                    if h.message_type.class == Class::Request && self.allow_unauthenticated(from.client.ip(), now) {
                        let reply = Reply {
                            tid: h.transaction_id,
                            method: h.message_type.method,
                            fingerprint: false,
                            signer: super::reply::Signer::None,
                        };
                        self.send_error(from, &reply, 400);
                    }
                }
                return None;
            }
        };
        // RFC 8489 §14.7: a wrong FINGERPRINT means this is not a STUN message.
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.metrics.malformed_packets += 1;
            return None;
        }
        match msg.class() {
            Class::Request => {
                if fresh.is_none() {
                    self.metrics.requests += 1;
                    self.metrics.methods.received(msg.method());
                }
                self.handle_request(from, &msg, now, fresh);
                None
            }
            Class::Indication if msg.method() == Method::SEND => {
                self.metrics.methods.received(Method::SEND);
                let forward = self.relay_send_indication(from, &msg, packet, now);
                self.metrics.methods.finished(Method::SEND, forward.is_some());
                forward
            }
            _ => None,
        }
    }

    fn handle_request(&mut self, from: &FiveTuple, msg: &Message<'_>, now: Instant, fresh: Fresh<'_>) {
        let method = msg.method();
        if method == Method::BINDING {
            self.handle_binding(from, msg, now);
            return;
        }
        let known = [
            Method::ALLOCATE,
            Method::REFRESH,
            Method::CREATE_PERMISSION,
            Method::CHANNEL_BIND,
            Method::CONNECT,
            Method::CONNECTION_BIND,
        ];
        if !known.contains(&method) {
            if self.allow_unauthenticated(from.client.ip(), now) {
                self.send_error(from, &Reply::to(msg), 400);
            }
            return;
        }
        if self.lookups.is_parked(from, msg.transaction_id()) {
            return;
        }
        if method == Method::ALLOCATE && self.absorb_allocate_retransmission(from, msg) {
            return;
        }
        // Draining (RFC 8656 §7.2: 508): a request without credentials is told
        // at once, rather than challenged first.
        if method == Method::ALLOCATE && self.draining && !msg.has_integrity() && !msg.has_integrity_sha256() {
            if self.allow_unauthenticated(from.client.ip(), now) {
                self.send_error(from, &Reply::to(msg), 508);
            }
            return;
        }
        let auth = match self.authenticate(msg, from, now, fresh) {
            Verdict::Pass(a) => a,
            Verdict::Challenge(code) => {
                if self.allow_unauthenticated(from.client.ip(), now) {
                    self.send_challenge(from, &Reply::to(msg), code, now);
                }
                return;
            }
            Verdict::Reject(code) => {
                if self.allow_unauthenticated(from.client.ip(), now) {
                    self.send_error(from, &Reply::to(msg), code);
                }
                return;
            }
            Verdict::Lookup(query) => {
                self.park(from, msg, query, now);
                return;
            }
            Verdict::Drop => return,
        };
        let reply = Reply { signer: auth.signer.clone(), ..Reply::to(msg) };
        let unknown = unknown_required(msg, TURN_UNDERSTOOD);
        if !unknown.is_empty() {
            self.send_unknown_attributes(from, &reply, &unknown);
            return;
        }
        match method {
            Method::ALLOCATE if self.draining => self.send_error(from, &reply, 508),
            Method::ALLOCATE => self.handle_allocate(from, msg, auth, reply, now),
            Method::CONNECTION_BIND => self.handle_connection_bind(from, msg, &auth, &reply, now),
            _ => {
                if let Err(code) = self.check_owner(from, &auth) {
                    self.send_error(from, &reply, code);
                    return;
                }
                match method {
                    Method::REFRESH => self.handle_refresh(from, msg, &reply, now),
                    Method::CREATE_PERMISSION => self.handle_create_permission(from, msg, &reply, now),
                    Method::CHANNEL_BIND => self.handle_channel_bind(from, msg, &reply, now),
                    _ => self.handle_connect(from, msg, reply, now),
                }
            }
        }
    }

    /// The 5-tuple must hold an allocation (437) made by the same user (441),
    /// RFC 8656 §5.
    fn check_owner(&self, from: &FiveTuple, auth: &Authenticated) -> Result<(), u16> {
        match self.allocations.get(from) {
            None => Err(437),
            Some(a) if a.username != auth.username => Err(441),
            Some(_) => Ok(()),
        }
    }

    /// 401 or 438 with REALM, a fresh NONCE and PASSWORD-ALGORITHMS (RFC 8489 §9.2.4).
    pub(crate) fn send_challenge(&mut self, from: &FiveTuple, reply: &Reply, code: u16, now: Instant) {
        let unix = self.unix_now(now);
        let nonce = nonce::issue(self.shared.nonce_key(), from.client.ip(), unix, NONCE_FEATURES);
        let realm = self.config.realm.clone();
        let algorithms: Vec<PaAttr<'static>> =
            self.offered_algorithms().iter().map(|a| PaAttr::new(AlgorithmId(a.code()))).collect();
        self.send_error_with(from, reply, code, |enc| {
            enc.add(&Realm::new(&realm)?)?;
            enc.add(&Nonce::new(&nonce)?)?;
            enc.add(&PasswordAlgorithms::new(&algorithms))?;
            Ok(())
        });
    }
}
