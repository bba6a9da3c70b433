//! Allocate, Refresh, lifetimes, quotas, families, reservations (RFC 8656 §7, RFC 6156).

use std::time::Duration;

use rtc_stun::attr::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, DontFragment, EvenPort, Lifetime,
    RequestedAddressFamily, RequestedTransport, ReservationToken, XorMappedAddress, XorRelayedAddress,
};
use rtc_stun::{AttrType, Method};

use super::harness::{addr, config, relay_local, Client, Harness};
use crate::core::{BindFailure, Event, Family, RelayProtocol, Transport};

fn udp(e: &mut rtc_stun::MessageEncoder<'_>) -> Result<(), rtc_stun::Error> {
    e.add(&RequestedTransport::UDP).map(|_| ())
}

fn alice() -> Client {
    Client::udp("203.0.113.7:40000", "alice", "wonderland")
}

fn released(h: &mut Harness) -> Vec<std::net::SocketAddr> {
    h.take_events(|e| matches!(e, Event::RelayReleased { .. }))
        .into_iter()
        .filter_map(|e| match e {
            Event::RelayReleased { relay, .. } => Some(relay),
            _ => None,
        })
        .collect()
}

#[test]
fn allocate_success_has_relayed_and_mapped_addresses_and_lifetime() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.allocate(&mut c);
    assert_eq!(r.attr::<XorRelayedAddress>().unwrap().0, addr("198.51.100.1:50000"), "the public address");
    assert_eq!(r.attr::<XorMappedAddress>().unwrap().0, addr("203.0.113.7:40000"));
    assert_eq!(r.attr::<Lifetime>().unwrap().0, 600);
    let binds = h.take_events(|e| matches!(e, Event::BindRelay { .. }));
    assert_eq!(binds.len(), 1);
    let Event::BindRelay { family, protocol, even_port, reserve_next, dont_fragment, client, .. } = &binds[0] else {
        unreachable!()
    };
    assert_eq!((*family, *protocol, *even_port, *reserve_next, *dont_fragment), (Family::V4, RelayProtocol::Udp, false, false, false));
    assert_eq!(client, &c.tuple);
    assert_eq!(h.server.metrics().allocations_created, 1);
    assert_eq!(h.server.metrics().allocations_active, 1);
}

#[test]
fn retransmitted_allocate_gets_same_response() {
    let mut h = Harness::new();
    let mut c = alice();
    let _ = h.call_once(&mut c, Method::ALLOCATE, &udp);
    let first = h.call(&mut c, Method::ALLOCATE, &udp);
    assert!(first.is_success());
    // The retransmission: same bytes, same transaction id.
    let tid = first.msg().transaction_id();
    let again = c.build(Method::ALLOCATE, tid, &udp);
    h.send(&c.tuple, &again);
    let second = h.take_response(tid).unwrap();
    assert_eq!(second.transmit.contents, first.transmit.contents);
    assert_eq!(h.take_events(|e| matches!(e, Event::BindRelay { .. })).len(), 1, "no second relay");
    // A new Allocate (new transaction) on the same 5-tuple is a mismatch.
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp);
    assert_eq!(r.code(), Some(437));
}

#[test]
fn retransmission_while_the_relay_is_being_bound_is_absorbed() {
    let mut h = Harness::new();
    h.auto_bind = false;
    let mut c = alice();
    let challenge = h.call_once(&mut c, Method::ALLOCATE, &udp);
    c.realm = challenge.attr::<rtc_stun::attr::Realm>().map(|r| r.as_str().to_owned());
    c.nonce = challenge.attr::<rtc_stun::attr::Nonce>().map(|n| n.as_str().to_owned());
    let tid = c.tid();
    let req = c.build(Method::ALLOCATE, tid, &udp);
    h.send(&c.tuple, &req);
    h.send(&c.tuple, &req);
    let binds = h.take_events(|e| matches!(e, Event::BindRelay { .. }));
    assert_eq!(binds.len(), 1, "the retransmission did not bind a second relay");
    assert!(h.take_response(tid).is_none(), "no answer before the relay is bound");
    let Event::BindRelay { bind, .. } = binds[0].clone() else { unreachable!() };
    let relay = crate::core::RelayAddr { local: addr("10.0.0.1:50000"), public: addr("198.51.100.1:50000") };
    h.server.handle_relay_bound(bind, Ok(crate::core::RelayBinding { relay, reserved: None }), h.now);
    h.pump();
    assert!(h.take_response(tid).unwrap().is_success());
    assert!(h.transmits.is_empty());
    assert_eq!(h.server.allocation_count(), 1);
}

/// (description, request body, expected error)
#[allow(clippy::type_complexity)]
const BAD_ALLOCATES: &[(&str, fn(&mut rtc_stun::MessageEncoder<'_>) -> Result<(), rtc_stun::Error>, u16)] = &[
    ("no REQUESTED-TRANSPORT", |_| Ok(()), 400),
    ("SCTP", |e| e.add(&RequestedTransport(132)).map(|_| ()), 442),
    ("TCP over UDP", |e| e.add(&RequestedTransport::TCP).map(|_| ()), 400),
    ("both family attributes", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&RequestedAddressFamily(AddressFamily::Ipv4))?;
        e.add(&AdditionalAddressFamily(AddressFamily::Ipv6))?;
        Ok(())
    }, 400),
    ("ADDITIONAL-ADDRESS-FAMILY IPv4", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&AdditionalAddressFamily(AddressFamily::Ipv4))?;
        Ok(())
    }, 400),
    ("token with EVEN-PORT", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&ReservationToken([1; 8]))?;
        e.add(&EvenPort { reserve: false })?;
        Ok(())
    }, 400),
    ("token with REQUESTED-ADDRESS-FAMILY", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&ReservationToken([1; 8]))?;
        e.add(&RequestedAddressFamily(AddressFamily::Ipv4))?;
        Ok(())
    }, 400),
    ("EVEN-PORT R with dual stack", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&EvenPort { reserve: true })?;
        e.add(&AdditionalAddressFamily(AddressFamily::Ipv6))?;
        Ok(())
    }, 400),
    ("unknown family", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add_raw(AttrType::REQUESTED_ADDRESS_FAMILY, &[3, 0, 0, 0])?;
        Ok(())
    }, 440),
    ("unknown token", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&ReservationToken([9; 8]))?;
        Ok(())
    }, 508),
    ("unknown comprehension-required attribute", |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add_raw(AttrType::new(0x0777), &[0; 4])?;
        Ok(())
    }, 420),
];

#[test]
fn malformed_or_unsupported_allocates_get_their_error_codes() {
    for (what, body, code) in BAD_ALLOCATES {
        let mut h = Harness::new();
        let mut c = alice();
        let r = h.call(&mut c, Method::ALLOCATE, body);
        assert_eq!(r.code(), Some(*code), "{what}");
        assert_eq!(h.server.allocation_count(), 0, "{what}");
        assert_eq!(h.shared.allocations(), 0, "{what}: quota given back");
    }
}

#[test]
fn requested_ipv6_family_gets_an_ipv6_relay() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.call(&mut c, Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&RequestedAddressFamily(AddressFamily::Ipv6))?;
        Ok(())
    });
    assert_eq!(r.attr::<XorRelayedAddress>().unwrap().0, addr("[2001:db8:1::1]:50000"));
}

#[test]
fn disabled_family_gets_440() {
    let mut cfg = config();
    cfg.allocation.relay_ipv6 = false;
    let mut h = Harness::with(cfg);
    let mut c = alice();
    let r = h.call(&mut c, Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&RequestedAddressFamily(AddressFamily::Ipv6))?;
        Ok(())
    });
    assert_eq!(r.code(), Some(440));
}

fn dual(e: &mut rtc_stun::MessageEncoder<'_>) -> Result<(), rtc_stun::Error> {
    e.add(&RequestedTransport::UDP)?;
    e.add(&AdditionalAddressFamily(AddressFamily::Ipv6))?;
    Ok(())
}

#[test]
fn dual_stack_allocation_gets_two_relayed_addresses() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.call(&mut c, Method::ALLOCATE, &dual);
    let relays: Vec<_> = r.all::<XorRelayedAddress>().into_iter().map(|x| x.0).collect();
    assert_eq!(relays.len(), 2);
    assert!(relays[0].is_ipv4() && relays[1].is_ipv6());
    assert!(r.attr::<AddressErrorCode>().is_none());
}

#[test]
fn dual_stack_partial_failure_reports_address_error_code() {
    let mut h = Harness::new();
    h.bind_failure = Some((Family::V6, BindFailure::InsufficientCapacity));
    let mut c = alice();
    let r = h.call(&mut c, Method::ALLOCATE, &dual);
    assert!(r.is_success());
    assert_eq!(r.all::<XorRelayedAddress>().len(), 1);
    let err = r.attr::<AddressErrorCode>().unwrap();
    assert_eq!((err.family(), err.code()), (AddressFamily::Ipv6, 508));
    // With IPv6 disabled by configuration the reason is 440.
    let mut cfg = config();
    cfg.allocation.relay_ipv6 = false;
    let mut h = Harness::with(cfg);
    let r = h.call(&mut alice(), Method::ALLOCATE, &dual);
    let err = r.attr::<AddressErrorCode>().unwrap();
    assert_eq!((err.family(), err.code()), (AddressFamily::Ipv6, 440));
}

#[test]
fn relay_bind_failure_gets_508_and_returns_the_quota() {
    let mut h = Harness::new();
    h.bind_failure = Some((Family::V4, BindFailure::InsufficientCapacity));
    let r = h.call(&mut alice(), Method::ALLOCATE, &udp);
    assert_eq!(r.code(), Some(508));
    assert_eq!(h.shared.allocations(), 0);
    h.bind_failure = Some((Family::V4, BindFailure::FamilyNotSupported));
    let r = h.call(&mut alice(), Method::ALLOCATE, &udp);
    assert_eq!(r.code(), Some(440));
}

#[test]
fn unanswered_relay_bind_times_out_and_a_late_answer_is_released() {
    let mut h = Harness::new();
    h.auto_bind = false;
    let mut c = alice();
    let challenge = h.call_once(&mut c, Method::ALLOCATE, &udp);
    c.realm = challenge.attr::<rtc_stun::attr::Realm>().map(|r| r.as_str().to_owned());
    c.nonce = challenge.attr::<rtc_stun::attr::Nonce>().map(|n| n.as_str().to_owned());
    assert!(h.try_call_once(&mut c, Method::ALLOCATE, &udp).is_none());
    let Some(Event::BindRelay { bind, .. }) = h.take_events(|e| matches!(e, Event::BindRelay { .. })).pop() else {
        panic!("no bind")
    };
    assert_eq!(h.shared.allocations(), 1);
    h.advance(10);
    assert_eq!(h.shared.allocations(), 0, "quota returned after the bind timeout");
    let relay = crate::core::RelayAddr { local: addr("10.0.0.1:50000"), public: addr("198.51.100.1:50000") };
    h.server.handle_relay_bound(bind, Ok(crate::core::RelayBinding { relay, reserved: None }), h.now);
    h.pump();
    assert_eq!(released(&mut h), vec![addr("10.0.0.1:50000")]);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn user_quota_gets_486_and_total_quota_508() {
    let mut cfg = config();
    cfg.allocation.user_quota = 2;
    cfg.allocation.total_quota = 3;
    let mut h = Harness::with(cfg);
    for port in [40000, 40001] {
        h.allocate(&mut Client::udp(&format!("203.0.113.7:{port}"), "alice", "wonderland"));
    }
    let r = h.call(&mut Client::udp("203.0.113.7:40002", "alice", "wonderland"), Method::ALLOCATE, &udp);
    assert_eq!(r.code(), Some(486));
    h.allocate(&mut Client::udp("203.0.113.8:40000", "bob", "builder"));
    let r = h.call(&mut Client::udp("203.0.113.8:40001", "bob", "builder"), Method::ALLOCATE, &udp);
    assert_eq!(r.code(), Some(508));
    assert_eq!(h.server.metrics().errors.count(486), 1);
    assert_eq!(h.server.metrics().errors.count(508), 1);
}

#[test]
fn allocation_expires_after_lifetime() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.allocate(&mut c);
    let relay = relay_local(&h, &r);
    h.take_events(|_| true);
    h.advance(599);
    assert_eq!(h.server.allocation_count(), 1);
    h.advance(1);
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(released(&mut h), vec![relay]);
    assert_eq!(h.shared.allocations(), 0);
    assert_eq!(h.server.metrics().allocations_expired, 1);
    // Data from a peer to the old relay goes nowhere.
    assert!(h.peer_sends(relay, addr("8.8.8.8:9"), b"late").is_none());
}

#[test]
fn requested_lifetime_is_clamped_between_default_and_maximum() {
    for (asked, granted) in [(30u32, 600u32), (1200, 1200), (100_000, 3600)] {
        let mut h = Harness::new();
        let r = h.call(&mut alice(), Method::ALLOCATE, &move |e| {
            e.add(&RequestedTransport::UDP)?;
            e.add(&Lifetime(asked))?;
            Ok(())
        });
        assert_eq!(r.attr::<Lifetime>().unwrap().0, granted, "asked {asked}");
    }
}

#[test]
fn refresh_extends_and_refresh_zero_deletes() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.allocate(&mut c);
    let relay = relay_local(&h, &r);
    h.advance(500);
    let r = h.call(&mut c, Method::REFRESH, &|e| e.add(&Lifetime(900)).map(|_| ()));
    assert_eq!(r.attr::<Lifetime>().unwrap().0, 900);
    h.advance(899);
    assert_eq!(h.server.allocation_count(), 1, "extended past the original 600 s");
    let r = h.call(&mut c, Method::REFRESH, &|e| e.add(&Lifetime(0)).map(|_| ()));
    assert!(r.is_success());
    assert_eq!(r.attr::<Lifetime>().unwrap().0, 0);
    assert_eq!(h.server.allocation_count(), 0);
    assert!(released(&mut h).contains(&relay));
    let r = h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    assert_eq!(r.code(), Some(437));
}

#[test]
fn requests_from_another_user_on_the_allocation_get_441() {
    let mut h = Harness::new();
    let mut c = alice();
    h.allocate(&mut c);
    let mut bob = Client::udp("203.0.113.7:40000", "bob", "builder");
    let r = h.call(&mut bob, Method::REFRESH, &|_| Ok(()));
    assert_eq!(r.code(), Some(441));
}

#[test]
fn refresh_of_one_family_in_a_dual_allocation() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.call(&mut c, Method::ALLOCATE, &dual);
    let v6_public = r.all::<XorRelayedAddress>()[1].0;
    let r = h.call(&mut c, Method::REFRESH, &|e| {
        e.add(&Lifetime(0))?;
        e.add(&RequestedAddressFamily(AddressFamily::Ipv6))?;
        Ok(())
    });
    assert!(r.is_success());
    assert_eq!(h.server.allocation_count(), 1, "the IPv4 half lives on");
    assert_eq!(released(&mut h), vec![addr(&format!("[fd00::1]:{}", v6_public.port()))]);
    let r = h.call(&mut c, Method::REFRESH, &|e| e.add(&RequestedAddressFamily(AddressFamily::Ipv6)).map(|_| ()));
    assert_eq!(r.code(), Some(443));
}

#[test]
fn even_port_reservation_token_is_usable_for_30_seconds() {
    let mut h = Harness::new();
    let mut c = alice();
    let r = h.call(&mut c, Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&EvenPort { reserve: true })?;
        Ok(())
    });
    assert!(r.is_success());
    assert_eq!(r.attr::<XorRelayedAddress>().unwrap().0.port() % 2, 0);
    let token = r.attr::<ReservationToken>().unwrap();
    // A second client uses the token and gets port + 1.
    let mut c2 = Client::udp("203.0.113.7:40002", "alice", "wonderland");
    let r2 = h.call(&mut c2, Method::ALLOCATE, &move |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&token)?;
        Ok(())
    });
    assert!(r2.is_success(), "{:?}", r2.code());
    assert_eq!(r2.attr::<XorRelayedAddress>().unwrap().0.port(), r.attr::<XorRelayedAddress>().unwrap().0.port() + 1);
    // The token is single-use.
    let mut c3 = Client::udp("203.0.113.7:40003", "alice", "wonderland");
    let r3 = h.call(&mut c3, Method::ALLOCATE, &move |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&token)?;
        Ok(())
    });
    assert_eq!(r3.code(), Some(508));
}

#[test]
fn unused_reservation_expires_after_30s_and_is_released() {
    let mut h = Harness::new();
    let r = h.call(&mut alice(), Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&EvenPort { reserve: true })?;
        Ok(())
    });
    let token = r.attr::<ReservationToken>().unwrap();
    let reserved = addr(&format!("10.0.0.1:{}", r.attr::<XorRelayedAddress>().unwrap().0.port() + 1));
    h.take_events(|_| true);
    h.advance(30);
    assert_eq!(released(&mut h), vec![reserved]);
    let r = h.call(&mut Client::udp("203.0.113.7:40002", "alice", "wonderland"), Method::ALLOCATE, &move |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&token)?;
        Ok(())
    });
    assert_eq!(r.code(), Some(508));
}

#[test]
fn dont_fragment_is_passed_to_the_relay_bind() {
    let mut h = Harness::new();
    h.call(&mut alice(), Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&DontFragment)?;
        Ok(())
    });
    assert!(h.events.iter().any(|e| matches!(e, Event::BindRelay { dont_fragment: true, .. })));
}

#[test]
fn tcp_client_connection_close_deletes_its_allocation() {
    let mut h = Harness::new();
    let mut c = Client::on(Transport::Tcp, "203.0.113.7:40000", "alice", "wonderland");
    let r = h.allocate(&mut c);
    let relay = relay_local(&h, &r);
    h.take_events(|_| true);
    h.server.handle_client_closed(c.tuple, h.now);
    h.pump();
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(released(&mut h), vec![relay]);
    assert_eq!(h.shared.allocations(), 0);
}

#[test]
fn poll_timeout_leads_to_the_allocation_expiry() {
    let mut h = Harness::new();
    assert_eq!(h.server.poll_timeout(), None);
    h.allocate(&mut alice());
    let expiry = h.t0 + Duration::from_secs(600);
    // Earlier deadlines are hints (lookup, bind timeouts) that fire harmlessly.
    loop {
        let t = h.server.poll_timeout().unwrap();
        assert!(t <= expiry);
        if t == expiry {
            break;
        }
        h.now = t;
        h.server.handle_timeout(t);
        assert_eq!(h.server.allocation_count(), 1);
    }
}
