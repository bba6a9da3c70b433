//! RFC 5118 IPv6 torture messages (§4.1-§4.10), as data files under
//! `tests/data/rfc5118/`. The messages follow the RFC text; their
//! Content-Length values were computed for CRLF line ends (the RFC's are off),
//! and stray spaces the RFC's second §4.5 message picked up in typesetting
//! ("user @example.com") were removed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv6Addr};

use rtc_sip::{Contact, Disposition, Error, Host, Limits, Message, ParseFailure, Uri};

fn outcome(data: &[u8]) -> Result<Message<'_>, ParseFailure<'_>> {
    let m = Message::parse_datagram(data, &Limits::DEFAULT)?;
    m.validate(&Limits::DEFAULT)?;
    Ok(m)
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ruri_host<'a>(m: &Message<'a>) -> (Host<'a>, Option<u16>) {
    let Some(Uri::Sip(u)) = m.request_uri() else {
        panic!("sip Request-URI")
    };
    (u.host(), u.port())
}

fn contact_host<'a>(m: &Message<'a>) -> Host<'a> {
    match m.contacts().next().unwrap().unwrap() {
        Contact::Addr(a) => a.uri().as_sip().unwrap().host(),
        Contact::Star => panic!(),
    }
}

struct Case {
    file: &'static str,
    data: &'static [u8],
    check: fn(Result<Message<'_>, ParseFailure<'_>>),
    reason: &'static str,
}

macro_rules! case {
    ($file:literal, $check:expr, $reason:literal) => {
        Case {
            file: $file,
            data: include_bytes!(concat!("data/rfc5118/", $file, ".dat")),
            check: $check,
            reason: $reason,
        }
    };
}

const CASES: &[Case] = &[
    case!(
        "ipv6-good",
        |r| {
            let m = r.unwrap();
            assert_eq!(ruri_host(&m), (Host::Ipv6(v6("2001:db8::10")), None));
            assert_eq!(m.top_via().unwrap().host(), Host::Ipv6(v6("2001:db8::9:1")));
            assert_eq!(contact_host(&m), Host::Ipv6(v6("2001:db8::1")));
        },
        "§4.1: IPv6 references in Request-URI, Via and Contact"
    ),
    case!(
        "ipv6-bad",
        |r| {
            let f = r.unwrap_err();
            assert_eq!(f.error(), Error::InvalidRequestUri);
            assert_eq!(f.disposition(), Disposition::Reply(400));
        },
        "§4.2: an IPv6 address without [] in the Request-URI is answered 400"
    ),
    case!(
        "port-ambiguous",
        |r| {
            let m = r.unwrap();
            assert_eq!(ruri_host(&m), (Host::Ipv6(v6("2001:db8::10:5070")), None));
        },
        "§4.3: well-formed; everything inside [] is the address and there is no port"
    ),
    case!(
        "port-unambiguous",
        |r| {
            let m = r.unwrap();
            assert_eq!(ruri_host(&m), (Host::Ipv6(v6("2001:db8::10")), Some(5070)));
        },
        "§4.4: the port follows the closing ]"
    ),
    case!(
        "via-received-param-with-delim",
        |r| {
            let m = r.unwrap();
            assert_eq!(
                m.top_via().unwrap().received_addr(),
                Some(IpAddr::V6(v6("2001:db8::9:255")))
            );
        },
        "§4.5: received=[IPv6] must be accepted by robust implementations"
    ),
    case!(
        "via-received-param-no-delim",
        |r| {
            let m = r.unwrap();
            assert_eq!(
                m.top_via().unwrap().received_addr(),
                Some(IpAddr::V6(v6("2001:db8::9:255")))
            );
        },
        "§4.5: received=IPv6 without [] is the RFC 3261 grammar"
    ),
    case!(
        "ipv6-in-sdp",
        |r| {
            let m = r.unwrap();
            assert_eq!(ruri_host(&m).0, Host::Ipv6(v6("2001:db8::10")));
            assert!(m
                .body()
                .windows(23)
                .any(|w| w == b"c=IN IP6 2001:db8::20\r\n"));
        },
        "§4.6: IPv6 in SDP has no []; the body is opaque to this layer"
    ),
    case!(
        "mult-ip-in-header",
        |r| {
            let m = r.unwrap();
            let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
            assert_eq!(vias.len(), 3);
            assert_eq!(
                (vias[0].host(), vias[0].port()),
                (Host::Ipv6(v6("2001:db8::9:1")), Some(6050))
            );
            assert_eq!(vias[1].host(), Host::Ipv4("192.0.2.1".parse().unwrap()));
            assert_eq!(vias[2].received_addr(), "192.0.2.200".parse().ok());
        },
        "§4.7: a Via list mixing IPv4 and IPv6"
    ),
    case!(
        "mult-ip-in-sdp",
        |r| {
            assert!(r
                .unwrap()
                .body()
                .ends_with(b"a=rtpmap:107 H263-1998/90000\r\n"));
        },
        "§4.8: several connection addresses in SDP"
    ),
    case!(
        "ipv4-mapped-ipv6",
        |r| {
            let m = r.unwrap();
            let top = m.top_via().unwrap();
            assert_eq!(
                (top.host(), top.port()),
                (Host::Ipv6(v6("::ffff:192.0.2.10")), Some(19823))
            );
            assert_eq!(contact_host(&m), Host::Ipv6(v6("::ffff:192.0.2.2")));
        },
        "§4.9: IPv4-mapped IPv6 addresses"
    ),
    case!(
        "ipv6-bug-abnf-3-colons",
        |r| {
            let m = r.unwrap();
            assert_eq!(ruri_host(&m).0, Host::Ipv6(v6("2001:db8::192.0.2.1")));
            let Uri::Sip(to) = m.to().unwrap().uri() else {
                panic!()
            };
            assert_eq!(to.host_raw(), b"[2001:db8:::192.0.2.1]");
        },
        "§4.10: the extra colon RFC 3261's ABNF allowed is tolerated"
    ),
    case!(
        "ipv6-correct-abnf-2-colons",
        |r| {
            assert_eq!(
                ruri_host(&r.unwrap()).0,
                Host::Ipv6(v6("2001:db8::192.0.2.1"))
            );
        },
        "§4.10: the correct form"
    ),
];

#[test]
fn rfc5118_outcomes() {
    for case in CASES {
        eprintln!("{}: {}", case.file, case.reason);
        (case.check)(outcome(case.data));
    }
}

#[test]
fn every_rfc5118_file_is_listed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc5118");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), CASES.len());
}

#[test]
fn port_inside_brackets_or_missing_brackets_is_refused_everywhere() {
    for bad in [
        &b"sip:[2001:db8::10:5070"[..],
        b"sip:user@2001:db8::1",
        b"sip:[2001:db8::10]5070",
        b"sip:[2001:db8::g]",
        b"sip:[192.0.2.1]",
    ] {
        assert!(Uri::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    assert!(rtc_sip::Via::parse(b"SIP/2.0/UDP 2001:db8::9:1;branch=z9hG4bK1").is_err());
}
