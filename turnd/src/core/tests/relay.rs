//! Permissions, channels, Send/Data indications, ChannelData and peer filtering.

use std::net::SocketAddr;

use rtc_stun::attr::{AddressFamily, Data, DontFragment, RequestedAddressFamily, RequestedTransport, XorPeerAddress};
use rtc_stun::{AttrType, ChannelData, ChannelNumber, Class, Message, MessageEncoder, MessageType, Method, TransactionId};

use super::harness::{addr, config, relay_local, Client, Harness};
use crate::core::{CoreConfig, Transport};

const PEER: &str = "8.8.8.8:5000";

fn send_indication(peer: SocketAddr, data: &[u8], df: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut enc = MessageEncoder::new(&mut buf, MessageType::new(Method::SEND, Class::Indication), TransactionId::new([4; 12]));
    enc.add(&XorPeerAddress(peer)).unwrap();
    enc.add(&Data(data)).unwrap();
    if df {
        enc.add(&DontFragment).unwrap();
    }
    let _ = enc.finish();
    buf
}

fn channel_data(number: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ChannelData::new(ChannelNumber::new(number).unwrap(), data).unwrap().encode_datagram(&mut out);
    out
}

/// An allocated client and its relay's local address.
fn allocated(h: &mut Harness) -> (Client, SocketAddr) {
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.allocate(&mut c);
    let relay = relay_local(h, &r);
    (c, relay)
}

#[test]
fn send_indication_without_permission_is_dropped() {
    let mut h = Harness::new();
    let (c, _) = allocated(&mut h);
    assert!(h.send(&c.tuple, &send_indication(addr(PEER), b"hello", false)).is_none());
    assert_eq!(h.server.metrics().dropped_no_permission, 1);
}

#[test]
fn send_indication_after_create_permission_is_forwarded_from_the_relay() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    assert!(h.create_permission(&mut c, addr(PEER)).is_success());
    let pkt = send_indication(addr(PEER), b"hello", true);
    let f = h.send(&c.tuple, &pkt).unwrap();
    assert_eq!(&pkt[f.range.clone()], b"hello");
    assert_eq!((f.transport, f.source, f.destination, f.dont_fragment), (Transport::Udp, relay, addr(PEER), true));
    assert_eq!(h.server.metrics().packets_to_peers, 1);
    assert_eq!(h.server.metrics().bytes_to_peers, 5);
}

#[test]
fn permissions_ignore_the_peer_port() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    h.create_permission(&mut c, addr("8.8.8.8:1"));
    assert!(h.send(&c.tuple, &send_indication(addr("8.8.8.8:2"), b"x", false)).is_some());
    assert!(h.peer_sends(relay, addr("8.8.8.8:3"), b"y").is_some());
}

#[test]
fn peer_data_without_permission_is_dropped() {
    let mut h = Harness::new();
    let (_, relay) = allocated(&mut h);
    assert!(h.peer_sends(relay, addr(PEER), b"knock knock").is_none());
    assert_eq!(h.server.metrics().dropped_no_permission, 1);
}

#[test]
fn peer_data_becomes_a_data_indication_to_the_client() {
    for peer in [addr(PEER), addr("[2606:4700::1111]:5000")] {
        let mut h = Harness::new();
        let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
        let body = move |e: &mut MessageEncoder<'_>| {
            e.add(&RequestedTransport::UDP)?;
            if peer.is_ipv6() {
                e.add(&RequestedAddressFamily(AddressFamily::Ipv6))?;
            }
            Ok(())
        };
        let r = h.call(&mut c, Method::ALLOCATE, &body);
        let relay = relay_local(&h, &r);
        assert!(h.create_permission(&mut c, peer).is_success());
        let (f, bytes) = h.peer_sends(relay, peer, b"hello").unwrap();
        assert_eq!((f.destination, f.source, f.transport), (c.tuple.client, c.tuple.server, Transport::Udp));
        let m = Message::parse(&bytes).unwrap();
        assert_eq!((m.method(), m.class()), (Method::DATA, Class::Indication));
        assert_eq!(m.attr::<XorPeerAddress>().unwrap().unwrap().0, peer);
        assert_eq!(m.attr::<Data>().unwrap().unwrap().0, b"hello");
        assert_eq!(h.server.metrics().bytes_to_clients, 5);
    }
}

#[test]
fn permission_expires_after_300s_and_drops_peer_data() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    h.create_permission(&mut c, addr(PEER));
    h.advance(299);
    assert!(h.peer_sends(relay, addr(PEER), b"still here").is_some());
    h.advance(1);
    assert!(h.peer_sends(relay, addr(PEER), b"too late").is_none());
    assert!(h.send(&c.tuple, &send_indication(addr(PEER), b"x", false)).is_none());
}

#[test]
fn create_permission_refresh_extends() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    h.create_permission(&mut c, addr(PEER));
    h.advance(200);
    h.create_permission(&mut c, addr(PEER));
    h.advance(200);
    assert!(h.peer_sends(relay, addr(PEER), b"x").is_some());
    h.advance(100);
    assert!(h.peer_sends(relay, addr(PEER), b"x").is_none());
}

#[test]
fn channel_bind_then_channel_data_flows_both_ways() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    assert!(h.channel_bind(&mut c, 0x4001, addr(PEER)).is_success());
    let pkt = channel_data(0x4001, b"ping");
    let f = h.send(&c.tuple, &pkt).unwrap();
    assert_eq!((&pkt[f.range.clone()], f.destination, f.source), (&b"ping"[..], addr(PEER), relay));
    let (f, bytes) = h.peer_sends(relay, addr(PEER), b"pong").unwrap();
    assert_eq!(bytes, [0x40, 0x01, 0, 4, b'p', b'o', b'n', b'g']);
    assert_eq!(f.destination, c.tuple.client);
    // An unbound channel number is dropped.
    assert!(h.send(&c.tuple, &channel_data(0x4002, b"x")).is_none());
}

#[test]
fn channel_data_to_a_tcp_client_is_padded() {
    let mut h = Harness::new();
    let mut c = Client::on(Transport::Tcp, "203.0.113.7:40000", "alice", "wonderland");
    let r = h.allocate(&mut c);
    let relay = relay_local(&h, &r);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    let (f, bytes) = h.peer_sends(relay, addr(PEER), b"hello").unwrap();
    assert_eq!(f.transport, Transport::Tcp);
    assert_eq!(bytes, [0x40, 0, 0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]);
    // Padded ChannelData from the client is accepted too.
    let mut padded = channel_data(0x4000, b"abc");
    padded.push(0);
    let f = h.send(&c.tuple, &padded).unwrap();
    assert_eq!(&padded[f.range], b"abc");
}

#[test]
fn channel_binding_refresh_extends() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    h.advance(500);
    assert!(h.channel_bind(&mut c, 0x4000, addr(PEER)).is_success());
    assert!(h.call(&mut c, Method::REFRESH, &|_| Ok(())).is_success());
    h.advance(200);
    // 700 s after the first bind: alive thanks to the refresh (which also
    // refreshed the permission).
    assert!(h.send(&c.tuple, &channel_data(0x4000, b"x")).is_some());
    let (_, bytes) = h.peer_sends(relay, addr(PEER), b"y").unwrap();
    assert_eq!(&bytes[..2], &[0x40, 0x00]);
}

#[test]
fn channel_binding_expires_after_600s_and_is_held_for_five_more_minutes() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    h.advance(250);
    h.create_permission(&mut c, addr(PEER));
    h.advance(250);
    h.create_permission(&mut c, addr(PEER));
    h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    h.advance(100);
    // 600 s: the channel is gone, but the permission is not, so the peer's
    // data now arrives as a Data indication.
    assert!(h.send(&c.tuple, &channel_data(0x4000, b"x")).is_none());
    let (_, bytes) = h.peer_sends(relay, addr(PEER), b"y").unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().method(), Method::DATA);
    // The number and the peer stay reserved for 5 minutes...
    assert_eq!(h.channel_bind(&mut c, 0x4000, addr("8.8.4.4:1")).code(), Some(400));
    assert_eq!(h.channel_bind(&mut c, 0x4001, addr(PEER)).code(), Some(400));
    // ...but the same pair may be bound again at once.
    assert!(h.channel_bind(&mut c, 0x4000, addr(PEER)).is_success());
}

#[test]
fn expired_channel_number_is_free_after_the_hold() {
    let mut h = Harness::new();
    let (mut c, _) = allocated(&mut h);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    for _ in 0..3 {
        h.advance(299);
        h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    }
    h.advance(4);
    // 901 s > 600 + 300: free for another peer.
    assert!(h.channel_bind(&mut c, 0x4000, addr("8.8.4.4:1")).is_success());
}

#[test]
fn channel_conflicts_and_bad_numbers_get_400() {
    let mut h = Harness::new();
    let (mut c, _) = allocated(&mut h);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    assert_eq!(h.channel_bind(&mut c, 0x4000, addr("8.8.4.4:1")).code(), Some(400));
    assert_eq!(h.channel_bind(&mut c, 0x4001, addr(PEER)).code(), Some(400));
    for raw in [[0x3F, 0xFF, 0, 0], [0x80, 0x00, 0, 0]] {
        let r = h.call(&mut c, Method::CHANNEL_BIND, &move |e| {
            e.add_raw(AttrType::CHANNEL_NUMBER, &raw)?;
            e.add(&XorPeerAddress(addr("8.8.4.4:1")))?;
            Ok(())
        });
        assert_eq!(r.code(), Some(400), "{raw:?}");
    }
    let r = h.call(&mut c, Method::CHANNEL_BIND, &|e| e.add(&ChannelNumber::new(0x4005)?).map(|_| ()));
    assert_eq!(r.code(), Some(400), "no XOR-PEER-ADDRESS");
    assert_eq!(h.channel_bind(&mut c, 0x4005, addr("8.8.4.4:0")).code(), Some(400), "port 0");
}

#[test]
fn peer_127_0_0_1_is_forbidden_by_default() {
    let mut h = Harness::new();
    let (mut c, _) = allocated(&mut h);
    assert_eq!(h.create_permission(&mut c, addr("127.0.0.1:5000")).code(), Some(403));
    assert_eq!(h.channel_bind(&mut c, 0x4000, addr("127.0.0.1:5000")).code(), Some(403));
    assert_eq!(h.create_permission(&mut c, addr("10.1.2.3:5000")).code(), Some(403));
    assert_eq!(h.create_permission(&mut c, addr("169.254.169.254:80")).code(), Some(403));
}

fn dual_allocated(h: &mut Harness) -> Client {
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.call(&mut c, Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&rtc_stun::attr::AdditionalAddressFamily(AddressFamily::Ipv6))?;
        Ok(())
    });
    assert!(r.is_success());
    c
}

#[test]
fn cve_2026_27624_ipv4_mapped_loopback_is_forbidden() {
    let mut h = Harness::new();
    let mut c = dual_allocated(&mut h);
    for peer in ["[::ffff:127.0.0.1]:5000", "[::ffff:7f00:2]:5000", "[::127.0.0.1]:5000", "[64:ff9b::7f00:1]:5000"] {
        assert_eq!(h.create_permission(&mut c, addr(peer)).code(), Some(403), "{peer}");
        assert_eq!(h.channel_bind(&mut c, 0x4000, addr(peer)).code(), Some(403), "{peer}");
    }
}

#[test]
fn cve_2020_26262_unspecified_and_loopback_peers_are_forbidden() {
    let mut h = Harness::new();
    let mut c = dual_allocated(&mut h);
    for peer in ["0.0.0.0:5000", "[::]:5000", "[::1]:5000", "0.1.2.3:5000", "[::ffff:0.0.0.0]:5000"] {
        assert_eq!(h.create_permission(&mut c, addr(peer)).code(), Some(403), "{peer}");
    }
}

#[test]
fn allow_list_permits_loopback_for_a_demo() {
    let mut cfg: CoreConfig = config();
    cfg.peers.allow = vec!["127.0.0.1/32".parse().unwrap()];
    let mut h = Harness::with(cfg);
    let (mut c, relay) = allocated(&mut h);
    assert!(h.create_permission(&mut c, addr("127.0.0.1:34800")).is_success());
    assert!(h.peer_sends(relay, addr("127.0.0.1:34800"), b"hi").is_some());
    assert_eq!(h.create_permission(&mut c, addr("127.0.0.2:34800")).code(), Some(403));
}

#[test]
fn peer_family_mismatch_gets_443() {
    let mut h = Harness::new();
    let (mut c, _) = allocated(&mut h);
    assert_eq!(h.create_permission(&mut c, addr("[2606:4700::1111]:53")).code(), Some(443));
    assert_eq!(h.channel_bind(&mut c, 0x4000, addr("[2606:4700::1111]:53")).code(), Some(443));
}

#[test]
fn create_permission_is_all_or_nothing() {
    let mut h = Harness::new();
    let (mut c, relay) = allocated(&mut h);
    let r = h.call(&mut c, Method::CREATE_PERMISSION, &|e| {
        e.add(&XorPeerAddress(addr(PEER)))?;
        e.add(&XorPeerAddress(addr("192.168.1.1:1")))?;
        Ok(())
    });
    assert_eq!(r.code(), Some(403));
    assert!(h.peer_sends(relay, addr(PEER), b"x").is_none());
    let r = h.call(&mut c, Method::CREATE_PERMISSION, &|_| Ok(()));
    assert_eq!(r.code(), Some(400), "no XOR-PEER-ADDRESS");
}

#[test]
fn too_many_permissions_get_508() {
    let mut cfg = config();
    cfg.allocation.max_permissions = 2;
    let mut h = Harness::with(cfg);
    let (mut c, _) = allocated(&mut h);
    assert!(h.create_permission(&mut c, addr("8.8.8.8:1")).is_success());
    assert!(h.create_permission(&mut c, addr("8.8.4.4:1")).is_success());
    assert!(h.create_permission(&mut c, addr("8.8.8.8:2")).is_success(), "a refresh is not a new entry");
    assert_eq!(h.create_permission(&mut c, addr("1.1.1.1:1")).code(), Some(508));
}

#[test]
fn bandwidth_cap_drops_excess_relayed_bytes() {
    let mut cfg = config();
    cfg.allocation.max_bps = 1000;
    let mut h = Harness::with(cfg);
    let (mut c, relay) = allocated(&mut h);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    let big = [7u8; 600];
    assert!(h.send(&c.tuple, &channel_data(0x4000, &big)).is_some());
    assert!(h.peer_sends(relay, addr(PEER), &big).is_none(), "both directions share the bucket");
    assert_eq!(h.server.metrics().dropped_bandwidth, 1);
    h.advance(1);
    assert!(h.peer_sends(relay, addr(PEER), &big).is_some());
}

#[test]
fn nothing_is_relayed_for_a_client_without_an_allocation() {
    let mut h = Harness::new();
    let c = Client::udp("203.0.113.9:40000", "", "");
    assert!(h.send(&c.tuple, &channel_data(0x4000, b"x")).is_none());
    assert!(h.send(&c.tuple, &send_indication(addr(PEER), b"x", false)).is_none());
    assert!(h.peer_sends(addr("10.0.0.1:50000"), addr(PEER), b"x").is_none());
    assert!(h.transmits.is_empty());
}

#[test]
fn malformed_channel_data_is_dropped() {
    let mut h = Harness::new();
    let (mut c, _) = allocated(&mut h);
    h.channel_bind(&mut c, 0x4000, addr(PEER));
    // Length field larger than the datagram.
    assert!(h.send(&c.tuple, &[0x40, 0x00, 0x00, 0x10, 1, 2]).is_none());
    assert!(h.send(&c.tuple, &[0x40]).is_none());
    assert_eq!(h.server.metrics().malformed_packets, 2);
}
