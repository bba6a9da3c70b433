//! Transaction behaviour seen from the wire (RFC 3261 §17), on the virtual clock.

use super::calls::{ack_for, alice};
use super::*;

#[test]
fn non_invite_server_absorbs_retransmissions_with_the_same_response() {
    let mut sh = Shell::new();
    let mut ua = alice();
    let r = ua.register("");
    sh.recv(ua.flow, &r);
    let first = sh.one();
    sh.recv(ua.flow, &r);
    let again = sh.one();
    assert_eq!(
        first.0.bytes, again.0.bytes,
        "the stored 401, not a new challenge"
    );
    assert_eq!(sh.core.metrics().challenges, 1);
    assert_eq!(sh.core.metrics().retransmissions_absorbed, 1);
    // After Timer J (64*T1) the transaction is gone and the same request is new again.
    sh.advance(Duration::from_secs(32));
    sh.recv(ua.flow, &r);
    assert_ne!(sh.one().0.bytes, first.0.bytes);
}

#[test]
fn invite_retransmission_while_waiting_gets_100_trying_again() {
    let mut sh = Shell::new();
    sh.auto_db = false;
    sh.recv(
        udp("203.0.113.66:5060"),
        "INVITE sip:alice@falcot.com SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKi1\nMax-Forwards: 70\n\
From: <sip:carol@example.org>;tag=1\nTo: <sip:alice@falcot.com>\nCall-ID: i@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
    );
    assert_eq!(sh.one().status(), Some(100));
    assert!(matches!(sh.events.last(), Some(Event::NeedBindings { .. })));
    let text = "INVITE sip:alice@falcot.com SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKi1\nMax-Forwards: 70\n\
From: <sip:carol@example.org>;tag=1\nTo: <sip:alice@falcot.com>\nCall-ID: i@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n";
    sh.recv(udp("203.0.113.66:5060"), text);
    assert_eq!(sh.one().status(), Some(100));
    assert_eq!(
        sh.events
            .iter()
            .filter(|e| matches!(e, Event::NeedBindings { .. }))
            .count(),
        1,
        "not processed twice"
    );
}

#[test]
fn invite_final_response_is_retransmitted_on_timer_g_until_timer_h() {
    let mut sh = Shell::new();
    let mut ua = alice();
    sh.recv(ua.flow, &ua.invite("sip:bob@falcot.com", "g@a", ""));
    assert_eq!(
        sh.take().iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(100), Some(407)]
    );
    let mut at = Vec::new();
    for _ in 0..400 {
        sh.advance(Duration::from_millis(100));
        for s in sh.take() {
            assert_eq!(s.status(), Some(407));
            at.push((sh.now - sh.t0).as_millis());
        }
    }
    assert_eq!(
        at,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(sh.core.transaction_count(), 0, "Timer H ended it");
}

#[test]
fn ack_stops_retransmissions_of_the_final_response() {
    let mut sh = Shell::new();
    let mut ua = alice();
    let inv = ua.invite("sip:bob@falcot.com", "ack@a", "");
    sh.recv(ua.flow, &inv);
    let resp = sh.take().pop().unwrap();
    sh.recv(ua.flow, &ack_for(&resp, "sip:bob@falcot.com"));
    sh.advance(Duration::from_secs(4));
    assert!(sh.take().is_empty());
    // A late INVITE retransmission is absorbed silently in Confirmed (Timer I = T4).
    sh.recv(ua.flow, &inv);
    assert!(sh.take().is_empty());
    sh.advance(Duration::from_secs(40));
    assert!(sh.take().is_empty());
    assert_eq!(sh.core.transaction_count(), 0);
}

#[test]
fn reliable_transports_get_no_retransmissions() {
    let mut sh = Shell::new();
    let mut ua = Ua::new(
        "alice",
        tcp("192.0.2.10:40000", 1),
        "sip:alice@192.0.2.10;transport=tcp",
    );
    sh.recv(ua.flow, &ua.invite("sip:bob@falcot.com", "tcp@a", ""));
    let out = sh.take();
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1].0.destination,
        Destination::Connection(ConnectionId(1), "192.0.2.10:40000".parse().unwrap())
    );
    sh.advance(Duration::from_secs(40));
    assert!(sh.take().is_empty());
}

#[test]
fn rfc2543_ack_without_magic_cookie_matches_its_invite() {
    let mut sh = Shell::new();
    let inv = "INVITE sip:bob@falcot.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=old-style-1\nMax-Forwards: 70\n\
From: <sip:alice@falcot.com>;tag=1\nTo: <sip:bob@falcot.com>\nCall-ID: legacy@a\nCSeq: 5 INVITE\nContent-Length: 0\n\n";
    sh.recv(udp("192.0.2.10:5060"), inv);
    let resp = sh.take().pop().unwrap();
    assert_eq!(resp.status(), Some(407));
    sh.recv(
        udp("192.0.2.10:5060"),
        &ack_for(&resp, "sip:bob@falcot.com"),
    );
    sh.advance(Duration::from_secs(5));
    assert!(
        sh.take().is_empty(),
        "ACK matched by Call-ID, CSeq, From tag, top Via and Request-URI"
    );
}

#[test]
fn oldest_absorbing_transactions_are_dropped_at_the_bound() {
    let mut cfg = config();
    cfg.limits.max_absorbing = 2;
    let mut sh = Shell::with(cfg);
    let mut uas: Vec<Ua> = (1..=3)
        .map(|i| {
            Ua::new(
                &format!("u{i}"),
                udp(&format!("192.0.2.{i}:5060")),
                "sip:x@192.0.2.1",
            )
        })
        .collect();
    let reqs: Vec<String> = uas.iter_mut().map(|u| u.register("")).collect();
    for (u, r) in uas.iter().zip(&reqs) {
        sh.recv(u.flow, r);
    }
    let first = sh.take().remove(0);
    sh.recv(uas[0].flow, &reqs[0]);
    assert_ne!(
        sh.one().0.bytes,
        first.0.bytes,
        "evicted: answered as a new request"
    );
    sh.recv(uas[2].flow, &reqs[2]);
    assert_eq!(
        sh.core.metrics().retransmissions_absorbed,
        1,
        "recent ones are still absorbed"
    );
}

#[test]
fn downstream_final_response_retransmission_is_absorbed_by_the_client_transaction() {
    let (mut sh, mut a) = super::calls::registered();
    let forks = super::calls::call(&mut sh, &mut a, "sip:bob@falcot.com", "cr@a");
    let f = &forks[0];
    let flow = udp(&f.to_addr().unwrap().to_string());
    sh.recv(flow, &answer(f, 200, "OK", Some("ok"), ""));
    let first: Vec<_> = sh
        .take()
        .into_iter()
        .filter(|s| s.status() == Some(200))
        .collect();
    assert_eq!(first.len(), 1);
    // A retransmitted 2xx is forwarded again (RFC 6026 Accepted state), so the caller can ACK it.
    sh.recv(flow, &answer(f, 200, "OK", Some("ok"), ""));
    assert_eq!(
        sh.take()
            .into_iter()
            .filter(|s| s.status() == Some(200))
            .count(),
        1
    );
}
