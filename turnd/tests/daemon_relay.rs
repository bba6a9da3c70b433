//! The real `turnd` binary over UDP and TCP: Binding, the 401 challenge,
//! authenticated allocations, the default peer policy, and relaying to a local
//! UDP echo peer with Send/Data indications and channels.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_support;

use std::net::SocketAddr;

use daemon_support::{add_user, binding, echo_peer, Client, Daemon, Wire, PASSWORD, USER};
use rtc_stun::attr::{EvenPort, Nonce, Realm, RequestedTransport, ReservationToken, XorRelayedAddress};
use rtc_stun::{Class, Method};

const ALLOW_LOOPBACK: &str = "peers: { allow: [127.0.0.1/32] }";

#[test]
fn binding_answers_with_the_mapped_address_over_udp_and_tcp() {
    let d = Daemon::start("");
    let mut udp = Wire::udp(d.addr("udp"));
    let local = udp.local();
    assert_eq!(binding(&mut udp), Some(local));
    let mut tcp = Wire::tcp(d.addr("tcp"));
    let local = tcp.local();
    assert_eq!(binding(&mut tcp), Some(local));
}

#[test]
fn unauthenticated_allocate_is_challenged_with_realm_and_nonce() {
    let d = Daemon::start("");
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    let tid = rtc_stun::TransactionId::new([7; 12]);
    let req = c.encode(Method::ALLOCATE, tid, &|e| e.add(&RequestedTransport::UDP).map(drop), false);
    let p = c.exchange(&req, tid).expect("no answer");
    assert_eq!(p.class(), Class::Error);
    assert_eq!(p.error(), Some(401));
    assert_eq!(p.attr::<Realm<'_>>().unwrap().as_str(), daemon_support::REALM);
    assert!(!p.attr::<Nonce<'_>>().unwrap().as_str().is_empty());
}

#[test]
fn a_user_added_to_the_database_can_allocate_without_a_restart() {
    // Answers (negative ones too) are cached for one second only.
    let d = Daemon::start("auth: { key_cache_ttl_secs: 1 }");
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    let p = c.allocate(false).expect("no answer");
    assert_eq!(p.error(), Some(401), "unknown user must be refused");
    add_user(d.dir.path(), USER, PASSWORD);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let relay = c.allocate_ok();
    assert_eq!(relay.ip(), "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    assert!(relay.port() >= 49152, "{relay}");
}

#[test]
fn loopback_peer_is_refused_by_default_and_allowed_when_configured() {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let d = Daemon::start("");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    c.allocate_ok();
    assert_eq!(c.create_permission(&[peer]), (Class::Error, Some(403)));

    let d = Daemon::start(ALLOW_LOOPBACK);
    add_user(d.dir.path(), USER, PASSWORD);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    c.allocate_ok();
    assert_eq!(c.create_permission(&[peer]), (Class::Success, None));
}

#[test]
fn default_policy_refuses_loopback_private_and_special_peers_of_both_families() {
    // An IPv6 relay too, so that IPv6 peers are judged by policy (403), not family (443).
    let d = Daemon::start("relay: { addresses: [127.0.0.1, \"::1\"] }");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    let p = c.allocate(true).expect("no answer");
    assert_eq!(p.class(), Class::Success, "{:?}", p.error());
    let relays = p.msg().attributes().filter(|a| a.attr_type == rtc_stun::AttrType::XOR_RELAYED_ADDRESS).count();
    assert_eq!(relays, 2, "dual-stack allocation expected");
    assert!(p.attr::<XorRelayedAddress>().is_some());
    for ip in [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "::",
        "10.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "224.0.0.1",
    ] {
        let peer = SocketAddr::new(ip.parse().unwrap(), 3478);
        assert_eq!(c.create_permission(&[peer]), (Class::Error, Some(403)), "peer {ip}");
    }
}

#[test]
fn send_indications_reach_the_peer_and_its_answer_comes_back_as_data() {
    let peer = echo_peer();
    let d = Daemon::start(ALLOW_LOOPBACK);
    add_user(d.dir.path(), USER, PASSWORD);
    for wire in [Wire::udp(d.addr("udp")), Wire::tcp(d.addr("tcp"))] {
        let mut c = Client::new(wire, USER, PASSWORD);
        c.allocate_ok();
        assert_eq!(c.create_permission(&[peer]), (Class::Success, None));
        for size in [1usize, 3, 100, 1200] {
            let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
            c.send_indication(peer, &data);
            assert_eq!(c.expect_data_indication(), (peer, data));
        }
    }
}

#[test]
fn channel_data_is_relayed_both_ways() {
    let peer = echo_peer();
    let d = Daemon::start(ALLOW_LOOPBACK);
    add_user(d.dir.path(), USER, PASSWORD);
    for wire in [Wire::udp(d.addr("udp")), Wire::tcp(d.addr("tcp"))] {
        let mut c = Client::new(wire, USER, PASSWORD);
        c.allocate_ok();
        assert_eq!(c.channel_bind(0x4001, peer), (Class::Success, None));
        for size in [1usize, 5, 64, 1000] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
            c.send_channel_data(0x4001, &data);
            assert_eq!(c.expect_channel_data(), (0x4001, data));
        }
    }
}

#[test]
fn peer_datagrams_are_relayed_to_the_client_from_the_advertised_relay_address() {
    let d = Daemon::start(ALLOW_LOOPBACK);
    add_user(d.dir.path(), USER, PASSWORD);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    let relay = c.allocate_ok();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    assert_eq!(c.create_permission(&[peer_addr]), (Class::Success, None));
    // A burst, so that the server reads several datagrams in one batch.
    for i in 0..20u8 {
        peer.send_to(&[i; 300], relay).unwrap();
    }
    for i in 0..20u8 {
        assert_eq!(c.expect_data_indication(), (peer_addr, vec![i; 300]));
    }
    // Without a permission, nothing comes through.
    let stranger = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger.send_to(b"spam", relay).unwrap();
    assert!(c.next_packet(std::time::Duration::from_millis(500)).is_none());
}

#[test]
fn relayed_address_is_advertised_through_the_external_mapping() {
    let d = Daemon::start("relay: { external: [ { private: 127.0.0.1, public: 203.0.113.5 } ] }");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    let relay = c.allocate_ok();
    assert_eq!(relay.ip(), "203.0.113.5".parse::<std::net::IpAddr>().unwrap());
    assert!(relay.port() >= 49152);
}

#[test]
fn even_port_reserves_the_next_port_for_a_later_allocation_that_relays() {
    let peer = echo_peer();
    let d = Daemon::start(&format!("{ALLOW_LOOPBACK}\nrelay: {{ port_min: 50000, port_max: 50099 }}"));
    add_user(d.dir.path(), USER, PASSWORD);
    // Several clients, so that the reservation is likely claimed on the other worker too.
    for _ in 0..3 {
        let mut first = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
        let p = first
            .request(Method::ALLOCATE, &|e| {
                e.add(&RequestedTransport::UDP)?;
                e.add(&EvenPort { reserve: true }).map(drop)
            })
            .expect("no answer");
        assert_eq!(p.class(), Class::Success, "{:?}", p.error());
        let relay = p.attr::<XorRelayedAddress>().unwrap().0;
        assert!(relay.port().is_multiple_of(2) && (50000..50099).contains(&relay.port()), "{relay}");
        let token = p.attr::<ReservationToken>().expect("no RESERVATION-TOKEN").0;

        let mut second = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
        let p = second
            .request(Method::ALLOCATE, &|e| {
                e.add(&RequestedTransport::UDP)?;
                e.add(&ReservationToken(token)).map(drop)
            })
            .expect("no answer");
        assert_eq!(p.class(), Class::Success, "{:?}", p.error());
        let next = p.attr::<XorRelayedAddress>().unwrap().0;
        assert_eq!(next.port(), relay.port() + 1);
        assert_eq!(second.create_permission(&[peer]), (Class::Success, None));
        second.send_indication(peer, b"odd port");
        assert_eq!(second.expect_data_indication(), (peer, b"odd port".to_vec()));
    }
}
