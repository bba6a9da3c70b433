//! The relay hot path (RFC 8656 §10, §12): Send and Data indications and
//! ChannelData, without allocating or copying payloads.
//!
//! Client to peer, the payload already sits inside the client's packet, so the
//! core returns its range. Peer to client, the shell reads the peer datagram at
//! offset [`PEER_DATA_HEADROOM`] of a buffer with [`PEER_DATA_TAILROOM`] spare
//! bytes after it; the core writes the ChannelData or Data-indication header
//! in front of the payload (and padding after it) in place.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::RngCore;
use rtc_stun::attr::{Data, XorPeerAddress};
use rtc_stun::{AttrType, ChannelData, Class, Message, MessageType, Method, MAGIC_COOKIE};

use super::allocation::Bandwidth;
use super::metrics::Metrics;
use super::server::Server;
use super::types::{FiveTuple, Forward, RelayProtocol, Transport};

/// Room the shell leaves before a peer payload: a STUN header (20), an IPv6
/// XOR-PEER-ADDRESS (24) and the DATA attribute header (4).
pub const PEER_DATA_HEADROOM: usize = 48;
/// Room the shell leaves after a peer payload for padding to 4 bytes.
pub const PEER_DATA_TAILROOM: usize = 3;

/// Largest STUN body (RFC 8489 §5).
const MAX_BODY: usize = 0xFFFC;

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// Copy `src` into `buf` at `at`, if it fits.
fn put(buf: &mut [u8], at: usize, src: &[u8]) -> Option<()> {
    buf.get_mut(at..at.checked_add(src.len())?)?.copy_from_slice(src);
    Some(())
}

/// The XOR-PEER-ADDRESS value (RFC 8489 §14.2) for `peer` under `tid`, and its length.
fn xor_address(peer: &SocketAddr, tid: &[u8; 12]) -> ([u8; 20], usize) {
    let mut key = [0u8; 16];
    for (k, b) in key.iter_mut().zip(MAGIC_COOKIE.to_be_bytes().iter().chain(tid.iter())) {
        *k = *b;
    }
    let mut addr = [0u8; 16];
    let (family, n) = match peer.ip() {
        IpAddr::V4(ip) => {
            for (a, b) in addr.iter_mut().zip(ip.octets()) {
                *a = b;
            }
            (0x01, 4)
        }
        IpAddr::V6(ip) => {
            addr = ip.octets();
            (0x02, 16)
        }
    };
    let [p0, p1] = (peer.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes();
    let mut out = [0u8; 20];
    for (o, b) in out.iter_mut().zip([0, family, p0, p1]) {
        *o = b;
    }
    for ((o, a), k) in out.iter_mut().skip(4).zip(addr.iter().take(n)).zip(key.iter()) {
        *o = a ^ k;
    }
    (out, 4 + n)
}

/// Take `bytes` from the allocation's bandwidth bucket; counts drops.
fn charge(bandwidth: Option<&mut Bandwidth>, metrics: &mut Metrics, bytes: usize, now: Instant) -> bool {
    let ok = bandwidth.is_none_or(|b| b.take(bytes, now));
    if !ok {
        metrics.dropped_bandwidth += 1;
    }
    ok
}

impl Server {
    /// ChannelData from a client (RFC 8656 §12.5): forward the payload to the bound peer.
    pub(crate) fn relay_channel_data(&mut self, from: &FiveTuple, packet: &[u8], now: Instant) -> Option<Forward> {
        let Ok(cd) = ChannelData::parse(packet) else {
            self.metrics.malformed_packets += 1;
            return None;
        };
        let a = self.allocations.get_mut(from)?;
        let target = a
            .channels
            .peer(cd.channel().value(), now)
            .filter(|p| a.permissions.allows(p.ip(), now))
            .and_then(|p| a.relay_for(&p).map(|r| (p, r.local)));
        let Some((peer, relay)) = target else {
            self.metrics.dropped_no_permission += 1;
            return None;
        };
        let len = cd.data().len();
        if !charge(a.bandwidth.as_mut(), &mut self.metrics, len, now) {
            return None;
        }
        self.metrics.packets_to_peers += 1;
        self.metrics.bytes_to_peers += len as u64;
        Some(Forward {
            transport: Transport::Udp,
            source: relay,
            destination: peer,
            range: 4..4 + len,
            dont_fragment: false,
        })
    }

    /// A Send indication (RFC 8656 §10.2): forward DATA to XOR-PEER-ADDRESS if
    /// a permission exists; otherwise drop silently.
    pub(crate) fn relay_send_indication(&mut self, from: &FiveTuple, msg: &Message<'_>, packet: &[u8], now: Instant) -> Option<Forward> {
        let a = self.allocations.get_mut(from)?;
        if a.protocol != RelayProtocol::Udp {
            return None;
        }
        let (Ok(Some(XorPeerAddress(peer))), Ok(Some(Data(data)))) = (msg.attr::<XorPeerAddress>(), msg.attr::<Data>()) else {
            self.metrics.malformed_packets += 1;
            return None;
        };
        let relay = match a.relay_for(&peer) {
            Some(r) if a.permissions.allows(peer.ip(), now) => r.local,
            _ => {
                self.metrics.dropped_no_permission += 1;
                return None;
            }
        };
        let start = (data.as_ptr() as usize).checked_sub(packet.as_ptr() as usize)?;
        let end = start.checked_add(data.len()).filter(|e| *e <= packet.len())?;
        if !charge(a.bandwidth.as_mut(), &mut self.metrics, data.len(), now) {
            return None;
        }
        self.metrics.packets_to_peers += 1;
        self.metrics.bytes_to_peers += data.len() as u64;
        Some(Forward {
            transport: Transport::Udp,
            source: relay,
            destination: peer,
            range: start..end,
            dont_fragment: msg.raw(AttrType::DONT_FRAGMENT).is_some(),
        })
    }

    /// A datagram from `peer` arrived on the UDP relay `relay` (RFC 8656 §10.3, §12.4).
    ///
    /// The payload is `buf[PEER_DATA_HEADROOM..PEER_DATA_HEADROOM + len]` and
    /// `buf` must extend [`PEER_DATA_TAILROOM`] bytes further. On success the
    /// returned range of `buf` is a ChannelData message (if a channel is bound
    /// to the peer) or a Data indication, to send to the client as told.
    /// Without a permission for the peer's IP the datagram is dropped (`None`).
    pub fn handle_peer_data(&mut self, relay: SocketAddr, peer: SocketAddr, buf: &mut [u8], len: usize, now: Instant) -> Option<Forward> {
        let client = *self.by_relay.get(&relay)?;
        let a = self.allocations.get_mut(&client)?;
        if a.protocol != RelayProtocol::Udp {
            return None;
        }
        if !a.permissions.allows(peer.ip(), now) {
            self.metrics.dropped_no_permission += 1;
            return None;
        }
        let channel = a.channels.number(peer, now);
        let payload_end = PEER_DATA_HEADROOM.checked_add(len)?;
        if buf.len() < payload_end + PEER_DATA_TAILROOM {
            return None;
        }
        if !charge(a.bandwidth.as_mut(), &mut self.metrics, len, now) {
            return None;
        }
        let range = match channel {
            Some(number) => {
                let start = PEER_DATA_HEADROOM - 4;
                let len16 = u16::try_from(len).ok()?;
                put(buf, start, &ChannelData::header(rtc_stun::ChannelNumber::new(number).ok()?, len16))?;
                let end = if client.transport.is_stream() { PEER_DATA_HEADROOM + pad4(len) } else { payload_end };
                buf.get_mut(payload_end..end)?.fill(0);
                start..end
            }
            None => self.write_data_indication(&peer, buf, len)?,
        };
        self.metrics.packets_to_clients += 1;
        self.metrics.bytes_to_clients += len as u64;
        Some(Forward {
            transport: client.transport,
            source: client.server,
            destination: client.client,
            range,
            dont_fragment: false,
        })
    }

    /// Write a Data indication header around the payload in place.
    fn write_data_indication(&mut self, peer: &SocketAddr, buf: &mut [u8], len: usize) -> Option<std::ops::Range<usize>> {
        let mut tid = [0u8; 12];
        self.rng.fill_bytes(&mut tid);
        let (addr, addr_len) = xor_address(peer, &tid);
        let header_len = 20 + 4 + addr_len + 4;
        let start = PEER_DATA_HEADROOM.checked_sub(header_len)?;
        let padded = pad4(len);
        let body = 4 + addr_len + 4 + padded;
        if body > MAX_BODY {
            return None;
        }
        let payload_end = PEER_DATA_HEADROOM + len;
        buf.get_mut(payload_end..PEER_DATA_HEADROOM + padded)?.fill(0);
        let msg_type = MessageType::new(Method::DATA, Class::Indication).to_wire();
        let mut at = start;
        for part in [
            &msg_type.to_be_bytes()[..],
            &(body as u16).to_be_bytes(),
            &MAGIC_COOKIE.to_be_bytes(),
            &tid,
            &AttrType::XOR_PEER_ADDRESS.value().to_be_bytes(),
            &(addr_len as u16).to_be_bytes(),
            addr.get(..addr_len)?,
            &AttrType::DATA.value().to_be_bytes(),
            &(len as u16).to_be_bytes(),
        ] {
            put(buf, at, part)?;
            at += part.len();
        }
        Some(start..PEER_DATA_HEADROOM + padded)
    }
}
