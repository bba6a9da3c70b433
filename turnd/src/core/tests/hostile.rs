//! Hostile input: arbitrary bytes from clients and peers never panic the core,
//! and corrupting a valid request never gets it accepted.

use proptest::prelude::*;
use rtc_stun::attr::XorPeerAddress;
use rtc_stun::Method;

use super::harness::{addr, relay_local, Client, Harness};

fn ready() -> (Harness, Client, std::net::SocketAddr) {
    let mut cfg = super::harness::config();
    cfg.peers.allow = vec!["0.0.0.0/0".parse().unwrap()];
    let mut h = Harness::with(cfg);
    let mut c = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    let r = h.allocate(&mut c);
    let relay = relay_local(&h, &r);
    h.create_permission(&mut c, addr("8.8.8.8:53"));
    h.channel_bind(&mut c, 0x4000, addr("8.8.8.8:53"));
    (h, c, relay)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_client_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (mut h, c, _) = ready();
        if let Some(f) = h.send(&c.tuple, &bytes) {
            prop_assert!(f.range.end <= bytes.len());
        }
        // STUN-looking and ChannelData-looking prefixes reach the deeper parsers.
        let mut stun = bytes.clone();
        stun.splice(0..stun.len().min(8), [0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        h.send(&c.tuple, &stun);
        let mut cd = bytes;
        cd.splice(0..cd.len().min(2), [0x40, 0x00]);
        if let Some(f) = h.send(&c.tuple, &cd) {
            prop_assert!(f.range.end <= cd.len());
        }
    }

    #[test]
    fn arbitrary_peer_datagrams_are_framed_within_the_buffer(len in 0usize..2000, peer_port in 1u16..) {
        let (mut h, _, relay) = ready();
        let payload = vec![0xAB; len];
        if let Some((f, bytes)) = h.peer_sends(relay, std::net::SocketAddr::from(([8, 8, 8, 8], peer_port)), &payload) {
            prop_assert_eq!(bytes.len(), f.range.len());
            prop_assert!(bytes.ends_with(&payload) || bytes.len() >= payload.len() + 4);
        }
    }

    #[test]
    fn a_corrupted_signed_request_is_never_accepted(pos in 20usize..200, flip in 1u8..=255) {
        let (mut h, mut c, _) = ready();
        let tid = c.tid();
        let peer = addr("8.8.4.4:1");
        let mut req = c.build(Method::CREATE_PERMISSION, tid, &move |e| e.add(&XorPeerAddress(peer)).map(|_| ()));
        // Everything up to the end of MESSAGE-INTEGRITY is protected; what
        // follows it (FINGERPRINT) is not covered by the HMAC by design.
        let i = pos % (req.len() - 8);
        req[i] ^= flip;
        h.send(&c.tuple, &req);
        if let Some(r) = h.take_response(tid) {
            prop_assert!(!r.is_success(), "corrupted byte {} accepted", i);
        }
    }
}
