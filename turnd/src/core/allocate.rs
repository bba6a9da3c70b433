//! The Allocate request (RFC 8656 §7.2, RFC 6156, RFC 6062 §5.1) and the
//! relay-binding round trip with the shell.

use std::time::{Duration, Instant};

use rand::RngCore;
use rtc_stun::attr::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, DontFragment, EvenPort, Lifetime,
    RequestedAddressFamily, RequestedTransport, ReservationToken, XorMappedAddress, XorRelayedAddress,
};
use rtc_stun::{Message, TransactionId};

use super::allocation::{desired_lifetime, family_of, Allocation, Bandwidth};
use super::auth::Authenticated;
use super::reply::Reply;
use super::server::Server;
use super::shared::{QuotaGuard, QuotaRefusal, RelayAddr, Reservation, UserId};
use super::timers::TimerKey;
use super::types::{BindFailure, BindId, Event, Family, FiveTuple, RelayBinding, RelayProtocol};

/// How long a reserved relayed address waits for its RESERVATION-TOKEN (RFC 8656 §7.2).
pub const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);
/// How long the core waits for the shell to bind relays before giving up.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(10);

/// One relay bind asked of the shell, and its answer once it came.
type BindSlot = (BindId, Family, Option<Result<RelayBinding, BindFailure>>);

/// An Allocate waiting for [`Server::handle_relay_bound`].
#[derive(Debug)]
pub(crate) struct PendingAllocation {
    tid: TransactionId,
    reply: Reply,
    username: String,
    user: UserId,
    quota: Option<QuotaGuard>,
    protocol: RelayProtocol,
    lifetime: u32,
    reserve: bool,
    /// ADDITIONAL-ADDRESS-FAMILY was asked for: report per-family failures.
    dual: bool,
    /// One slot per family asked of the shell.
    binds: Vec<BindSlot>,
    /// Families refused before asking (dual allocation, family disabled): 440.
    refused: Vec<Family>,
    deadline: Instant,
}

fn stun_family(f: Family) -> AddressFamily {
    match f {
        Family::V4 => AddressFamily::Ipv4,
        Family::V6 => AddressFamily::Ipv6,
    }
}

fn failure_code(f: BindFailure) -> u16 {
    match f {
        BindFailure::FamilyNotSupported => 440,
        BindFailure::InsufficientCapacity => 508,
    }
}

impl Server {
    /// RFC 8656 §7.2 retransmission handling, before authentication: a repeat
    /// of the request that made the allocation gets the same response; a
    /// repeat of one still being bound is absorbed.
    pub(crate) fn absorb_allocate_retransmission(&mut self, from: &FiveTuple, msg: &Message<'_>) -> bool {
        let tid = msg.transaction_id();
        if let Some(a) = self.allocations.get(from) {
            if a.tid == tid {
                let bytes = a.response.clone();
                self.reply_to(from, bytes);
                return true;
            }
        }
        self.pending.get(from).is_some_and(|p| p.tid == tid)
    }

    /// Allocate (RFC 8656 §7.2), after authentication.
    pub(crate) fn handle_allocate(&mut self, from: &FiveTuple, msg: &Message<'_>, auth: Authenticated, reply: Reply, now: Instant) {
        if let Err(code) = self.try_allocate(from, msg, auth, &reply, now) {
            self.send_error(from, &reply, code);
        }
    }

    fn try_allocate(&mut self, from: &FiveTuple, msg: &Message<'_>, auth: Authenticated, reply: &Reply, now: Instant) -> Result<(), u16> {
        // Step 2: one allocation per 5-tuple.
        if self.allocations.contains_key(from) || self.pending.contains_key(from) {
            return Err(437);
        }
        // Step 3: REQUESTED-TRANSPORT.
        let transport = msg.attr::<RequestedTransport>().map_err(|_| 400u16)?.ok_or(400u16)?;
        let protocol = match transport {
            RequestedTransport::UDP => RelayProtocol::Udp,
            RequestedTransport::TCP if self.config.allocation.tcp_relay => RelayProtocol::Tcp,
            _ => return Err(442),
        };
        let dont_fragment = msg.attr::<DontFragment>().map_err(|_| 400u16)?.is_some();
        let even = msg.attr::<EvenPort>().map_err(|_| 400u16)?;
        let token = msg.attr::<ReservationToken>().map_err(|_| 400u16)?;
        let requested = match msg.attr::<RequestedAddressFamily>() {
            Ok(f) => f.map(|RequestedAddressFamily(f)| family_of(f)),
            Err(rtc_stun::Error::AddressFamily { .. }) => return Err(440),
            Err(_) => return Err(400),
        };
        let additional = msg.attr::<AdditionalAddressFamily>().map_err(|_| 400u16)?;
        let lifetime = msg.attr::<Lifetime>().map_err(|_| 400u16)?;
        // RFC 6062 §5.1: TCP allocations only over TCP/TLS, without UDP-only options.
        if protocol == RelayProtocol::Tcp
            && (!from.transport.is_stream() || dont_fragment || even.is_some() || token.is_some())
        {
            return Err(400);
        }
        // Step 5 and 6: incompatible combinations.
        if token.is_some() && (even.is_some() || requested.is_some() || additional.is_some()) {
            return Err(400);
        }
        if requested.is_some() && additional.is_some() {
            return Err(400);
        }
        let cfg = &self.config.allocation;
        let supported = |f: Family| match f {
            Family::V4 => cfg.relay_ipv4,
            Family::V6 => cfg.relay_ipv6,
        };
        // Steps 7-9: which families to bind.
        let reserve = even.is_some_and(|e| e.reserve);
        let dual = additional.is_some();
        let (families, refused) = if token.is_some() {
            (Vec::new(), Vec::new())
        } else {
            match (requested, additional.map(|AdditionalAddressFamily(f)| f)) {
                (_, Some(AddressFamily::Ipv4)) => return Err(400),
                (_, Some(AddressFamily::Ipv6)) => {
                    if reserve {
                        return Err(400);
                    }
                    let (ok, no): (Vec<Family>, Vec<Family>) =
                        [Family::V4, Family::V6].into_iter().partition(|f| supported(*f));
                    if ok.is_empty() {
                        return Err(440);
                    }
                    (ok, no)
                }
                (f, None) => {
                    let f = f.unwrap_or(Family::V4);
                    if !supported(f) {
                        return Err(440);
                    }
                    (vec![f], Vec::new())
                }
            }
        };
        if self.pending.len() >= self.config.limits.max_pending_allocations {
            return Err(508);
        }
        // Step 10: quotas.
        let quota = match self.shared.acquire(auth.user.clone(), cfg.user_quota, cfg.total_quota) {
            Ok(q) => Some(q),
            Err(QuotaRefusal::User) => return Err(486),
            Err(QuotaRefusal::Total) => return Err(508),
        };
        let lifetime = desired_lifetime(lifetime.map(|l| l.0), cfg.default_lifetime_secs, cfg.max_lifetime_secs);
        let lifetime = lifetime.max(1);
        let mut pending = PendingAllocation {
            tid: msg.transaction_id(),
            reply: reply.clone(),
            username: auth.username,
            user: auth.user,
            quota,
            protocol,
            lifetime,
            reserve,
            dual,
            binds: Vec::new(),
            refused,
            deadline: now + BIND_TIMEOUT,
        };
        if let Some(ReservationToken(t)) = token {
            let r = self.shared.take_reservation(&t, now).ok_or(508u16)?;
            pending.binds.push((BindId(0), Family::of(&r.relay.local), Some(Ok(RelayBinding { relay: r.relay, reserved: None }))));
            self.complete_allocation(*from, pending, now);
            return Ok(());
        }
        for family in families {
            let bind = BindId(self.next_id());
            pending.binds.push((bind, family, None));
            self.binds.insert(bind, *from);
            let even_port = even.is_some();
            self.emit(Event::BindRelay { bind, client: *from, protocol, family, even_port, reserve_next: reserve, dont_fragment });
        }
        self.timers.push(pending.deadline, TimerKey::PendingAllocation(*from));
        self.pending.insert(*from, pending);
        Ok(())
    }

    /// The shell's answer to [`Event::BindRelay`]. A late answer for an
    /// abandoned allocation is released at once ([`Event::RelayReleased`]).
    pub fn handle_relay_bound(&mut self, bind: BindId, result: Result<RelayBinding, BindFailure>, now: Instant) {
        let client = self.binds.remove(&bind);
        let slot = client.as_ref().and_then(|c| self.pending.get_mut(c)).and_then(|p| p.binds.iter_mut().find(|b| b.0 == bind));
        let Some(slot) = slot else {
            if let Ok(b) = result {
                self.release_binding(&b, RelayProtocol::Udp);
            }
            return;
        };
        slot.2 = Some(result);
        let Some(client) = client else { return };
        let done = self.pending.get(&client).is_some_and(|p| p.binds.iter().all(|b| b.2.is_some()));
        if done {
            if let Some(p) = self.pending.remove(&client) {
                self.complete_allocation(client, p, now);
            }
        }
    }

    fn release_binding(&mut self, b: &RelayBinding, protocol: RelayProtocol) {
        for r in std::iter::once(&b.relay).chain(b.reserved.iter()) {
            self.emit(Event::RelayReleased { relay: r.local, protocol });
        }
    }

    /// Every bind has answered: create the allocation or report the failure.
    fn complete_allocation(&mut self, client: FiveTuple, mut p: PendingAllocation, now: Instant) {
        let mut v4 = None;
        let mut v6 = None;
        let mut reserved: Option<RelayAddr> = None;
        let mut errors: Vec<(Family, u16)> = p.refused.iter().map(|f| (*f, 440)).collect();
        for (_, family, result) in std::mem::take(&mut p.binds) {
            match result {
                Some(Ok(b)) if p.reserve && b.reserved.is_none() => {
                    self.release_binding(&b, p.protocol);
                    errors.push((family, 508));
                }
                Some(Ok(b)) => {
                    match family {
                        Family::V4 => v4 = Some(b.relay),
                        Family::V6 => v6 = Some(b.relay),
                    }
                    reserved = reserved.or(b.reserved);
                }
                Some(Err(f)) => errors.push((family, failure_code(f))),
                None => errors.push((family, 508)),
            }
        }
        if v4.is_none() && v6.is_none() {
            let code = errors.first().map_or(508, |e| e.1);
            self.send_error(&client, &p.reply, code);
            return;
        }
        let token = reserved.map(|r| {
            let mut t = [0u8; 8];
            loop {
                self.rng.fill_bytes(&mut t);
                let expires = now + RESERVATION_LIFETIME;
                if self.shared.reserve(t, Reservation { relay: r, expires }) {
                    self.timers.push(expires, TimerKey::Reservation(t));
                    break t;
                }
            }
        });
        let lifetime = p.lifetime;
        let mapped = client.client;
        let dual = p.dual;
        let response = p.reply.success(self.config.software.as_deref(), |enc| {
            for r in v4.iter().chain(v6.iter()) {
                enc.add(&XorRelayedAddress(r.public))?;
            }
            enc.add(&Lifetime(lifetime))?;
            if let Some(t) = token {
                enc.add(&ReservationToken(t))?;
            }
            enc.add(&XorMappedAddress(mapped))?;
            if dual {
                for (f, code) in &errors {
                    enc.add(&AddressErrorCode::new(stun_family(*f), *code, rtc_stun::attr::recommended_reason(*code).unwrap_or(""))?)?;
                }
            }
            Ok(())
        });
        for r in v4.iter().chain(v6.iter()) {
            self.by_relay.insert(r.local, client);
        }
        let bandwidth = Bandwidth::new(self.config.allocation.max_bps, now);
        let allocation = Allocation {
            username: p.username,
            user: p.user.clone(),
            _quota: p.quota.take(),
            protocol: p.protocol,
            v4,
            v6,
            expires: now + Duration::from_secs(u64::from(lifetime)),
            permissions: Default::default(),
            channels: Default::default(),
            tcp: Default::default(),
            bandwidth,
            tid: p.tid,
            response: response.clone(),
            scheduled: None,
        };
        self.allocations.insert(client, allocation);
        self.metrics.allocations_created += 1;
        self.schedule_allocation(&client, now);
        self.reply_to(&client, response);
    }

    pub(crate) fn on_pending_timer(&mut self, client: FiveTuple, now: Instant) {
        if self.pending.get(&client).is_some_and(|p| now >= p.deadline) {
            if let Some(p) = self.pending.remove(&client) {
                for (bind, _, result) in &p.binds {
                    self.binds.remove(bind);
                    if let Some(Ok(b)) = result {
                        self.release_binding(b, p.protocol);
                    }
                }
            }
        }
    }

    /// Forget a pending allocation (its client went away).
    pub(crate) fn abandon_pending(&mut self, client: &FiveTuple) {
        if let Some(p) = self.pending.remove(client) {
            for (bind, _, result) in &p.binds {
                self.binds.remove(bind);
                if let Some(Ok(b)) = result {
                    self.release_binding(b, p.protocol);
                }
            }
        }
    }

    pub(crate) fn on_reservation_timer(&mut self, token: [u8; 8]) {
        // Still unclaimed? Then nobody will use that port: release it.
        if let Some(r) = self.shared.expire_reservation(&token) {
            self.emit(Event::RelayReleased { relay: r.relay.local, protocol: RelayProtocol::Udp });
        }
    }
}
