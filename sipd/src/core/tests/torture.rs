//! RFC 4475 torture messages through the whole core: nothing panics,
//! nothing is relayed for domains that are not ours, and the malformed
//! ones get the answer RFC 4475 expects (or are dropped when unanswerable).

use super::*;

const MESSAGES: &[(&str, &[u8])] = &[
    ("badaspec", include_bytes!("data/rfc4475/badaspec.dat")),
    ("badbranch", include_bytes!("data/rfc4475/badbranch.dat")),
    ("baddate", include_bytes!("data/rfc4475/baddate.dat")),
    ("baddn", include_bytes!("data/rfc4475/baddn.dat")),
    ("badinv01", include_bytes!("data/rfc4475/badinv01.dat")),
    ("badvers", include_bytes!("data/rfc4475/badvers.dat")),
    ("bcast", include_bytes!("data/rfc4475/bcast.dat")),
    ("bext01", include_bytes!("data/rfc4475/bext01.dat")),
    ("bigcode", include_bytes!("data/rfc4475/bigcode.dat")),
    ("clerr", include_bytes!("data/rfc4475/clerr.dat")),
    ("cparam01", include_bytes!("data/rfc4475/cparam01.dat")),
    ("cparam02", include_bytes!("data/rfc4475/cparam02.dat")),
    ("dblreq", include_bytes!("data/rfc4475/dblreq.dat")),
    ("esc01", include_bytes!("data/rfc4475/esc01.dat")),
    ("esc02", include_bytes!("data/rfc4475/esc02.dat")),
    ("escnull", include_bytes!("data/rfc4475/escnull.dat")),
    ("escruri", include_bytes!("data/rfc4475/escruri.dat")),
    ("insuf", include_bytes!("data/rfc4475/insuf.dat")),
    ("intmeth", include_bytes!("data/rfc4475/intmeth.dat")),
    ("inv2543", include_bytes!("data/rfc4475/inv2543.dat")),
    ("invut", include_bytes!("data/rfc4475/invut.dat")),
    ("longreq", include_bytes!("data/rfc4475/longreq.dat")),
    ("ltgtruri", include_bytes!("data/rfc4475/ltgtruri.dat")),
    ("lwsdisp", include_bytes!("data/rfc4475/lwsdisp.dat")),
    ("lwsruri", include_bytes!("data/rfc4475/lwsruri.dat")),
    ("lwsstart", include_bytes!("data/rfc4475/lwsstart.dat")),
    ("mcl01", include_bytes!("data/rfc4475/mcl01.dat")),
    ("mismatch01", include_bytes!("data/rfc4475/mismatch01.dat")),
    ("mismatch02", include_bytes!("data/rfc4475/mismatch02.dat")),
    ("mpart01", include_bytes!("data/rfc4475/mpart01.dat")),
    ("multi01", include_bytes!("data/rfc4475/multi01.dat")),
    ("ncl", include_bytes!("data/rfc4475/ncl.dat")),
    ("noreason", include_bytes!("data/rfc4475/noreason.dat")),
    ("novelsc", include_bytes!("data/rfc4475/novelsc.dat")),
    ("quotbal", include_bytes!("data/rfc4475/quotbal.dat")),
    ("regaut01", include_bytes!("data/rfc4475/regaut01.dat")),
    ("regbadct", include_bytes!("data/rfc4475/regbadct.dat")),
    ("regescrt", include_bytes!("data/rfc4475/regescrt.dat")),
    ("scalar02", include_bytes!("data/rfc4475/scalar02.dat")),
    ("scalarlg", include_bytes!("data/rfc4475/scalarlg.dat")),
    ("sdp01", include_bytes!("data/rfc4475/sdp01.dat")),
    ("semiuri", include_bytes!("data/rfc4475/semiuri.dat")),
    ("transports", include_bytes!("data/rfc4475/transports.dat")),
    ("trws", include_bytes!("data/rfc4475/trws.dat")),
    ("unkscm", include_bytes!("data/rfc4475/unkscm.dat")),
    ("unksm2", include_bytes!("data/rfc4475/unksm2.dat")),
    ("unreason", include_bytes!("data/rfc4475/unreason.dat")),
    ("wsinv", include_bytes!("data/rfc4475/wsinv.dat")),
    ("zeromf", include_bytes!("data/rfc4475/zeromf.dat")),
];

/// What the core sent for one message, from a foreign source, with `domain` local.
fn run(domain: &str, bytes: &[u8], transport: Transport) -> Vec<Sent> {
    let mut sh = Shell::with(CoreConfig {
        domains: vec![domain.into()],
        ..CoreConfig::default()
    });
    let flow = match transport {
        Transport::Tcp => tcp("203.0.113.44:40000", 1),
        _ => udp("203.0.113.44:5060"),
    };
    sh.core.handle_message(flow, bytes, sh.now);
    sh.pump();
    sh.advance(Duration::from_secs(40));
    sh.take()
}

/// First final status expected for a message (from a foreign source, falcot.com local); `None`: dropped.
const EXPECTED: &[(&str, Option<u16>)] = &[
    ("badvers", Some(505)),
    ("zeromf", Some(483)),
    ("mismatch01", Some(400)),
    ("mismatch02", Some(501)),
    ("escruri", Some(400)),
    ("ltgtruri", Some(400)),
    ("lwsstart", Some(400)),
    ("insuf", Some(400)),
    ("clerr", Some(400)),
    ("ncl", Some(400)),
    ("mcl01", Some(400)),
    ("multi01", Some(400)),
    ("scalar02", Some(400)),
    ("quotbal", Some(400)),
    ("novelsc", Some(416)),
    ("unkscm", Some(416)),
    ("bext01", Some(420)),
    ("inv2543", Some(403)),
    ("bcast", None),
    ("bigcode", None),
    ("noreason", None),
    ("scalarlg", None),
    ("unreason", None),
];

#[test]
fn torture_messages_are_answered_to_the_sender_and_never_relayed() {
    for (name, bytes) in MESSAGES {
        for domain in ["falcot.com", "example.com"] {
            for transport in [Transport::Udp, Transport::Tcp] {
                for s in run(domain, bytes, transport) {
                    assert!(
                        s.status().is_some(),
                        "{name}: only responses, got {}",
                        s.first_line()
                    );
                    assert_eq!(
                        s.to_addr().map(|a| a.ip()),
                        Some("203.0.113.44".parse().unwrap()),
                        "{name}"
                    );
                }
            }
        }
    }
}

#[test]
fn malformed_torture_messages_get_the_expected_answer() {
    for (name, want) in EXPECTED {
        let bytes = MESSAGES
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
            .unwrap();
        let got = run("falcot.com", bytes, Transport::Udp)
            .iter()
            .filter_map(Sent::status)
            .find(|s| *s >= 200);
        assert_eq!(got, *want, "{name}");
    }
}
