//! RFC 5769 and RFC 8489 Appendix B test vectors, stored byte for byte under `tests/data/`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use md5::{Digest as _, Md5};
use rtc_stun::attr::{
    AlgorithmId, Nonce, PasswordAlgorithm, Realm, SecurityFeatures, Software, Userhash, Username,
    XorMappedAddress,
};
use rtc_stun::{AttrType, Class, Error, Message, MessageEncoder, Method, TransactionId};
use sha2::Sha256;

const SHORT_TERM_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
/// "マトリックス", unchanged by SASLprep and OpaqueString.
const LONG_TERM_USER: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
/// "The\u{00AD}M\u{00AA}tr\u{2168}" after SASLprep / OpaqueString.
const LONG_TERM_PASSWORD: &str = "TheMatrIX";
const REALM: &str = "example.org";

const RFC5769_REQUEST: &[u8] = include_bytes!("data/rfc5769-2.1-request.bin");
const RFC5769_IPV4_RESPONSE: &[u8] = include_bytes!("data/rfc5769-2.2-ipv4-response.bin");
const RFC5769_IPV6_RESPONSE: &[u8] = include_bytes!("data/rfc5769-2.3-ipv6-response.bin");
const RFC5769_LONG_TERM: &[u8] = include_bytes!("data/rfc5769-2.4-request-long-term.bin");
/// Appendix B.1 as corrected by verified erratum 6268 (length 0x90, PASSWORD-ALGORITHM added).
const RFC8489_B1: &[u8] = include_bytes!("data/rfc8489-b.1-request-sha256-userhash.bin");
/// Appendix B.1 as printed in the RFC: its length field counts the header too.
const RFC8489_B1_AS_PUBLISHED: &[u8] =
    include_bytes!("data/rfc8489-b.1-as-published-bad-length.bin");

const RFC5769_TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];
const LONG_TERM_TID: [u8; 12] = [
    0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
];

fn md5_key() -> Vec<u8> {
    Md5::digest(format!("{LONG_TERM_USER}:{REALM}:{LONG_TERM_PASSWORD}")).to_vec()
}

fn sha256_key() -> Vec<u8> {
    Sha256::digest(format!("{LONG_TERM_USER}:{REALM}:{LONG_TERM_PASSWORD}")).to_vec()
}

/// Rebuilds a message from its parsed attributes, recomputing integrity and fingerprint.
fn reencode(msg: &Message<'_>, key: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut enc = MessageEncoder::new(&mut buf, msg.message_type(), msg.transaction_id());
    for a in msg.attributes() {
        match a.attr_type {
            AttrType::MESSAGE_INTEGRITY => enc.integrity(key),
            AttrType::MESSAGE_INTEGRITY_SHA256 => enc.integrity_sha256(key),
            AttrType::FINGERPRINT => enc.fingerprint(),
            t => enc.add_raw(t, a.value),
        }
        .unwrap();
    }
    enc.finish().to_vec()
}

#[test]
fn rfc5769_sample_request_verifies_with_the_short_term_password() {
    let msg = Message::parse(RFC5769_REQUEST).unwrap();
    assert_eq!(
        (msg.method(), msg.class()),
        (Method::BINDING, Class::Request)
    );
    assert_eq!(msg.transaction_id(), TransactionId::new(RFC5769_TID));
    assert_eq!(
        msg.attr::<Software>().unwrap().unwrap().as_str(),
        "STUN test client"
    );
    assert_eq!(
        msg.attr::<Username>().unwrap().unwrap().as_str(),
        "evtj:h6vY"
    );
    assert_eq!(
        msg.raw(AttrType::new(0x0024)),
        Some(&[0x6e, 0x00, 0x01, 0xff][..])
    ); // PRIORITY
    msg.verify_integrity(SHORT_TERM_PASSWORD).unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(
        msg.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBT"),
        Err(Error::IntegrityMismatch {
            attr: AttrType::MESSAGE_INTEGRITY
        })
    );
}

#[test]
fn rfc5769_sample_request_reports_ice_priority_as_unknown_comprehension_required() {
    let msg = Message::parse(RFC5769_REQUEST).unwrap();
    let unknown: Vec<AttrType> = msg.unknown_comprehension_required().collect();
    assert_eq!(unknown, [AttrType::new(0x0024)]);
}

#[test]
fn rfc5769_ipv4_response_maps_to_192_0_2_1_port_32853() {
    let msg = Message::parse(RFC5769_IPV4_RESPONSE).unwrap();
    assert_eq!(
        (msg.method(), msg.class()),
        (Method::BINDING, Class::Success)
    );
    assert_eq!(
        msg.attr::<Software>().unwrap().unwrap().as_str(),
        "test vector"
    );
    let mapped = msg.attr::<XorMappedAddress>().unwrap().unwrap();
    assert_eq!(mapped.0, "192.0.2.1:32853".parse().unwrap());
    msg.verify_integrity(SHORT_TERM_PASSWORD).unwrap();
    msg.verify_fingerprint().unwrap();
}

#[test]
fn rfc5769_ipv6_response_maps_to_2001_db8_port_32853() {
    let msg = Message::parse(RFC5769_IPV6_RESPONSE).unwrap();
    let mapped = msg.attr::<XorMappedAddress>().unwrap().unwrap();
    assert_eq!(
        mapped.0,
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap()
    );
    msg.verify_integrity(SHORT_TERM_PASSWORD).unwrap();
    msg.verify_fingerprint().unwrap();
}

#[test]
fn rfc5769_vectors_padded_with_spaces_reencode_to_the_same_attributes() {
    // RFC 5769 §2.1-2.3 pad with 0x20; this encoder pads with zeros (RFC 8489 §14),
    // so the HMAC and CRC differ but every attribute and both checks survive.
    for vector in [
        RFC5769_REQUEST,
        RFC5769_IPV4_RESPONSE,
        RFC5769_IPV6_RESPONSE,
    ] {
        let msg = Message::parse(vector).unwrap();
        let bytes = reencode(&msg, SHORT_TERM_PASSWORD);
        assert_eq!(bytes.len(), vector.len());
        let again = Message::parse(&bytes).unwrap();
        assert_eq!(again.header(), msg.header());
        let values = |m: &Message<'_>| -> Vec<(AttrType, Vec<u8>)> {
            m.attributes()
                .filter(|a| {
                    a.attr_type != AttrType::MESSAGE_INTEGRITY
                        && a.attr_type != AttrType::FINGERPRINT
                })
                .map(|a| (a.attr_type, a.value.to_vec()))
                .collect()
        };
        assert_eq!(values(&again), values(&msg));
        again.verify_integrity(SHORT_TERM_PASSWORD).unwrap();
        again.verify_fingerprint().unwrap();
    }
}

#[test]
fn rfc5769_long_term_request_verifies_with_the_md5_key_and_reencodes_exactly() {
    let msg = Message::parse(RFC5769_LONG_TERM).unwrap();
    assert_eq!(msg.transaction_id(), TransactionId::new(LONG_TERM_TID));
    assert_eq!(
        msg.attr::<Username>().unwrap().unwrap().as_str(),
        LONG_TERM_USER
    );
    let nonce = msg.attr::<Nonce>().unwrap().unwrap();
    assert_eq!(nonce.as_str(), "f//499k954d6OL34oL9FSTvy64sA");
    assert_eq!(nonce.security_features(), None);
    assert_eq!(msg.attr::<Realm>().unwrap().unwrap().as_str(), REALM);
    assert!(!msg.has_fingerprint());
    msg.verify_integrity(&md5_key()).unwrap();
    assert_eq!(msg.verify_fingerprint(), Err(Error::MissingFingerprint));

    let mut buf = Vec::new();
    let mut enc = MessageEncoder::new(&mut buf, msg.message_type(), msg.transaction_id());
    enc.add(&Username::new(LONG_TERM_USER).unwrap()).unwrap();
    enc.add(&Nonce::new("f//499k954d6OL34oL9FSTvy64sA").unwrap())
        .unwrap();
    enc.add(&Realm::new(REALM).unwrap()).unwrap();
    enc.integrity(&md5_key()).unwrap();
    assert_eq!(enc.finish(), RFC5769_LONG_TERM);
}

#[test]
fn rfc8489_b1_request_verifies_sha256_integrity_and_userhash() {
    let msg = Message::parse(RFC8489_B1).unwrap();
    assert_eq!(msg.transaction_id(), TransactionId::new(LONG_TERM_TID));
    let userhash = msg.attr::<Userhash>().unwrap().unwrap();
    let expected: [u8; 32] = Sha256::digest(format!("{LONG_TERM_USER}:{REALM}")).into();
    assert_eq!(userhash, Userhash(expected));
    let nonce = msg.attr::<Nonce>().unwrap().unwrap();
    assert_eq!(nonce.as_str(), "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA");
    let features = nonce.security_features().unwrap();
    assert!(features.contains(SecurityFeatures::USERNAME_ANONYMITY));
    assert_eq!(msg.attr::<Realm>().unwrap().unwrap().as_str(), REALM);
    let alg = msg.attr::<PasswordAlgorithm>().unwrap().unwrap();
    assert_eq!(alg, PasswordAlgorithm::new(AlgorithmId::SHA256));
    msg.verify_integrity_sha256(&sha256_key()).unwrap();
    assert!(msg.verify_integrity_sha256(&md5_key()).is_err());
    assert_eq!(
        msg.verify_integrity(&sha256_key()),
        Err(Error::MissingIntegrity {
            attr: AttrType::MESSAGE_INTEGRITY
        })
    );

    let mut buf = Vec::new();
    let mut enc = MessageEncoder::new(&mut buf, msg.message_type(), msg.transaction_id());
    enc.add(&userhash).unwrap();
    enc.add(&nonce).unwrap();
    enc.add(&Realm::new(REALM).unwrap()).unwrap();
    enc.add(&alg).unwrap();
    enc.integrity_sha256(&sha256_key()).unwrap();
    assert_eq!(enc.finish(), RFC8489_B1);
}

#[test]
fn rfc8489_b1_as_published_is_rejected_with_its_transaction_id() {
    let err = Message::parse(RFC8489_B1_AS_PUBLISHED).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                declared: 0x9c,
                available: 136,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.transaction_id(),
        Some(TransactionId::new(LONG_TERM_TID))
    );
    assert_eq!(
        err.header().map(|h| h.message_type.class),
        Some(Class::Request)
    );
}

#[test]
fn tampering_with_any_byte_breaks_integrity_or_fingerprint() {
    for i in 0..RFC5769_IPV4_RESPONSE.len() {
        let mut bytes = RFC5769_IPV4_RESPONSE.to_vec();
        bytes[i] ^= 0x01;
        let Ok(msg) = Message::parse(&bytes) else {
            continue;
        };
        // Padding bytes are outside every value but inside the HMAC and CRC input.
        let integrity = msg.verify_integrity(SHORT_TERM_PASSWORD);
        let fingerprint = msg.verify_fingerprint();
        assert!(
            integrity.is_err() || fingerprint.is_err(),
            "flipping byte {i} went unnoticed"
        );
    }
}
