//! Property tests: generated messages survive serialise → parse with the same
//! fields; hostile bytes and mutated torture messages never panic; stream
//! framing does not depend on how the bytes are chunked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use rtc_sip::{Contact, Frame, Framer, Host, Limits, Message, Method, Transport};

#[derive(Debug, Clone)]
struct Spec {
    method: &'static str,
    user: String,
    host: HostSpec,
    port: Option<u16>,
    transport: &'static str,
    branch: String,
    from_tag: String,
    to_tag: Option<String>,
    call_id: String,
    cseq: u32,
    max_forwards: u8,
    contacts: Vec<(String, u32, u16)>,
    compact: bool,
    fold: bool,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
enum HostSpec {
    Domain(String),
    V4(std::net::Ipv4Addr),
    V6(std::net::Ipv6Addr),
}

impl HostSpec {
    fn text(&self) -> String {
        match self {
            HostSpec::Domain(d) => d.clone(),
            HostSpec::V4(a) => a.to_string(),
            HostSpec::V6(a) => format!("[{a}]"),
        }
    }
    fn matches(&self, h: Host<'_>) -> bool {
        match (self, h) {
            (HostSpec::Domain(d), Host::Domain(b)) => d.as_bytes() == b,
            (HostSpec::V4(a), Host::Ipv4(b)) => *a == b,
            (HostSpec::V6(a), Host::Ipv6(b)) => *a == b,
            _ => false,
        }
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = HostSpec> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}".prop_map(HostSpec::Domain),
        any::<[u8; 4]>().prop_map(|b| HostSpec::V4(b.into())),
        any::<[u16; 8]>().prop_map(|s| HostSpec::V6(s.into())),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            prop::sample::select(vec![
                "INVITE", "REGISTER", "OPTIONS", "BYE", "MESSAGE", "X-CUSTOM",
            ]),
            "[a-zA-Z0-9_.!~*'()-]{1,12}",
            host(),
            proptest::option::of(1u16..),
            prop::sample::select(vec!["UDP", "TCP", "TLS", "WS", "WSS", "SCTP"]),
            token(),
            token(),
            proptest::option::of(token()),
        ),
        (
            "[A-Za-z0-9.!%*_+`'~-]{1,20}(@[a-z0-9.]{1,10})?",
            0u32..(1 << 31),
            any::<u8>(),
            prop::collection::vec(("[a-z0-9]{1,8}", any::<u32>(), 0u16..=1000), 0..4),
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..200),
        ),
    )
        .prop_map(
            |(
                (method, user, host, port, transport, branch, from_tag, to_tag),
                (call_id, cseq, max_forwards, contacts, compact, fold, body),
            )| Spec {
                method,
                user,
                host,
                port,
                transport,
                branch: format!("z9hG4bK{branch}"),
                from_tag,
                to_tag,
                call_id,
                cseq,
                max_forwards,
                contacts,
                compact,
                fold,
                body,
            },
        )
}

fn serialise(s: &Spec) -> Vec<u8> {
    let n = |long: &'static str, short: &'static str| if s.compact { short } else { long };
    let hp = match s.port {
        Some(p) => format!("{}:{p}", s.host.text()),
        None => s.host.text(),
    };
    let mut m = format!("{} sip:{}@{} SIP/2.0\r\n", s.method, s.user, hp);
    let sep = if s.fold { "\r\n  " } else { " " };
    m += &format!(
        "{}: SIP/2.0/{}{sep}{hp};branch={};rport\r\n",
        n("Via", "v"),
        s.transport,
        s.branch
    );
    m += &format!(
        "{}: \"A B\" <sip:a@example.com>;tag={}\r\n",
        n("From", "f"),
        s.from_tag
    );
    match &s.to_tag {
        Some(t) => m += &format!("{}: <sip:{}@{hp}>;tag={t}\r\n", n("To", "t"), s.user),
        None => m += &format!("{}: sip:{}@{hp}\r\n", n("To", "t"), s.user),
    }
    m += &format!("{}: {}\r\n", n("Call-ID", "i"), s.call_id);
    m += &format!("CSeq: {}{sep}{}\r\n", s.cseq, s.method);
    m += &format!("Max-Forwards: {}\r\n", s.max_forwards);
    for (u, exp, q) in &s.contacts {
        let q = if *q == 1000 {
            "1".to_owned()
        } else {
            format!("0.{q:03}")
        };
        m += &format!(
            "{}: <sip:{u}@{hp};transport=tcp>;expires={exp};q={q}\r\n",
            n("Contact", "m")
        );
    }
    m += &format!("{}: {}\r\n\r\n", n("Content-Length", "l"), s.body.len());
    let mut out = m.into_bytes();
    out.extend_from_slice(&s.body);
    out
}

fn corpus() -> Vec<&'static [u8]> {
    vec![
        include_bytes!("data/rfc4475/wsinv.dat"),
        include_bytes!("data/rfc4475/intmeth.dat"),
        include_bytes!("data/rfc4475/esc01.dat"),
        include_bytes!("data/rfc4475/longreq.dat"),
        include_bytes!("data/rfc4475/mpart01.dat"),
        include_bytes!("data/rfc4475/regaut01.dat"),
        include_bytes!("data/rfc4475/unreason.dat"),
        include_bytes!("data/rfc4475/scalar02.dat"),
        include_bytes!("data/rfc5118/ipv4-mapped-ipv6.dat"),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b'\r', b'\n', b' ', b':', b';', b',', b'"', b'<', b'>', b'[', b']', b'%', b'0', 0, 0xff,
    ]);
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn frames(stream: &[u8], chunks: &[usize]) -> Vec<Result<Vec<u8>, String>> {
    let mut framer = Framer::new(Limits::DEFAULT);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().cycle();
    while fed < stream.len() {
        let n = (*sizes.next().unwrap_or(&1)).max(1).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        loop {
            match framer.poll(&buf) {
                Frame::Incomplete => break,
                Frame::Ping { consumed } => {
                    out.push(Err("ping".to_owned()));
                    buf.drain(..consumed);
                }
                Frame::Pong { consumed } => {
                    out.push(Err("pong".to_owned()));
                    buf.drain(..consumed);
                }
                Frame::Message { len } => {
                    out.push(Ok(buf[..len].to_vec()));
                    buf.drain(..len);
                }
                Frame::Invalid(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_messages_parse_back_to_the_same_fields(s in spec()) {
        let wire = serialise(&s);
        let m = Message::parse_datagram(&wire, &Limits::DEFAULT).unwrap();
        m.validate(&Limits::DEFAULT).unwrap();
        prop_assert_eq!(m.method().unwrap().as_bytes(), s.method.as_bytes());
        let ruri = *m.request_uri().unwrap().as_sip().unwrap();
        prop_assert_eq!(ruri.user(), Some(s.user.as_bytes()));
        prop_assert!(s.host.matches(ruri.host()));
        prop_assert_eq!(ruri.port(), s.port);
        let via = m.top_via().unwrap();
        prop_assert!(s.host.matches(via.host()));
        prop_assert_eq!(via.port(), s.port);
        prop_assert_eq!(via.branch(), Some(s.branch.as_bytes()));
        prop_assert_eq!(via.transport() == Transport::Udp, s.transport == "UDP");
        prop_assert_eq!(m.from().unwrap().tag(), Some(s.from_tag.as_bytes()));
        prop_assert_eq!(m.to().unwrap().tag(), s.to_tag.as_deref().map(str::as_bytes));
        prop_assert_eq!(m.call_id(), Some(s.call_id.as_bytes()));
        let cseq = m.cseq().unwrap();
        prop_assert_eq!(cseq.number, s.cseq);
        prop_assert_eq!(cseq.method, Method::from_bytes(s.method.as_bytes()));
        prop_assert_eq!(m.max_forwards().unwrap(), Some(s.max_forwards));
        let contacts: Vec<_> = m.contacts().map(Result::unwrap).collect();
        prop_assert_eq!(contacts.len(), s.contacts.len());
        for (c, (u, exp, q)) in contacts.iter().zip(&s.contacts) {
            let Contact::Addr(a) = c else { panic!("star") };
            prop_assert_eq!(a.uri().as_sip().unwrap().user(), Some(u.as_bytes()));
            prop_assert_eq!(a.expires(), Some(*exp));
            prop_assert_eq!(a.q(), Some(*q));
        }
        prop_assert_eq!(m.body(), &s.body[..]);
        prop_assert_eq!(m.as_bytes(), &wire[..]);
        rtc_sip::fuzz::fuzz_message(&wire);
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        rtc_sip::fuzz::fuzz_message(&data);
    }

    #[test]
    fn sip_shaped_noise_never_panics(data in "(INVITE|SIP/2.0|Via:|v:|Contact:|l:|Content-Length:|[ \\r\\n;:,<>\"%\\[\\]@=]|[a-z0-9]{1,4}|\\r\\n){0,80}") {
        rtc_sip::fuzz::fuzz_message(data.as_bytes());
    }

    #[test]
    fn mutated_torture_messages_never_panic(which in 0usize..9, muts in prop::collection::vec(mutation(), 1..12)) {
        let mut data = corpus()[which].to_vec();
        for m in muts {
            let len = data.len().max(1);
            match m {
                Mutation::Set(i, b) => { if !data.is_empty() { data[i % len] = b; } }
                Mutation::Insert(i, b) => data.insert(i % (data.len() + 1), b),
                Mutation::Delete(i) => { if !data.is_empty() { data.remove(i % len); } }
            }
        }
        rtc_sip::fuzz::fuzz_message(&data);
    }

    #[test]
    fn framing_is_independent_of_chunking(
        specs in prop::collection::vec(spec(), 1..4),
        pings in prop::collection::vec(any::<bool>(), 4),
        chunks in prop::collection::vec(1usize..300, 1..8),
        tail_garbage in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            if pings[i % 4] {
                stream.extend_from_slice(b"\r\n\r\n");
            }
            stream.extend_from_slice(&serialise(s));
        }
        if tail_garbage {
            stream.extend_from_slice(b"GARBAGE sip:x SIP/2.0\r\nl: -1\r\n\r\n");
        }
        let whole = frames(&stream, &[stream.len()]);
        let split = frames(&stream, &chunks);
        prop_assert_eq!(&whole, &split);
        let msgs: Vec<_> = whole.iter().filter_map(|f| f.as_ref().ok()).collect();
        prop_assert_eq!(msgs.len(), specs.len());
        for (bytes, s) in msgs.iter().zip(&specs) {
            let m = Message::parse_framed(bytes, &Limits::DEFAULT).unwrap();
            prop_assert_eq!(m.body(), &s.body[..]);
        }
    }
}
