//! Channel bindings of one allocation (RFC 8656 §11, §12).
//!
//! A binding lasts 600 s unless refreshed. After it expires, neither its
//! number nor its peer may be bound to anything else for another 5 minutes
//! (RFC 8656 §12), so late packets cannot be misdelivered; rebinding the same
//! pair is allowed at any time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc_stun::{ChannelNumber, Message};

use super::permission::peer_addresses;
use super::reply::Reply;
use super::server::Server;
use super::types::{FiveTuple, RelayProtocol};

/// Channel binding lifetime (RFC 8656 §11).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// How long an expired binding's number and peer stay reserved (RFC 8656 §12).
pub const CHANNEL_HOLD: Duration = Duration::from_secs(300);
/// Lowest valid channel number (RFC 8656 §12).
pub const MIN_CHANNEL: u16 = 0x4000;
/// Highest accepted channel number: RFC 5766 §11's bound, still used by deployed
/// clients (coturn's uclient picks 0x5000..=0x7FFF); RFC 8656 §12 reserves it.
pub const MAX_CHANNEL: u16 = rtc_stun::ChannelNumber::MAX;

/// Why a ChannelBind was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelRefusal {
    /// The number or the peer is (or recently was) bound otherwise: 400 (RFC 8656 §11.2).
    Conflict,
    /// The allocation holds its maximum number of channels: 508.
    Full,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    peer: SocketAddr,
    /// Active until this instant, then held until `expires + CHANNEL_HOLD`.
    expires: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Channels {
    by_number: HashMap<u16, Channel>,
    by_peer: HashMap<SocketAddr, u16>,
}

impl Channels {
    /// Bind or refresh `number` to `peer` (RFC 8656 §11.2).
    pub(crate) fn bind(&mut self, number: u16, peer: SocketAddr, now: Instant, max: usize) -> Result<(), ChannelRefusal> {
        self.expire(now);
        let number_peer = self.by_number.get(&number).map(|c| c.peer);
        let peer_number = self.by_peer.get(&peer).copied();
        match (number_peer, peer_number) {
            (Some(p), _) if p != peer => return Err(ChannelRefusal::Conflict),
            (_, Some(n)) if n != number => return Err(ChannelRefusal::Conflict),
            (None, None) if self.by_number.len() >= max => return Err(ChannelRefusal::Full),
            _ => {}
        }
        self.by_number.insert(number, Channel { peer, expires: now + CHANNEL_LIFETIME });
        self.by_peer.insert(peer, number);
        Ok(())
    }

    /// Whether `bind(number, peer)` would be accepted.
    pub(crate) fn check(&self, number: u16, peer: SocketAddr, now: Instant, max: usize) -> Result<(), ChannelRefusal> {
        let live = |c: &&Channel| now < c.expires + CHANNEL_HOLD;
        let number_peer = self.by_number.get(&number).filter(live).map(|c| c.peer);
        let peer_number = self.by_peer.get(&peer).filter(|n| self.by_number.get(n).filter(live).is_some());
        match (number_peer, peer_number) {
            (Some(p), _) if p != peer => Err(ChannelRefusal::Conflict),
            (_, Some(n)) if *n != number => Err(ChannelRefusal::Conflict),
            (None, None) if self.by_number.values().filter(live).count() >= max => Err(ChannelRefusal::Full),
            _ => Ok(()),
        }
    }

    /// The peer bound to `number`, if the binding is active.
    pub(crate) fn peer(&self, number: u16, now: Instant) -> Option<SocketAddr> {
        self.by_number.get(&number).filter(|c| now < c.expires).map(|c| c.peer)
    }

    /// The channel bound to `peer`, if active.
    pub(crate) fn number(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        let n = *self.by_peer.get(&peer)?;
        self.by_number.get(&n).filter(|c| now < c.expires && c.peer == peer).map(|_| n)
    }

    /// Forget bindings whose hold-down period is over.
    pub(crate) fn expire(&mut self, now: Instant) {
        let by_peer = &mut self.by_peer;
        self.by_number.retain(|_, c| {
            let keep = now < c.expires + CHANNEL_HOLD;
            if !keep {
                by_peer.remove(&c.peer);
            }
            keep
        });
    }

    /// The next instant something changes: an expiry or the end of a hold.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.by_number
            .values()
            .map(|c| if now < c.expires { c.expires } else { c.expires + CHANNEL_HOLD })
            .min()
    }
}

impl Server {
    /// ChannelBind (RFC 8656 §11.2): bind or refresh, and install or refresh
    /// the peer's permission.
    pub(crate) fn handle_channel_bind(&mut self, from: &FiveTuple, msg: &Message<'_>, reply: &Reply, now: Instant) {
        if let Err(code) = self.try_channel_bind(from, msg, now) {
            self.send_error(from, reply, code);
            return;
        }
        self.schedule_allocation(from, now);
        self.send_success(from, reply, |_| Ok(()));
    }

    fn try_channel_bind(&mut self, from: &FiveTuple, msg: &Message<'_>, now: Instant) -> Result<(), u16> {
        let number = msg.attr::<ChannelNumber>().map_err(|_| 400u16)?.ok_or(400u16)?.value();
        let peer = *peer_addresses(msg)?.first().ok_or(400u16)?;
        if peer.port() == 0 {
            return Err(400);
        }
        self.check_peer(from, &peer)?;
        let max_channels = self.config.allocation.max_channels;
        let max_permissions = self.config.allocation.max_permissions;
        let a = self.allocations.get_mut(from).ok_or(437u16)?;
        // RFC 6062 §5: TCP allocations have no channels.
        if a.protocol == RelayProtocol::Tcp {
            return Err(400);
        }
        let conflict = |r: ChannelRefusal| match r {
            ChannelRefusal::Conflict => 400u16,
            ChannelRefusal::Full => 508,
        };
        a.channels.check(number, peer, now, max_channels).map_err(conflict)?;
        if !a.permissions.fits(&[peer.ip()], max_permissions, now) {
            return Err(508);
        }
        a.channels.bind(number, peer, now, max_channels).map_err(conflict)?;
        a.permissions.install(peer.ip(), now);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn peer(p: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, 1], p))
    }

    #[test]
    fn conflicts_and_refreshes() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        assert_eq!(c.bind(0x4000, peer(1), t0, 10), Ok(()));
        // Same pair: refresh.
        assert_eq!(c.bind(0x4000, peer(1), t0 + Duration::from_secs(500), 10), Ok(()));
        assert_eq!(c.peer(0x4000, t0 + Duration::from_secs(1000)), Some(peer(1)));
        // Number bound to another peer, peer bound to another number.
        assert_eq!(c.bind(0x4000, peer(2), t0, 10), Err(ChannelRefusal::Conflict));
        assert_eq!(c.bind(0x4001, peer(1), t0, 10), Err(ChannelRefusal::Conflict));
        assert_eq!(c.check(0x4001, peer(1), t0, 10), Err(ChannelRefusal::Conflict));
        assert_eq!(c.number(peer(1), t0), Some(0x4000));
    }

    #[test]
    fn expired_binding_is_held_for_five_minutes() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        c.bind(0x4000, peer(1), t0, 10).unwrap();
        let expired = t0 + CHANNEL_LIFETIME;
        assert_eq!(c.peer(0x4000, expired), None);
        assert_eq!(c.number(peer(1), expired), None);
        assert_eq!(c.next_deadline(expired), Some(expired + CHANNEL_HOLD));
        assert_eq!(c.bind(0x4000, peer(2), expired, 10), Err(ChannelRefusal::Conflict));
        let free = expired + CHANNEL_HOLD;
        assert_eq!(c.check(0x4000, peer(2), free, 10), Ok(()));
        assert_eq!(c.bind(0x4000, peer(2), free, 10), Ok(()));
    }

    #[test]
    fn table_is_capped() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        c.bind(0x4000, peer(1), t0, 1).unwrap();
        assert_eq!(c.bind(0x4001, peer(2), t0, 1), Err(ChannelRefusal::Full));
        assert_eq!(c.check(0x4001, peer(2), t0, 1), Err(ChannelRefusal::Full));
    }
}
