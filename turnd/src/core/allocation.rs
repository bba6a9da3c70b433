//! Allocations (RFC 8656 §7): state, Refresh (§7.3), expiry and deletion.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc_stun::attr::{AddressFamily, Lifetime, RequestedAddressFamily};
use rtc_stun::{Message, TransactionId};

use super::channel::Channels;
use super::permission::Permissions;
use super::reply::Reply;
use super::server::Server;
use super::shared::{QuotaGuard, RelayAddr, UserId};
use super::tcp_relay::TcpConnections;
use super::timers::TimerKey;
use super::types::{Event, Family, FiveTuple, RelayProtocol};

/// Per-allocation token bucket on relayed bytes (both directions together).
#[derive(Debug)]
pub(crate) struct Bandwidth {
    rate: f64,
    tokens: f64,
    updated: Instant,
}

impl Bandwidth {
    pub(crate) fn new(bytes_per_sec: u64, now: Instant) -> Option<Self> {
        (bytes_per_sec > 0).then(|| {
            let rate = bytes_per_sec as f64;
            Self { rate, tokens: rate, updated: now }
        })
    }

    /// Take `n` bytes' worth; `false` means drop the packet.
    pub(crate) fn take(&mut self, n: usize, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        self.updated = now;
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// One allocation, keyed by the client's 5-tuple.
#[derive(Debug)]
pub(crate) struct Allocation {
    /// The user that made it; other users get 441 (RFC 8656 §5).
    pub username: String,
    /// The quota identity, also required of RFC 6062 ConnectionBind.
    pub user: UserId,
    /// Held for the allocation's life; dropping it gives the quota back.
    pub _quota: Option<QuotaGuard>,
    pub protocol: RelayProtocol,
    pub v4: Option<RelayAddr>,
    pub v6: Option<RelayAddr>,
    pub expires: Instant,
    pub permissions: Permissions,
    pub channels: Channels,
    pub tcp: TcpConnections,
    pub bandwidth: Option<Bandwidth>,
    /// Transaction id and bytes of the Allocate success response, resent to
    /// retransmissions (RFC 8656 §7.2).
    pub tid: TransactionId,
    pub response: Vec<u8>,
    /// The deadline currently queued in the timer heap for this allocation.
    pub scheduled: Option<Instant>,
}

impl Allocation {
    /// The relayed address that talks to `peer`'s family.
    pub(crate) fn relay_for(&self, peer: &SocketAddr) -> Option<&RelayAddr> {
        match Family::of(peer) {
            Family::V4 => self.v4.as_ref(),
            Family::V6 => self.v6.as_ref(),
        }
    }

    pub(crate) fn has_family(&self, f: Family) -> bool {
        match f {
            Family::V4 => self.v4.is_some(),
            Family::V6 => self.v6.is_some(),
        }
    }

    pub(crate) fn relays(&self) -> impl Iterator<Item = &RelayAddr> {
        self.v4.iter().chain(self.v6.iter())
    }

    /// The earliest instant anything in this allocation changes.
    fn next_deadline(&self, now: Instant) -> Instant {
        [self.permissions.next_deadline(), self.channels.next_deadline(now), self.tcp.next_deadline()]
            .into_iter()
            .flatten()
            .fold(self.expires, Instant::min)
    }
}

/// The "desired lifetime" of RFC 8656 §7.2/§7.3: the default if the client
/// asked for less, capped at the maximum; 0 stays 0 (delete).
pub(crate) fn desired_lifetime(requested: Option<u32>, default: u32, max: u32) -> u32 {
    match requested {
        Some(0) => 0,
        Some(r) => r.min(max).max(default.min(max)),
        None => default.min(max),
    }
}

pub(crate) fn family_of(f: AddressFamily) -> Family {
    match f {
        AddressFamily::Ipv4 => Family::V4,
        AddressFamily::Ipv6 => Family::V6,
    }
}

impl Server {
    /// Queue a timer if this allocation's next deadline moved earlier.
    pub(crate) fn schedule_allocation(&mut self, client: &FiveTuple, now: Instant) {
        let Some(a) = self.allocations.get_mut(client) else { return };
        let next = a.next_deadline(now);
        if a.scheduled.is_none_or(|s| next < s) {
            a.scheduled = Some(next);
            self.timers.push(next, TimerKey::Allocation(*client));
        }
    }

    pub(crate) fn on_allocation_timer(&mut self, client: FiveTuple, at: Instant, now: Instant) {
        let Some(a) = self.allocations.get_mut(&client) else { return };
        if a.scheduled != Some(at) {
            return;
        }
        a.scheduled = None;
        if now >= a.expires {
            self.delete_allocation(&client, now, true);
            return;
        }
        a.permissions.expire(now);
        a.channels.expire(now);
        self.expire_tcp_connections(&client, now);
        self.schedule_allocation(&client, now);
    }

    /// Remove an allocation and release everything it holds.
    pub(crate) fn delete_allocation(&mut self, client: &FiveTuple, _now: Instant, expired: bool) {
        let Some(a) = self.allocations.remove(client) else { return };
        if expired {
            self.metrics.allocations_expired += 1;
        }
        for id in a.tcp.ids() {
            self.by_connection.remove(&id);
            self.shared.drop_pending_connection(id.0);
            self.emit(Event::ClosePeerConnection { connection: id });
        }
        for r in a.relays() {
            self.by_relay.remove(&r.local);
            self.emit(Event::RelayReleased { relay: r.local, protocol: a.protocol });
        }
    }

    /// Refresh (RFC 8656 §7.3). The caller checked ownership.
    pub(crate) fn handle_refresh(&mut self, from: &FiveTuple, msg: &Message<'_>, reply: &Reply, now: Instant) {
        let (Ok(requested), Ok(family)) = (msg.attr::<Lifetime>(), msg.attr::<RequestedAddressFamily>()) else {
            self.send_error(from, reply, 400);
            return;
        };
        let cfg = &self.config.allocation;
        let desired = desired_lifetime(requested.map(|l| l.0), cfg.default_lifetime_secs, cfg.max_lifetime_secs);
        let Some(a) = self.allocations.get_mut(from) else { return };
        let family = family.map(|RequestedAddressFamily(f)| family_of(f));
        if let Some(f) = family {
            if !a.has_family(f) {
                self.send_error(from, reply, 443);
                return;
            }
        }
        if desired == 0 {
            let both = a.v4.is_some() && a.v6.is_some();
            match family {
                // Dual allocation: drop only the named family's relayed address.
                Some(f) if both => {
                    let released = match f {
                        Family::V4 => a.v4.take(),
                        Family::V6 => a.v6.take(),
                    };
                    let protocol = a.protocol;
                    if let Some(r) = released {
                        self.by_relay.remove(&r.local);
                        self.emit(Event::RelayReleased { relay: r.local, protocol });
                    }
                }
                _ => self.delete_allocation(from, now, false),
            }
        } else {
            a.expires = now + Duration::from_secs(u64::from(desired));
            self.schedule_allocation(from, now);
        }
        self.send_success(from, reply, |enc| enc.add(&Lifetime(desired)).map(|_| ()));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// (requested, default, max, desired)
    const LIFETIMES: &[(Option<u32>, u32, u32, u32)] = &[
        (None, 600, 3600, 600),
        (Some(0), 600, 3600, 0),
        (Some(30), 600, 3600, 600),
        (Some(1200), 600, 3600, 1200),
        (Some(86_400), 600, 3600, 3600),
        (Some(u32::MAX), 600, 3600, 3600),
        (None, 600, 300, 300),
    ];

    #[test]
    fn desired_lifetime_table() {
        for (req, def, max, want) in LIFETIMES {
            assert_eq!(desired_lifetime(*req, *def, *max), *want, "{req:?} {def} {max}");
        }
    }

    #[test]
    fn bandwidth_bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bandwidth::new(1000, t0).unwrap();
        assert!(b.take(1000, t0));
        assert!(!b.take(1, t0));
        assert!(b.take(500, t0 + Duration::from_millis(500)));
        assert!(!b.take(100, t0 + Duration::from_millis(500)));
        assert!(Bandwidth::new(0, t0).is_none());
    }
}
