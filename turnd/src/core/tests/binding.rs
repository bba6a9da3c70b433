//! Binding requests and RFC 5780 behaviour discovery.

use rtc_stun::attr::{ChangeRequest, OtherAddress, ResponseOrigin, ResponsePort, Software, UnknownAttributes, XorMappedAddress};
use rtc_stun::{AttrType, Method};

use super::harness::{addr, config, Client, Harness};
use crate::core::config::{LimitsConfig, Rfc5780Config};
use crate::core::Transport;
use rtc_daemon::ratelimit::RateLimit;

fn rfc5780() -> crate::core::CoreConfig {
    crate::core::CoreConfig {
        rfc5780: Some(Rfc5780Config { primary: addr("192.0.2.1:3478"), alternate: addr("192.0.2.2:3479") }),
        ..config()
    }
}

#[test]
fn binding_request_gets_xor_mapped_address_and_software() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|_| Ok(()));
    assert!(r.is_success());
    assert_eq!(r.attr::<XorMappedAddress>().unwrap().0, addr("203.0.113.7:40000"));
    assert_eq!(r.attr::<Software>().unwrap().as_str(), "turnd");
    assert!(r.msg().has_fingerprint(), "request had FINGERPRINT, so must the response");
    r.msg().verify_fingerprint().unwrap();
    assert_eq!(r.transmit.source, addr("192.0.2.1:3478"));
    assert_eq!(r.transmit.destination, addr("203.0.113.7:40000"));
    assert!(r.attr::<OtherAddress>().is_none(), "no OTHER-ADDRESS without an alternate address");
}

#[test]
fn binding_without_fingerprint_gets_none() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    c.fingerprint = false;
    let r = h.call_once(&mut c, Method::BINDING, &|_| Ok(()));
    assert!(r.is_success());
    assert!(!r.msg().has_fingerprint());
}

#[test]
fn binding_over_ipv6_and_tcp_reflects_the_client() {
    let mut h = Harness::new();
    let mut c = Client::on(Transport::Tcp, "[2001:db8::7]:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|_| Ok(()));
    assert_eq!(r.attr::<XorMappedAddress>().unwrap().0, addr("[2001:db8::7]:40000"));
    assert_eq!(r.transmit.transport, Transport::Tcp);
}

#[test]
fn change_request_without_alternate_address_gets_420() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|e| e.add(&ChangeRequest { change_ip: true, change_port: true }).map(|_| ()));
    assert_eq!(r.code(), Some(420));
    let unknown: Vec<AttrType> = r.attr::<UnknownAttributes>().unwrap().iter().collect();
    assert_eq!(unknown, vec![AttrType::CHANGE_REQUEST]);
    // An empty CHANGE-REQUEST asks for nothing and is answered normally.
    let r = h.call_once(&mut c, Method::BINDING, &|e| e.add(&ChangeRequest { change_ip: false, change_port: false }).map(|_| ()));
    assert!(r.is_success());
}

#[test]
fn rfc5780_response_carries_other_address_and_response_origin() {
    let mut h = Harness::with(rfc5780());
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|_| Ok(()));
    assert_eq!(r.attr::<OtherAddress>().unwrap().0, addr("192.0.2.2:3479"));
    assert_eq!(r.attr::<ResponseOrigin>().unwrap().0, addr("192.0.2.1:3478"));
}

/// (change ip, change port, expected source of the response)
const CHANGES: &[(bool, bool, &str)] = &[
    (false, false, "192.0.2.1:3478"),
    (true, false, "192.0.2.2:3478"),
    (false, true, "192.0.2.1:3479"),
    (true, true, "192.0.2.2:3479"),
];

#[test]
fn change_request_sends_the_response_from_the_alternate_address() {
    for (ip, port, source) in CHANGES {
        let mut h = Harness::with(rfc5780());
        let mut c = Client::udp("203.0.113.7:40000", "", "");
        let flags = ChangeRequest { change_ip: *ip, change_port: *port };
        let r = h.call_once(&mut c, Method::BINDING, &move |e| e.add(&flags).map(|_| ()));
        assert!(r.is_success(), "{flags:?}");
        assert_eq!(r.transmit.source, addr(source), "{flags:?}");
        assert_eq!(r.attr::<ResponseOrigin>().unwrap().0, addr(source), "{flags:?}");
        assert_eq!(r.attr::<XorMappedAddress>().unwrap().0, addr("203.0.113.7:40000"));
    }
}

#[test]
fn response_port_redirects_the_response() {
    let mut h = Harness::with(rfc5780());
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|e| e.add(&ResponsePort(40002)).map(|_| ()));
    assert_eq!(r.transmit.destination, addr("203.0.113.7:40002"));
    assert_eq!(r.attr::<XorMappedAddress>().unwrap().0, addr("203.0.113.7:40000"));
}

#[test]
fn change_request_over_tcp_gets_400() {
    let mut h = Harness::with(rfc5780());
    let mut c = Client::on(Transport::Tcp, "203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|e| e.add(&ChangeRequest { change_ip: true, change_port: false }).map(|_| ()));
    assert_eq!(r.code(), Some(400));
}

#[test]
fn unknown_comprehension_required_attribute_gets_420() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::BINDING, &|e| e.add_raw(AttrType::new(0x7F01), b"zz").map(|_| ()));
    assert_eq!(r.code(), Some(420));
    let unknown: Vec<AttrType> = r.attr::<UnknownAttributes>().unwrap().iter().collect();
    assert_eq!(unknown, vec![AttrType::new(0x7F01)]);
    // Comprehension-optional ones are ignored.
    let r = h.call_once(&mut c, Method::BINDING, &|e| e.add_raw(AttrType::new(0xC001), b"zz").map(|_| ()));
    assert!(r.is_success());
}

#[test]
fn malformed_request_with_readable_header_gets_400() {
    let mut h = Harness::new();
    let c = Client::udp("203.0.113.7:40000", "", "");
    let tid = rtc_stun::TransactionId::new([9; 12]);
    let mut bytes = c.build(Method::BINDING, tid, &|e| e.add(&Software::new("x")?).map(|_| ()));
    // Make the SOFTWARE attribute claim more bytes than the message holds.
    bytes[22..24].copy_from_slice(&200u16.to_be_bytes());
    h.send(&c.tuple, &bytes);
    let r = h.take_response(tid).unwrap();
    assert_eq!(r.code(), Some(400));
    assert_eq!(h.server.metrics().malformed_packets, 1);
}

#[test]
fn request_with_a_wrong_fingerprint_is_dropped() {
    let mut h = Harness::new();
    let c = Client::udp("203.0.113.7:40000", "", "");
    let tid = rtc_stun::TransactionId::new([8; 12]);
    let mut bytes = c.build(Method::BINDING, tid, &|_| Ok(()));
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    h.send(&c.tuple, &bytes);
    assert!(h.take_response(tid).is_none());
    assert_eq!(h.server.metrics().malformed_packets, 1);
}

#[test]
fn junk_and_responses_are_ignored() {
    let mut h = Harness::new();
    let c = Client::udp("203.0.113.7:40000", "", "");
    assert!(h.send(&c.tuple, &[0x80, 1, 2, 3]).is_none());
    assert!(h.send(&c.tuple, &[]).is_none());
    assert!(h.transmits.is_empty());
    assert_eq!(h.server.metrics().malformed_packets, 2);
}

#[test]
fn binding_floods_are_rate_limited_per_source() {
    let mut cfg = config();
    cfg.limits = LimitsConfig { unauthenticated: RateLimit::new(3, 1.0), ..LimitsConfig::default() };
    let mut h = Harness::with(cfg);
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    for _ in 0..3 {
        assert!(h.try_call_once(&mut c, Method::BINDING, &|_| Ok(())).is_some());
    }
    assert!(h.try_call_once(&mut c, Method::BINDING, &|_| Ok(())).is_none());
    // Another source is unaffected; the first recovers after a second.
    let mut other = Client::udp("203.0.113.8:40000", "", "");
    assert!(h.try_call_once(&mut other, Method::BINDING, &|_| Ok(())).is_some());
    h.advance(1);
    assert!(h.try_call_once(&mut c, Method::BINDING, &|_| Ok(())).is_some());
    assert_eq!(h.server.metrics().unauthenticated_dropped, 1);
}
