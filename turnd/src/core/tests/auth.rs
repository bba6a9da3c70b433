//! Long-term credentials, nonces, REST credentials, throttling and key lookups.

use std::net::IpAddr;

use rtc_stun::attr::{
    AlgorithmId, Nonce, PasswordAlgorithms, Realm, RequestedTransport, Userhash, XorRelayedAddress,
};
use rtc_stun::{Class, Method};

use super::harness::{config, Client, Harness, Mi, REALM, UNIX_T0};
use super::userhash;
use crate::core::config::{PasswordAlgorithm, RestConfig};
use crate::core::credentials::rest_password;
use crate::core::{Event, KeyAnswer, KeyQuery, UserKeys};

fn udp_allocate(e: &mut rtc_stun::MessageEncoder<'_>) -> Result<(), rtc_stun::Error> {
    e.add(&RequestedTransport::UDP).map(|_| ())
}

#[test]
fn unauthenticated_allocate_gets_401_with_realm_and_nonce() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.class(), Class::Error);
    assert_eq!(r.code(), Some(401));
    assert_eq!(r.attr::<Realm>().unwrap().as_str(), REALM);
    let nonce = r.attr::<Nonce>().unwrap();
    assert!(nonce.as_str().starts_with("obMatJos2AAAD"), "nonce cookie with both security features");
    let algs: Vec<u16> = r.attr::<PasswordAlgorithms>().unwrap().iter().map(|a| a.algorithm.0).collect();
    assert_eq!(algs, vec![AlgorithmId::SHA256.0, AlgorithmId::MD5.0]);
    assert!(!r.msg().has_integrity(), "a 401 challenge is not signed");
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn correct_credentials_allocate_and_the_response_is_signed() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.allocate(&mut c);
    let key = UserKeys::derive("alice", REALM, "wonderland").md5.unwrap();
    r.msg().verify_integrity(&key).unwrap();
    r.msg().verify_fingerprint().unwrap();
    assert!(r.attr::<XorRelayedAddress>().is_some());
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn stale_nonce_gets_438_with_fresh_nonce() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    h.allocate(&mut c);
    let old = c.nonce.clone().unwrap();
    h.advance(601);
    // The allocation is gone too (600 s), but first the nonce is checked.
    let r = h.call_once(&mut c, Method::REFRESH, &|_| Ok(()));
    assert_eq!(r.code(), Some(438));
    let fresh = r.attr::<Nonce>().unwrap().as_str().to_owned();
    assert_ne!(fresh, old);
    assert_eq!(r.attr::<Realm>().unwrap().as_str(), REALM);
    assert!(r.attr::<PasswordAlgorithms>().is_some());
    // With the fresh nonce the client is accepted again.
    c.nonce = Some(fresh);
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp_allocate);
    assert!(r.is_success());
}

#[test]
fn nonce_is_still_valid_just_before_its_lifetime() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    h.allocate(&mut c);
    h.advance(599);
    let r = h.call_once(&mut c, Method::REFRESH, &|_| Ok(()));
    assert!(r.is_success());
}

#[test]
fn nonce_from_another_client_ip_gets_438() {
    let mut h = Harness::new();
    let mut a = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    h.allocate(&mut a);
    let mut thief = Client::udp("203.0.113.99:40000", "alice", "wonderland");
    thief.realm = a.realm.clone();
    thief.nonce = a.nonce.clone();
    let r = h.call_once(&mut thief, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(438));
}

#[test]
fn wrong_password_gets_401_and_unknown_user_too() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "not-her-password");
    let r = h.call(&mut c, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(401));
    assert!(r.attr::<Nonce>().is_some() && r.attr::<Realm>().is_some());
    let mut u = Client::udp("203.0.113.8:40000", "mallory", "x");
    let r = h.call(&mut u, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(401));
    assert_eq!(h.server.metrics().auth_failures, 2);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn wrong_realm_gets_401() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp_allocate);
    c.nonce = r.attr::<Nonce>().map(|n| n.as_str().to_owned());
    c.realm = Some("other.example".to_owned());
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(401));
    assert_eq!(r.attr::<Realm>().unwrap().as_str(), REALM);
}

#[test]
fn integrity_without_username_realm_or_nonce_gets_400() {
    let mut h = Harness::new();
    let c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let tid = rtc_stun::TransactionId::new([3; 12]);
    let mut buf = Vec::new();
    let mut enc = rtc_stun::MessageEncoder::new(
        &mut buf,
        rtc_stun::MessageType::new(Method::ALLOCATE, Class::Request),
        tid,
    );
    enc.add(&RequestedTransport::UDP).unwrap();
    enc.integrity(b"0123456789abcdef").unwrap();
    let _ = enc.finish();
    h.send(&c.tuple, &buf);
    let r = h.take_response(tid).unwrap();
    assert_eq!(r.code(), Some(400));
    assert!(r.attr::<Nonce>().is_none());
}

#[test]
fn bad_passwords_are_throttled_per_source() {
    let mut cfg = config();
    cfg.auth.failure_limit = rtc_daemon::ratelimit::RateLimit::new(3, 0.01);
    let mut h = Harness::with(cfg);
    let mut bad = Client::udp("203.0.113.7:40000", "alice", "guess");
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    for _ in 0..3 {
        let r = h.call(&mut bad, Method::ALLOCATE, &udp_allocate);
        assert_eq!(r.code(), Some(401));
    }
    assert!(h.server.is_throttled(ip, h.now));
    // Now even the right password from that address is dropped unanswered...
    let mut good_same_ip = Client::udp("203.0.113.7:40001", "alice", "wonderland");
    good_same_ip.realm = bad.realm.clone();
    good_same_ip.nonce = bad.nonce.clone();
    assert!(h.try_call_once(&mut good_same_ip, Method::ALLOCATE, &udp_allocate).is_none());
    assert!(h.server.metrics().auth_throttled >= 1);
    let lookups = h.lookups();
    assert!(h.try_call_once(&mut bad, Method::ALLOCATE, &udp_allocate).is_none());
    assert_eq!(h.lookups(), lookups, "throttled requests cost no key lookup");
    // ...while another source is unaffected.
    let mut other = Client::udp("203.0.113.8:40000", "alice", "wonderland");
    assert!(h.call(&mut other, Method::ALLOCATE, &udp_allocate).is_success());
    // The bucket refills with time (0.01/s: 100 s per token).
    h.advance(100);
    assert!(!h.server.is_throttled(ip, h.now));
    let r = h.call(&mut good_same_ip, Method::ALLOCATE, &udp_allocate);
    assert!(r.is_success(), "{:?}", r.code());
}

#[test]
fn failures_on_one_worker_throttle_the_source_on_every_worker() {
    let mut cfg = config();
    cfg.auth.failure_limit = rtc_daemon::ratelimit::RateLimit::new(4, 0.01);
    let mut w1 = Harness::with(cfg.clone());
    let mut w2 = Harness::worker(cfg, std::sync::Arc::clone(&w1.shared), 4, w1.now);
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    // A clean server takes no lock on the check.
    assert_eq!(w1.shared.throttle_tracked_sources(), 0);
    // Two guesses on each worker, from different source ports: four in all.
    let mut bad1 = Client::udp("203.0.113.7:40000", "alice", "guess");
    let mut bad2 = Client::udp("203.0.113.7:40001", "alice", "guess");
    for _ in 0..2 {
        assert_eq!(w1.call(&mut bad1, Method::ALLOCATE, &udp_allocate).code(), Some(401));
        assert_eq!(w2.call(&mut bad2, Method::ALLOCATE, &udp_allocate).code(), Some(401));
    }
    assert!(w1.server.is_throttled(ip, w1.now) && w2.server.is_throttled(ip, w2.now));
    // The right password from that IP, on a third port landing on worker 2,
    // is dropped unanswered and costs no lookup there.
    let mut good = Client::udp("203.0.113.7:40002", "alice", "wonderland");
    good.realm = bad2.realm.clone();
    good.nonce = bad2.nonce.clone();
    let lookups = w2.lookups();
    assert!(w2.try_call_once(&mut good, Method::ALLOCATE, &udp_allocate).is_none());
    assert_eq!(w2.lookups(), lookups);
    assert_eq!(w2.server.metrics().auth_throttled, 1);
    // Other sources are not affected on either worker.
    let mut other = Client::udp("203.0.113.8:40000", "alice", "wonderland");
    assert!(w2.call(&mut other, Method::ALLOCATE, &udp_allocate).is_success());
}

#[test]
fn message_integrity_sha256_is_accepted_and_the_response_uses_it() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    c.mi = Mi::Sha256;
    let r = h.allocate(&mut c);
    assert!(r.msg().has_integrity_sha256());
    assert!(!r.msg().has_integrity());
    let key = UserKeys::derive("alice", REALM, "wonderland").md5.unwrap();
    r.msg().verify_integrity_sha256(&key).unwrap();
}

#[test]
fn password_algorithm_sha256_uses_the_sha256_key() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    c.sha256_password = true;
    c.mi = Mi::Sha256;
    let r = h.allocate(&mut c);
    let key = UserKeys::derive("alice", REALM, "wonderland").sha256.unwrap();
    r.msg().verify_integrity_sha256(&key).unwrap();
}

#[test]
fn stripped_password_algorithms_is_a_bid_down_and_gets_400() {
    let mut cfg = config();
    cfg.auth.password_algorithms = vec![PasswordAlgorithm::Sha256];
    let mut h = Harness::with(cfg);
    // The client echoes a list that differs from what the server offered.
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    c.sha256_password = true;
    let r = h.call(&mut c, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(400));
}

/// Learn realm and nonce from a 401 challenge.
fn learn(h: &mut Harness, c: &mut Client) {
    let r = h.call_once(c, Method::ALLOCATE, &udp_allocate);
    assert_eq!(r.code(), Some(401));
    c.realm = r.attr::<Realm>().map(|r| r.as_str().to_owned());
    c.nonce = r.attr::<Nonce>().map(|n| n.as_str().to_owned());
}

#[test]
fn sha256_password_fails_when_only_an_md5_key_is_stored() {
    let mut h = Harness::new();
    h.auto_keys = false;
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    c.sha256_password = true;
    learn(&mut h, &mut c);
    let tid = c.tid();
    let req = c.build(Method::ALLOCATE, tid, &udp_allocate);
    h.send(&c.tuple, &req);
    let Some(Event::NeedKey { lookup, .. }) = h.take_events(|e| matches!(e, Event::NeedKey { .. })).pop() else {
        panic!("no lookup")
    };
    let md5_only = UserKeys { md5: UserKeys::derive("alice", REALM, "wonderland").md5, sha256: None };
    h.server.handle_key_result(lookup, KeyAnswer::User { username: "alice".to_owned(), keys: md5_only }, h.now);
    h.pump();
    assert_eq!(h.take_response(tid).unwrap().code(), Some(401));
}

#[test]
fn userhash_is_resolved_by_the_shell() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    // Learn realm and nonce.
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp_allocate);
    let realm = r.attr::<Realm>().unwrap().as_str().to_owned();
    let nonce = r.attr::<Nonce>().unwrap().as_str().to_owned();
    // Build a request with USERHASH instead of USERNAME.
    let tid = c.tid();
    let mut buf = Vec::new();
    let mut enc =
        rtc_stun::MessageEncoder::new(&mut buf, rtc_stun::MessageType::new(Method::ALLOCATE, Class::Request), tid);
    enc.add(&RequestedTransport::UDP).unwrap();
    enc.add(&Userhash(userhash("alice", &realm))).unwrap();
    enc.add(&Realm::new(&realm).unwrap()).unwrap();
    enc.add(&Nonce::new(&nonce).unwrap()).unwrap();
    enc.integrity(&UserKeys::derive("alice", &realm, "wonderland").md5.unwrap()).unwrap();
    let _ = enc.finish();
    h.send(&c.tuple, &buf);
    let r = h.take_response(tid).unwrap();
    assert!(r.is_success(), "{:?}", r.code());
    assert!(h.events.iter().any(|e| matches!(e, Event::NeedKey { query: KeyQuery::Userhash(_), .. })));
}

#[test]
fn concurrent_requests_for_one_user_cost_one_lookup_and_are_parked() {
    let mut h = Harness::new();
    h.auto_keys = false;
    let mut a = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let mut b = Client::udp("203.0.113.7:40001", "alice", "wonderland");
    learn(&mut h, &mut a);
    b.realm = a.realm.clone();
    b.nonce = a.nonce.clone();
    let (ta, tb) = (a.tid(), b.tid());
    let req_a = a.build(Method::ALLOCATE, ta, &udp_allocate);
    let req_b = b.build(Method::ALLOCATE, tb, &udp_allocate);
    h.send(&a.tuple, &req_a);
    h.send(&a.tuple, &req_a); // retransmission while parked: absorbed
    h.send(&b.tuple, &req_b);
    let needs = h.take_events(|e| matches!(e, Event::NeedKey { .. }));
    assert_eq!(needs.len(), 1, "one lookup for alice");
    let Event::NeedKey { lookup, realm, query } = &needs[0] else { unreachable!() };
    assert_eq!(realm, REALM);
    assert_eq!(query, &KeyQuery::Username("alice".to_owned()));
    assert!(h.take_response(ta).is_none() && h.take_response(tb).is_none(), "parked until the key arrives");
    let answer = h.key_answer(realm, query);
    h.server.handle_key_result(*lookup, answer, h.now);
    h.pump();
    assert!(h.take_response(ta).unwrap().is_success());
    assert!(h.take_response(tb).unwrap().is_success());
    assert!(h.take_response(ta).is_none(), "the retransmission got no second answer");
    assert_eq!(h.server.allocation_count(), 2);
}

#[test]
fn cached_keys_answer_without_lookup_until_ttl_or_forget() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    h.allocate(&mut c);
    assert_eq!(h.lookups(), 1);
    h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    assert_eq!(h.lookups(), 1, "served from the cache");
    h.server.forget_keys();
    h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    assert_eq!(h.lookups(), 2);
    h.advance(61);
    h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    assert_eq!(h.lookups(), 3, "cache TTL is 60 s");
}

#[test]
fn primed_key_needs_no_lookup() {
    let mut h = Harness::new();
    let answer = h.key_answer(REALM, &KeyQuery::Username("alice".to_owned()));
    h.server.prime_key(REALM, KeyQuery::Username("alice".to_owned()), answer, h.now);
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    h.allocate(&mut c);
    assert_eq!(h.lookups(), 0);
}

#[test]
fn new_user_works_after_the_negative_cache_expires() {
    let mut h = Harness::new();
    let mut c = Client::udp("203.0.113.7:40000", "carol", "secret");
    assert_eq!(h.call(&mut c, Method::ALLOCATE, &udp_allocate).code(), Some(401));
    h.users.insert("carol".to_owned(), "secret".to_owned());
    assert_eq!(h.call(&mut c, Method::ALLOCATE, &udp_allocate).code(), Some(401), "still cached as unknown");
    h.advance(61);
    assert!(h.call(&mut c, Method::ALLOCATE, &udp_allocate).is_success());
}

#[test]
fn failed_lookup_gets_500_and_is_not_cached() {
    let mut h = Harness::new();
    h.auto_keys = false;
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    learn(&mut h, &mut c);
    let tid = c.tid();
    let req = c.build(Method::ALLOCATE, tid, &udp_allocate);
    h.send(&c.tuple, &req);
    let Some(Event::NeedKey { lookup, .. }) = h.take_events(|e| matches!(e, Event::NeedKey { .. })).pop() else {
        panic!("no lookup")
    };
    h.server.handle_key_result(lookup, KeyAnswer::Failed, h.now);
    h.pump();
    assert_eq!(h.take_response(tid).unwrap().code(), Some(500));
    h.auto_keys = true;
    assert!(h.call(&mut c, Method::ALLOCATE, &udp_allocate).is_success());
}

#[test]
fn unanswered_lookup_is_dropped_after_the_timeout() {
    let mut h = Harness::new();
    h.auto_keys = false;
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    learn(&mut h, &mut c);
    let tid = c.tid();
    let req = c.build(Method::ALLOCATE, tid, &udp_allocate);
    h.send(&c.tuple, &req);
    h.send(&c.tuple, &req);
    assert_eq!(h.lookups(), 1);
    h.advance(5);
    // The client retransmits after the timeout: a new lookup is asked for.
    h.send(&c.tuple, &req);
    assert_eq!(h.lookups(), 2);
    assert!(h.take_response(tid).is_none());
}

fn rest_config(db: bool) -> crate::core::CoreConfig {
    let mut cfg = config();
    cfg.auth.rest = Some(RestConfig {
        static_secrets: if db { Vec::new() } else { vec!["north".to_owned()] },
        database_secrets: db,
        separator: ':',
    });
    cfg
}

#[test]
fn rest_credentials_accepted_until_expiry() {
    let mut h = Harness::with(rest_config(false));
    let name = format!("{}:alice", UNIX_T0 + 120);
    let password = rest_password(b"north", &name).unwrap();
    let mut c = Client::udp("203.0.113.7:40000", &name, &password);
    h.allocate(&mut c);
    assert_eq!(h.lookups(), 0, "static secrets need no lookup");
    h.advance(119);
    assert!(h.call(&mut c, Method::REFRESH, &|_| Ok(())).is_success());
    h.advance(2);
    let r = h.call(&mut c, Method::REFRESH, &|_| Ok(()));
    assert_eq!(r.code(), Some(401), "expired REST credential");
    // A password signed with another secret never works.
    let mut forged = Client::udp("203.0.113.8:40000", &name, &rest_password(b"south", &name).unwrap());
    assert_eq!(h.call(&mut forged, Method::ALLOCATE, &udp_allocate).code(), Some(401));
}

#[test]
fn rest_credentials_with_database_secret() {
    let mut h = Harness::with(rest_config(true));
    h.db_secrets = vec!["old".to_owned(), "new".to_owned()];
    let name = format!("{}:bob", UNIX_T0 + 3600);
    let password = rest_password(b"new", &name).unwrap();
    let mut c = Client::udp("203.0.113.7:40000", &name, &password);
    h.allocate(&mut c);
    assert!(h.events.iter().any(|e| matches!(e, Event::NeedKey { query: KeyQuery::RestSecrets, .. })));
    // Quota identity is the user part.
    let user = crate::core::UserId { realm: REALM.into(), name: "bob".into() };
    assert_eq!(h.shared.user_allocations(&user), 1);
}

#[test]
fn anonymous_mode_allocates_without_credentials() {
    let mut cfg = config();
    cfg.auth.anonymous = true;
    let mut h = Harness::with(cfg);
    let mut c = Client::udp("203.0.113.7:40000", "", "");
    let r = h.call_once(&mut c, Method::ALLOCATE, &udp_allocate);
    assert!(r.is_success());
    assert!(!r.msg().has_integrity());
}

#[test]
fn long_term_disabled_refuses_database_users() {
    let mut cfg = rest_config(false);
    cfg.auth.long_term = false;
    let mut h = Harness::with(cfg);
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    assert_eq!(h.call(&mut c, Method::ALLOCATE, &udp_allocate).code(), Some(401));
    assert_eq!(h.lookups(), 0);
}
