//! Permissions of one allocation (RFC 8656 §9): peer IP addresses (ports are
//! ignored) that may exchange data through the relay, each for 300 seconds.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rtc_stun::attr::{Attribute, XorPeerAddress};
use rtc_stun::{AttrType, Message};

use super::reply::Reply;
use super::server::Server;
use super::types::FiveTuple;

/// Permission lifetime; fixed by RFC 8656 §9 (not configurable).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub(crate) struct Permissions {
    map: HashMap<IpAddr, Instant>,
}

impl Permissions {
    /// Whether a batch of `ips` would fit in a table capped at `max`.
    pub(crate) fn fits(&self, ips: &[IpAddr], max: usize, now: Instant) -> bool {
        let live = self.map.values().filter(|e| now < **e).count();
        let new = ips
            .iter()
            .enumerate()
            .filter(|(i, ip)| {
                self.map.get(ip).is_none_or(|e| now >= *e) && !ips.iter().take(*i).any(|p| p == *ip)
            })
            .count();
        live + new <= max
    }

    /// Install or refresh the permission for `ip` (RFC 8656 §9.2).
    pub(crate) fn install(&mut self, ip: IpAddr, now: Instant) {
        self.map.insert(ip, now + PERMISSION_LIFETIME);
    }

    /// Whether data from or to `ip` may pass now.
    pub(crate) fn allows(&self, ip: IpAddr, now: Instant) -> bool {
        self.map.get(&ip).is_some_and(|e| now < *e)
    }

    /// Drop expired permissions.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.map.retain(|_, e| now < *e);
    }

    /// The earliest expiry, for the allocation's timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.values().min().copied()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Every XOR-PEER-ADDRESS of a request, in order; `Err(400)` on a malformed one.
pub(crate) fn peer_addresses(msg: &Message<'_>) -> Result<Vec<SocketAddr>, u16> {
    let tid = msg.transaction_id();
    msg.attributes()
        .filter(|a| a.attr_type == AttrType::XOR_PEER_ADDRESS)
        .map(|a| XorPeerAddress::decode(a.value, &tid).map(|x| x.0).map_err(|_| 400))
        .collect()
}

impl Server {
    /// Whether a peer may be relayed to: its family matches a relayed address
    /// of the allocation (else 443) and the peer policy allows it (else 403).
    pub(crate) fn check_peer(&self, from: &FiveTuple, peer: &SocketAddr) -> Result<(), u16> {
        let a = self.allocations.get(from).ok_or(437u16)?;
        if a.relay_for(peer).is_none() {
            return Err(443);
        }
        if !self.filter.is_allowed(peer.ip()) {
            return Err(403);
        }
        Ok(())
    }

    /// CreatePermission (RFC 8656 §9.2): all addresses or none.
    pub(crate) fn handle_create_permission(&mut self, from: &FiveTuple, msg: &Message<'_>, reply: &Reply, now: Instant) {
        if let Err(code) = self.try_create_permission(from, msg, now) {
            self.send_error(from, reply, code);
            return;
        }
        self.schedule_allocation(from, now);
        self.send_success(from, reply, |_| Ok(()));
    }

    fn try_create_permission(&mut self, from: &FiveTuple, msg: &Message<'_>, now: Instant) -> Result<(), u16> {
        let peers = peer_addresses(msg)?;
        if peers.is_empty() {
            return Err(400);
        }
        let max = self.config.allocation.max_permissions;
        if peers.len() > max {
            return Err(508);
        }
        for p in &peers {
            self.check_peer(from, p)?;
        }
        let ips: Vec<IpAddr> = peers.iter().map(SocketAddr::ip).collect();
        let a = self.allocations.get_mut(from).ok_or(437u16)?;
        if !a.permissions.fits(&ips, max, now) {
            return Err(508);
        }
        for ip in ips {
            a.permissions.install(ip, now);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn permission_lasts_300s_and_ignores_ports() {
        let t0 = Instant::now();
        let mut p = Permissions::default();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        p.install(ip, t0);
        assert!(p.allows(ip, t0 + Duration::from_secs(299)));
        assert!(!p.allows(ip, t0 + Duration::from_secs(300)));
        assert_eq!(p.next_deadline(), Some(t0 + PERMISSION_LIFETIME));
        p.expire(t0 + Duration::from_secs(300));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn capacity_counts_only_new_live_addresses() {
        let t0 = Instant::now();
        let mut p = Permissions::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        p.install(a, t0);
        assert!(p.fits(&[a, b, b], 2, t0));
        assert!(!p.fits(&[a, b, "192.0.2.3".parse().unwrap()], 2, t0));
        // An expired entry no longer counts.
        assert!(p.fits(&[b], 1, t0 + PERMISSION_LIFETIME));
    }
}
