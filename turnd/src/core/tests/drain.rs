//! Draining for a graceful stop: new allocations refused with 508, existing
//! ones served until the end.

use rtc_stun::attr::{Lifetime, Nonce, RequestedTransport};
use rtc_stun::{ChannelData, ChannelNumber, Class, Method};

use super::harness::{addr, relay_local, Client, Harness};

const PEER: &str = "8.8.8.8:5000";

fn udp_allocate(e: &mut rtc_stun::MessageEncoder<'_>) -> Result<(), rtc_stun::Error> {
    e.add(&RequestedTransport::UDP).map(|_| ())
}

#[test]
fn draining_answers_new_allocates_with_508_and_keeps_existing_allocations_working() {
    let mut h = Harness::new();
    let mut alice = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let first = h.allocate(&mut alice);
    let relay = relay_local(&h, &first);
    let first_tid = first.msg().transaction_id();
    h.server.set_draining(true);
    assert!(h.server.is_draining());

    // A newcomer's unauthenticated Allocate: 508 at once, unsigned, no challenge.
    let mut bob = Client::udp("203.0.113.8:40000", "bob", "builder");
    let lookups = h.lookups();
    let r = h.call_once(&mut bob, Method::ALLOCATE, &udp_allocate);
    assert_eq!((r.class(), r.code()), (Class::Error, Some(508)));
    assert!(!r.msg().has_integrity());
    assert!(r.attr::<Nonce>().is_none(), "no challenge while draining");
    assert_eq!(h.lookups(), lookups);

    // With credentials (a nonce learned before the drain): 508, signed, so
    // that the client believes it (RFC 8489 §9.2.5).
    bob.realm = alice.realm.clone();
    bob.nonce = alice.nonce.clone();
    let r = h.call(&mut bob, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(508));
    assert!(r.msg().has_integrity(), "a 508 to a signed request is signed");
    assert_eq!(h.server.allocation_count(), 1);
    assert_eq!(h.shared.allocations(), 1);

    // The same client on another 5-tuple cannot allocate either.
    let mut alice2 = alice.clone();
    alice2.tuple.client = addr("203.0.113.7:40001");
    assert_eq!(h.call(&mut alice2, Method::ALLOCATE, &udp_allocate).code(), Some(508));

    // A retransmission of the Allocate that succeeded still gets its answer.
    let bytes = alice.build(Method::ALLOCATE, first_tid, &udp_allocate);
    h.send(&alice.tuple.clone(), &bytes);
    assert!(h.take_response(first_tid).is_some_and(|r| r.is_success()));

    // Refresh, CreatePermission, ChannelBind and relayed data keep working.
    assert!(h.call(&mut alice, Method::REFRESH, &|e| e.add(&Lifetime(600)).map(|_| ())).is_success());
    assert!(h.create_permission(&mut alice, addr(PEER)).is_success());
    assert!(h.channel_bind(&mut alice, 0x4000, addr(PEER)).is_success());
    let mut cd = Vec::new();
    ChannelData::new(ChannelNumber::new(0x4000).unwrap(), b"still here").unwrap().encode_datagram(&mut cd);
    let f = h.send(&alice.tuple.clone(), &cd).expect("relayed while draining");
    assert_eq!(&cd[f.range.clone()], b"still here");
    assert!(h.peer_sends(relay, addr(PEER), b"reply").is_some());

    // A deallocation (Refresh with lifetime 0) ends it as usual.
    assert!(h.call(&mut alice, Method::REFRESH, &|e| e.add(&Lifetime(0)).map(|_| ())).is_success());
    assert_eq!(h.shared.allocations(), 0);
}

#[test]
fn leaving_draining_mode_allows_allocations_again() {
    let mut h = Harness::new();
    h.server.set_draining(true);
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    assert_eq!(h.call(&mut c, Method::ALLOCATE, &udp_allocate).code(), Some(508));
    h.server.set_draining(false);
    h.allocate(&mut c);
    assert_eq!(h.server.allocation_count(), 1);
}
