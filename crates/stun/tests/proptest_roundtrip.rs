//! Property tests: random messages round-trip, random bytes never panic.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;

use proptest::prelude::*;
use rtc_stun::attr::*;
use rtc_stun::fuzzing::fuzz_roundtrip;
use rtc_stun::{
    AttrType, Attribute, ChannelNumber, Class, Message, MessageEncoder, MessageType, Method,
    RawAttribute, TransactionId,
};

/// An attribute with owned data, so the strategy can generate it.
#[derive(Clone, Debug)]
enum Owned {
    Mapped(SocketAddr),
    XorMapped(SocketAddr),
    XorPeer(SocketAddr),
    XorRelayed(SocketAddr),
    AlternateServer(SocketAddr),
    ResponseOrigin(SocketAddr),
    OtherAddress(SocketAddr),
    Username(String),
    Realm(String),
    Nonce(String),
    Software(String),
    AlternateDomain(String),
    Userhash([u8; 32]),
    ErrorCode(u16, String),
    UnknownAttributes(Vec<u16>),
    PasswordAlgorithm(u16, Vec<u8>),
    PasswordAlgorithms(Vec<(u16, Vec<u8>)>),
    Channel(u16),
    Lifetime(u32),
    Data(Vec<u8>),
    RequestedFamily(bool),
    AdditionalFamily(bool),
    EvenPort(bool),
    RequestedTransport(u8),
    DontFragment,
    ReservationToken([u8; 8]),
    AddressErrorCode(bool, u16, String),
    Icmp(u8, u8, u32),
    ChangeRequest(bool, bool),
    ResponsePort(u16),
    Padding(Vec<u8>),
    ConnectionId(u32),
    /// A type this crate does not know, comprehension-required or not.
    Unknown(u16, Vec<u8>),
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Ipv6
    } else {
        AddressFamily::Ipv4
    }
}

/// Runs `$body` with `$typed` bound to the typed view of an [`Owned`] attribute.
macro_rules! with_typed {
    ($owned:expr, |$typed:ident| $body:expr) => {{
        let algs: Vec<PasswordAlgorithm<'_>>;
        match $owned {
            Owned::Mapped(a) => {
                let $typed = MappedAddress(*a);
                $body
            }
            Owned::XorMapped(a) => {
                let $typed = XorMappedAddress(*a);
                $body
            }
            Owned::XorPeer(a) => {
                let $typed = XorPeerAddress(*a);
                $body
            }
            Owned::XorRelayed(a) => {
                let $typed = XorRelayedAddress(*a);
                $body
            }
            Owned::AlternateServer(a) => {
                let $typed = AlternateServer(*a);
                $body
            }
            Owned::ResponseOrigin(a) => {
                let $typed = ResponseOrigin(*a);
                $body
            }
            Owned::OtherAddress(a) => {
                let $typed = OtherAddress(*a);
                $body
            }
            Owned::Username(s) => {
                let $typed = Username::new(s).unwrap();
                $body
            }
            Owned::Realm(s) => {
                let $typed = Realm::new(s).unwrap();
                $body
            }
            Owned::Nonce(s) => {
                let $typed = Nonce::new(s).unwrap();
                $body
            }
            Owned::Software(s) => {
                let $typed = Software::new(s).unwrap();
                $body
            }
            Owned::AlternateDomain(s) => {
                let $typed = AlternateDomain::new(s).unwrap();
                $body
            }
            Owned::Userhash(h) => {
                let $typed = Userhash(*h);
                $body
            }
            Owned::ErrorCode(c, r) => {
                let $typed = ErrorCode::new(*c, r).unwrap();
                $body
            }
            Owned::UnknownAttributes(list) => {
                let types: Vec<AttrType> = list.iter().copied().map(AttrType::new).collect();
                let $typed = UnknownAttributes::new(&types);
                $body
            }
            Owned::PasswordAlgorithm(id, p) => {
                let $typed = PasswordAlgorithm {
                    algorithm: AlgorithmId(*id),
                    params: p,
                };
                $body
            }
            Owned::PasswordAlgorithms(list) => {
                algs = list
                    .iter()
                    .map(|(id, p)| PasswordAlgorithm {
                        algorithm: AlgorithmId(*id),
                        params: p,
                    })
                    .collect();
                let $typed = PasswordAlgorithms::new(&algs);
                $body
            }
            Owned::Channel(n) => {
                let $typed = ChannelNumber::new(*n).unwrap();
                $body
            }
            Owned::Lifetime(s) => {
                let $typed = Lifetime(*s);
                $body
            }
            Owned::Data(d) => {
                let $typed = Data(d);
                $body
            }
            Owned::RequestedFamily(v6) => {
                let $typed = RequestedAddressFamily(family(*v6));
                $body
            }
            Owned::AdditionalFamily(v6) => {
                let $typed = AdditionalAddressFamily(family(*v6));
                $body
            }
            Owned::EvenPort(r) => {
                let $typed = EvenPort { reserve: *r };
                $body
            }
            Owned::RequestedTransport(p) => {
                let $typed = RequestedTransport(*p);
                $body
            }
            Owned::DontFragment => {
                let $typed = DontFragment;
                $body
            }
            Owned::ReservationToken(t) => {
                let $typed = ReservationToken(*t);
                $body
            }
            Owned::AddressErrorCode(v6, c, r) => {
                let $typed = AddressErrorCode::new(family(*v6), *c, r).unwrap();
                $body
            }
            Owned::Icmp(t, c, d) => {
                let $typed = Icmp {
                    icmp_type: *t,
                    code: *c,
                    error_data: *d,
                };
                $body
            }
            Owned::ChangeRequest(ip, port) => {
                let $typed = ChangeRequest {
                    change_ip: *ip,
                    change_port: *port,
                };
                $body
            }
            Owned::ResponsePort(p) => {
                let $typed = ResponsePort(*p);
                $body
            }
            Owned::Padding(d) => {
                let $typed = Padding(d);
                $body
            }
            Owned::ConnectionId(c) => {
                let $typed = ConnectionId(*c);
                $body
            }
            Owned::Unknown(..) => unreachable!("raw attributes have no typed view"),
        }
    }};
}

fn add(enc: &mut MessageEncoder<'_>, owned: &Owned) {
    if let Owned::Unknown(t, v) = owned {
        enc.add_raw(AttrType::new(*t), v).unwrap();
        return;
    }
    with_typed!(owned, |typed| {
        enc.add(&typed).unwrap();
    });
}

/// Decodes `raw` as the same type as `owned` and compares.
fn check<'a>(raw: RawAttribute<'a>, tid: &TransactionId, owned: &Owned) {
    if let Owned::Unknown(t, v) = owned {
        assert_eq!((raw.attr_type.value(), raw.value), (*t, v.as_slice()));
        return;
    }
    fn same<'a, A: Attribute<'a> + PartialEq + std::fmt::Debug>(
        raw: RawAttribute<'a>,
        tid: &TransactionId,
        want: A,
    ) {
        assert_eq!(raw.attr_type, A::TYPE);
        assert_eq!(A::decode(raw.value, tid).unwrap(), want);
    }
    with_typed!(owned, |typed| same(raw, tid, typed));
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    let phrase = "\\PC{0,40}";
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        socket_addr().prop_map(Owned::Mapped),
        socket_addr().prop_map(Owned::XorMapped),
        socket_addr().prop_map(Owned::XorPeer),
        socket_addr().prop_map(Owned::XorRelayed),
        socket_addr().prop_map(Owned::AlternateServer),
        socket_addr().prop_map(Owned::ResponseOrigin),
        socket_addr().prop_map(Owned::OtherAddress),
        "\\PC{0,60}".prop_map(Owned::Username),
        phrase.prop_map(Owned::Realm),
        phrase.prop_map(Owned::Nonce),
        phrase.prop_map(Owned::Software),
        "[a-z0-9.-]{1,60}".prop_map(Owned::AlternateDomain),
        any::<[u8; 32]>().prop_map(Owned::Userhash),
        (300u16..700, phrase).prop_map(|(c, r)| Owned::ErrorCode(c, r)),
        proptest::collection::vec(any::<u16>(), 0..10).prop_map(Owned::UnknownAttributes),
        (any::<u16>(), bytes()).prop_map(|(a, p)| Owned::PasswordAlgorithm(a, p)),
        proptest::collection::vec((any::<u16>(), bytes()), 0..4)
            .prop_map(Owned::PasswordAlgorithms),
        (0x4000u16..=0x7FFF).prop_map(Owned::Channel),
        any::<u32>().prop_map(Owned::Lifetime),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Owned::Data),
        any::<bool>().prop_map(Owned::RequestedFamily),
        any::<bool>().prop_map(Owned::AdditionalFamily),
        any::<bool>().prop_map(Owned::EvenPort),
        any::<u8>().prop_map(Owned::RequestedTransport),
        Just(Owned::DontFragment),
        any::<[u8; 8]>().prop_map(Owned::ReservationToken),
        (any::<bool>(), 300u16..700, phrase).prop_map(|(f, c, r)| Owned::AddressErrorCode(f, c, r)),
        (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(t, c, d)| Owned::Icmp(t, c, d)),
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Owned::ChangeRequest(a, b)),
        any::<u16>().prop_map(Owned::ResponsePort),
        bytes().prop_map(Owned::Padding),
        any::<u32>().prop_map(Owned::ConnectionId),
        (prop_oneof![0x4000u16..0x7FFF, 0xC000u16..=0xFFFF], bytes())
            .prop_map(|(t, v)| Owned::Unknown(t, v)),
    ]
}

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::Request),
        Just(Class::Indication),
        Just(Class::Success),
        Just(Class::Error)
    ]
}

#[derive(Clone, Debug)]
struct Spec {
    message_type: MessageType,
    tid: [u8; 12],
    attrs: Vec<Owned>,
    integrity: bool,
    integrity_sha256: Option<usize>,
    fingerprint: bool,
    key: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0u16..=0xFFF, class()),
        any::<[u8; 12]>(),
        proptest::collection::vec(owned(), 0..12),
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just(16usize),
            Just(20),
            Just(24),
            Just(28),
            Just(32)
        ]),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |((m, c), tid, attrs, integrity, integrity_sha256, fingerprint, key)| Spec {
                message_type: MessageType::new(Method::new(m).unwrap(), c),
                tid,
                attrs,
                integrity,
                integrity_sha256,
                fingerprint,
                key,
            },
        )
}

fn encode(spec: &Spec) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut enc = MessageEncoder::new(&mut buf, spec.message_type, TransactionId::new(spec.tid));
    for a in &spec.attrs {
        add(&mut enc, a);
    }
    if spec.integrity {
        enc.integrity(&spec.key).unwrap();
    }
    if let Some(len) = spec.integrity_sha256 {
        enc.integrity_sha256_truncated(&spec.key, len).unwrap();
    }
    if spec.fingerprint {
        enc.fingerprint().unwrap();
    }
    enc.finish().to_vec()
}

proptest! {
    #[test]
    fn random_messages_round_trip(spec in spec()) {
        let bytes = encode(&spec);
        let msg = Message::parse(&bytes).unwrap();
        prop_assert_eq!(msg.message_type(), spec.message_type);
        prop_assert_eq!(msg.transaction_id(), TransactionId::new(spec.tid));
        let tid = msg.transaction_id();
        let mut attrs = msg.attributes();
        for owned in &spec.attrs {
            check(attrs.next().unwrap(), &tid, owned);
        }
        let trailers: Vec<AttrType> = attrs.map(|a| a.attr_type).collect();
        let mut expected = Vec::new();
        if spec.integrity { expected.push(AttrType::MESSAGE_INTEGRITY); }
        if spec.integrity_sha256.is_some() { expected.push(AttrType::MESSAGE_INTEGRITY_SHA256); }
        if spec.fingerprint { expected.push(AttrType::FINGERPRINT); }
        prop_assert_eq!(trailers, expected);
        prop_assert_eq!(msg.verify_integrity(&spec.key).is_ok(), spec.integrity);
        prop_assert_eq!(msg.verify_integrity_sha256_truncated(&spec.key, 16).is_ok(), spec.integrity_sha256.is_some());
        prop_assert_eq!(msg.verify_fingerprint().is_ok(), spec.fingerprint);
        let unknown: Vec<u16> = msg.unknown_comprehension_required().map(AttrType::value).collect();
        let want: Vec<u16> = spec.attrs.iter().filter_map(|a| match a {
            Owned::Unknown(t, _) if *t < 0x8000 => Some(*t),
            _ => None,
        }).collect();
        prop_assert_eq!(unknown, want);
        fuzz_roundtrip(&bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_roundtrip(&bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        head in (0u16..0x3FFF, any::<[u8; 12]>()),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = head.0.to_be_bytes().to_vec();
        bytes.extend_from_slice(&u16::try_from(body.len() & !3).unwrap().to_be_bytes());
        bytes.extend_from_slice(&rtc_stun::MAGIC_COOKIE.to_be_bytes());
        bytes.extend_from_slice(&head.1);
        bytes.extend_from_slice(&body[..body.len() & !3]);
        fuzz_roundtrip(&bytes);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        spec in spec(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&spec);
        for (at, xor) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        fuzz_roundtrip(&bytes);
        let cut = cut.index(bytes.len() + 1);
        fuzz_roundtrip(&bytes[..cut]);
    }
}
