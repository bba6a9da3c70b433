//! RFC 6062 TCP relaying: Connect, ConnectionAttempt, ConnectionBind.

use std::net::SocketAddr;

use rtc_stun::attr::{ConnectionId as ConnectionIdAttr, RequestedTransport, XorPeerAddress};
use rtc_stun::{Class, Message, Method};

use super::harness::{addr, relay_local, Client, Harness};
use crate::core::{ConnectionId, Event, RelayProtocol, Transport, CONNECTION_TIMEOUT};

const PEER: &str = "8.8.8.8:80";

fn tcp_allocated(h: &mut Harness) -> (Client, SocketAddr) {
    let mut c = Client::on(Transport::Tcp, "203.0.113.7:40000", "alice", "wonderland");
    let r = h.call(&mut c, Method::ALLOCATE, &|e| e.add(&RequestedTransport::TCP).map(|_| ()));
    assert!(r.is_success(), "{:?}", r.code());
    assert!(h.events.iter().any(|e| matches!(e, Event::BindRelay { protocol: RelayProtocol::Tcp, .. })));
    let relay = relay_local(h, &r);
    (c, relay)
}

/// Send Connect; returns the transaction id and the ConnectPeer event's id.
fn connect(h: &mut Harness, c: &mut Client, peer: SocketAddr) -> (rtc_stun::TransactionId, Option<ConnectionId>) {
    let tid = c.tid();
    let req = c.build(Method::CONNECT, tid, &move |e| e.add(&XorPeerAddress(peer)).map(|_| ()));
    h.send(&c.tuple.clone(), &req);
    let ev = h.take_events(|e| matches!(e, Event::ConnectPeer { .. })).pop();
    let id = match ev {
        Some(Event::ConnectPeer { connection, peer: p, .. }) => {
            assert_eq!(p, peer);
            Some(connection)
        }
        _ => None,
    };
    (tid, id)
}

/// A data connection from the same client host sending ConnectionBind.
fn data_connection(control: &Client, port: u16) -> Client {
    let mut d = control.clone();
    d.tuple.client.set_port(port);
    d
}

fn connection_bind(h: &mut Harness, d: &mut Client, id: u32) -> super::harness::Resp {
    h.call(d, Method::CONNECTION_BIND, &move |e| e.add(&ConnectionIdAttr(id)).map(|_| ()))
}

#[test]
fn tcp_relay_connect_then_connection_bind_splices() {
    let mut h = Harness::new();
    let (mut c, _) = tcp_allocated(&mut h);
    let (tid, id) = connect(&mut h, &mut c, addr(PEER));
    let id = id.unwrap();
    assert_eq!(id.worker(), 3, "the id names the owning worker");
    assert!(h.take_response(tid).is_none(), "answered once the shell has connected");
    h.server.handle_peer_connected(id, true, h.now);
    h.pump();
    let r = h.take_response(tid).unwrap();
    assert!(r.is_success());
    assert_eq!(r.attr::<ConnectionIdAttr>().unwrap().0, id.0);
    let mut d = data_connection(&c, 40001);
    let r = connection_bind(&mut h, &mut d, id.0);
    assert!(r.is_success(), "{:?}", r.code());
    assert_eq!(r.transmit.destination, d.tuple.client);
    let splices = h.take_events(|e| matches!(e, Event::SpliceConnection { .. }));
    assert_eq!(splices, vec![Event::SpliceConnection { client: d.tuple, connection: id }]);
    // Bound connections survive the 30 s bind timer.
    h.advance(31);
    assert!(h.take_events(|e| matches!(e, Event::ClosePeerConnection { .. })).is_empty());
    // A second Connect to the same peer is refused while the connection lives.
    let (tid, none) = connect(&mut h, &mut c, addr(PEER));
    assert!(none.is_none());
    assert_eq!(h.take_response(tid).unwrap().code(), Some(446));
    // Once the shell reports it closed, the peer may be connected again.
    h.server.handle_peer_connection_closed(id, h.now);
    let (_, again) = connect(&mut h, &mut c, addr(PEER));
    assert!(again.is_some());
}

#[test]
fn connect_failure_gets_447() {
    let mut h = Harness::new();
    let (mut c, _) = tcp_allocated(&mut h);
    let (tid, id) = connect(&mut h, &mut c, addr(PEER));
    h.server.handle_peer_connected(id.unwrap(), false, h.now);
    h.pump();
    assert_eq!(h.take_response(tid).unwrap().code(), Some(447));
}

#[test]
fn connect_without_answer_gets_447_after_30s() {
    let mut h = Harness::new();
    let (mut c, _) = tcp_allocated(&mut h);
    let (tid, id) = connect(&mut h, &mut c, addr(PEER));
    h.advance(CONNECTION_TIMEOUT.as_secs() - 1);
    assert!(h.take_response(tid).is_none());
    h.advance(1);
    assert_eq!(h.take_response(tid).unwrap().code(), Some(447));
    let closes = h.take_events(|e| matches!(e, Event::ClosePeerConnection { .. }));
    assert_eq!(closes, vec![Event::ClosePeerConnection { connection: id.unwrap() }]);
    // A late "connected" is told to close.
    h.server.handle_peer_connected(id.unwrap(), true, h.now);
    h.pump();
    assert_eq!(h.take_events(|e| matches!(e, Event::ClosePeerConnection { .. })).len(), 1);
}

#[test]
fn connect_on_a_udp_allocation_gets_400_and_forbidden_peers_403() {
    let mut h = Harness::new();
    let mut u = Client::on(Transport::Tcp, "203.0.113.8:40000", "bob", "builder");
    h.allocate(&mut u);
    let (tid, id) = connect(&mut h, &mut u, addr(PEER));
    assert!(id.is_none());
    assert_eq!(h.take_response(tid).unwrap().code(), Some(400));
    let (mut c, _) = tcp_allocated(&mut h);
    let (tid, id) = connect(&mut h, &mut c, addr("127.0.0.1:22"));
    assert!(id.is_none());
    assert_eq!(h.take_response(tid).unwrap().code(), Some(403));
    let r = h.channel_bind(&mut c, 0x4000, addr(PEER));
    assert_eq!(r.code(), Some(400), "no channels on TCP allocations");
}

#[test]
fn incoming_peer_connection_sends_connection_attempt_when_permitted() {
    let mut h = Harness::new();
    let (mut c, relay) = tcp_allocated(&mut h);
    assert!(h.server.handle_peer_connection_incoming(relay, addr("8.8.8.8:3333"), h.now).is_none(), "no permission yet");
    assert!(h.create_permission(&mut c, addr("8.8.8.8:1")).is_success());
    let id = h.server.handle_peer_connection_incoming(relay, addr("8.8.8.8:3333"), h.now).unwrap();
    h.pump();
    let t = h.transmits.pop().unwrap();
    assert_eq!((t.destination, t.transport), (c.tuple.client, Transport::Tcp));
    let m = Message::parse(&t.contents).unwrap();
    assert_eq!((m.method(), m.class()), (Method::CONNECTION_ATTEMPT, Class::Indication));
    assert_eq!(m.attr::<XorPeerAddress>().unwrap().unwrap().0, addr("8.8.8.8:3333"));
    assert_eq!(m.attr::<ConnectionIdAttr>().unwrap().unwrap().0, id.0);
    let mut d = data_connection(&c, 40002);
    assert!(connection_bind(&mut h, &mut d, id.0).is_success());
}

#[test]
fn unbound_connection_is_closed_after_30s() {
    let mut h = Harness::new();
    let (mut c, _) = tcp_allocated(&mut h);
    let (_, id) = connect(&mut h, &mut c, addr(PEER));
    let id = id.unwrap();
    h.server.handle_peer_connected(id, true, h.now);
    h.pump();
    h.advance(30);
    let closes = h.take_events(|e| matches!(e, Event::ClosePeerConnection { .. }));
    assert_eq!(closes, vec![Event::ClosePeerConnection { connection: id }]);
    let mut d = data_connection(&c, 40001);
    assert_eq!(connection_bind(&mut h, &mut d, id.0).code(), Some(400));
}

#[test]
fn connection_bind_by_another_user_or_on_the_wrong_connection_gets_400() {
    let mut h = Harness::new();
    let (mut c, _) = tcp_allocated(&mut h);
    let (_, id) = connect(&mut h, &mut c, addr(PEER));
    let id = id.unwrap();
    h.server.handle_peer_connected(id, true, h.now);
    h.pump();
    let mut bob = Client::on(Transport::Tcp, "203.0.113.7:40005", "bob", "builder");
    assert_eq!(connection_bind(&mut h, &mut bob, id.0).code(), Some(400));
    let mut over_udp = Client::udp("203.0.113.7:40006", "alice", "wonderland");
    assert_eq!(connection_bind(&mut h, &mut over_udp, id.0).code(), Some(400));
    assert_eq!(connection_bind(&mut h, &mut c, id.0).code(), Some(400), "not on the control connection");
    assert_eq!(connection_bind(&mut h, &mut data_connection(&c, 40007), 0x0300_0001).code(), Some(400));
    // The rightful owner still can.
    assert!(connection_bind(&mut h, &mut data_connection(&c, 40008), id.0).is_success());
}

#[test]
fn deleting_a_tcp_allocation_closes_its_peer_connections() {
    let mut h = Harness::new();
    let (mut c, relay) = tcp_allocated(&mut h);
    let (_, id) = connect(&mut h, &mut c, addr(PEER));
    h.server.handle_client_closed(c.tuple, h.now);
    h.pump();
    let ends = h.take_events(|e| matches!(e, Event::ClosePeerConnection { .. } | Event::RelayReleased { .. }));
    assert!(ends.contains(&Event::ClosePeerConnection { connection: id.unwrap() }));
    assert!(ends.contains(&Event::RelayReleased { relay, protocol: RelayProtocol::Tcp }));
}

/// A second worker core sharing the harness's [`crate::core::Shared`].
fn second_worker(h: &Harness) -> crate::core::Server {
    let mut s = crate::core::Server::new(
        std::sync::Arc::new(super::harness::config()),
        std::sync::Arc::clone(&h.shared),
        4,
        [9; 32],
        h.now,
        std::time::Duration::from_secs(super::harness::UNIX_T0),
    );
    let q = crate::core::KeyQuery::Username("alice".to_owned());
    s.prime_key(super::harness::REALM, q.clone(), h.key_answer(super::harness::REALM, &q), h.now);
    s
}

fn drain(s: &mut crate::core::Server) -> (Vec<crate::core::Transmit>, Vec<Event>) {
    let (mut t, mut e) = (Vec::new(), Vec::new());
    loop {
        match s.poll_output() {
            crate::core::Output::Transmit(x) => t.push(x),
            crate::core::Output::Event(x) => e.push(x),
            crate::core::Output::Timeout(_) => return (t, e),
        }
    }
}

#[test]
fn connection_bind_landing_on_another_worker_is_honoured() {
    let mut h = Harness::new();
    let (mut c, _) = tcp_allocated(&mut h);
    let (_, id) = connect(&mut h, &mut c, addr(PEER));
    let id = id.unwrap();
    h.server.handle_peer_connected(id, true, h.now);
    h.pump();
    let mut other = second_worker(&h);
    let mut d = data_connection(&c, 40001);
    let tid = d.tid();
    let req = d.build(Method::CONNECTION_BIND, tid, &move |e| e.add(&ConnectionIdAttr(id.0)).map(|_| ()));
    assert!(other.handle_client_packet(d.tuple, &req, h.now).is_none());
    let (transmits, events) = drain(&mut other);
    assert_eq!(transmits.len(), 1);
    assert_eq!(Message::parse(&transmits[0].contents).unwrap().class(), Class::Success);
    assert_eq!(events, vec![Event::SpliceConnection { client: d.tuple, connection: id }]);
    // The owning worker learns at its 30 s timer that the connection was claimed.
    h.advance(30);
    assert!(h.take_events(|e| matches!(e, Event::ClosePeerConnection { .. })).is_empty());
}

#[test]
fn reservation_token_is_usable_on_another_worker() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.call(&mut c, Method::ALLOCATE, &|e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&rtc_stun::attr::EvenPort { reserve: true })?;
        Ok(())
    });
    let token = r.attr::<rtc_stun::attr::ReservationToken>().unwrap();
    let mut other = second_worker(&h);
    let mut c2 = Client::udp("203.0.113.7:40002", "alice", "wonderland");
    c2.realm = c.realm.clone();
    c2.nonce = c.nonce.clone();
    let tid = c2.tid();
    let req = c2.build(Method::ALLOCATE, tid, &move |e| {
        e.add(&RequestedTransport::UDP)?;
        e.add(&token)?;
        Ok(())
    });
    other.handle_client_packet(c2.tuple, &req, h.now);
    let (transmits, events) = drain(&mut other);
    assert_eq!(Message::parse(&transmits[0].contents).unwrap().class(), Class::Success);
    assert!(events.is_empty(), "no relay to bind: the reserved one is used");
    assert_eq!(h.shared.allocations(), 2);
    // The owner's reservation timer finds it claimed and releases nothing.
    h.take_events(|_| true);
    h.advance(30);
    assert!(h.take_events(|e| matches!(e, Event::RelayReleased { .. })).is_empty());
}
