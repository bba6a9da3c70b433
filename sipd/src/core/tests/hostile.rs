//! Mutated messages through the whole core: it never panics, answers only
//! with bounded output, and leaks no transaction once the timers ran.

use proptest::prelude::*;

use super::*;

const TEMPLATES: &[&str] = &[
    "INVITE sip:alice@falcot.com SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKp1;rport\r\nMax-Forwards: 70\r\n\
From: <sip:x@example.org>;tag=1\r\nTo: <sip:alice@falcot.com>\r\nCall-ID: p@x\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:x@203.0.113.5>\r\nRoute: <sip:198.51.100.19;lr>\r\nContent-Length: 3\r\n\r\nv=0",
    "REGISTER sip:falcot.com SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKp2\r\nMax-Forwards: 70\r\n\
From: <sip:alice@falcot.com>;tag=2\r\nTo: <sip:alice@falcot.com>\r\nCall-ID: r@x\r\nCSeq: 9 REGISTER\r\n\
Contact: <sip:alice@203.0.113.5>;expires=60;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\nSupported: outbound, path\r\n\
Authorization: Digest username=\"alice\", realm=\"falcot.com\", nonce=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", uri=\"sip:falcot.com\", response=\"00\", qop=auth, nc=00000001, cnonce=\"c\"\r\n\
Content-Length: 0\r\n\r\n",
    "BYE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKp3\r\nMax-Forwards: 70\r\n\
Route: <sip:tok@198.51.100.19:5060;lr;dlg=AAAAAAAAAAAA>, <sip:192.0.2.9>\r\nFrom: <sip:x@example.org>;tag=1\r\n\
To: <sip:bob@falcot.com>;tag=2\r\nCall-ID: b@x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 198.51.100.19:5060;branch=z9hG4bKsd0000000000000000000000\r\n\
From: <sip:x@example.org>;tag=1\r\nTo: <sip:bob@falcot.com>;tag=2\r\nCall-ID: b@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
];

fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(pos, kind, byte) in edits {
        if v.is_empty() {
            break;
        }
        let p = pos % v.len();
        match kind % 3 {
            0 => v[p] = byte,
            1 => v.insert(p, byte),
            _ => {
                v.remove(p);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mutated_messages_never_panic_or_leak_transactions(
        which in 0..TEMPLATES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        stream in any::<bool>(),
    ) {
        let mut sh = Shell::new();
        let bytes = mutate(TEMPLATES[which].as_bytes(), &edits);
        let flow = if stream { tcp("203.0.113.5:40000", 3) } else { udp("203.0.113.5:5060") };
        sh.core.handle_message(flow, &bytes, sh.now);
        sh.pump();
        // The same bytes again (a retransmission) and once more after the timers ran.
        sh.core.handle_message(flow, &bytes, sh.now);
        sh.pump();
        sh.advance(Duration::from_secs(40));
        prop_assert!(sh.take().len() < 40);
        prop_assert_eq!(sh.core.transaction_count(), 0);
    }
}
