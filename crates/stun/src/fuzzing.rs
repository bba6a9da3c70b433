//! The body of the `stun_message` fuzz target, shared with stable unit tests.
//!
//! Panics (through `assert!`) when an invariant breaks; never on bad input.

use crate::attr::*;
use crate::channel_data::{ChannelData, ChannelNumber};
use crate::encoder::MessageEncoder;
use crate::framing::{classify, Framing, PacketKind, StreamFramer};
use crate::header::TransactionId;
use crate::message::Message;
use crate::Error;

/// Parses `data` every way this crate can and checks that whatever parses
/// re-encodes to something that parses back to the same meaning.
pub fn fuzz_roundtrip(data: &[u8]) {
    let _ = classify(data);
    message_roundtrip(data);
    channel_data_roundtrip(data);
    stream_framing(data);
}

fn message_roundtrip(data: &[u8]) {
    let msg = match Message::parse(data) {
        Ok(msg) => msg,
        Err(e) => {
            // Once the header is known, errors must say which message failed.
            if let Some(h) = e.header() {
                assert!(data.len() >= 20);
                assert_eq!(
                    h.transaction_id.as_bytes().as_slice(),
                    data.get(8..20).unwrap_or_default()
                );
            }
            return;
        }
    };
    let _ = msg.verify_integrity(b"key");
    let _ = msg.verify_integrity_sha256_truncated(b"key", 16);
    let _ = msg.verify_fingerprint();
    let _ = msg.unknown_comprehension_required().count();

    // Raw re-encoding keeps type, id and every processed attribute.
    let mut buf = Vec::new();
    let mut enc = MessageEncoder::new(&mut buf, msg.message_type(), msg.transaction_id());
    for a in msg.attributes() {
        assert!(
            enc.add_raw(a.attr_type, a.value).is_ok(),
            "re-adding {:?} failed",
            a.attr_type
        );
    }
    let again = Message::parse(enc.finish());
    assert!(
        again.is_ok(),
        "re-encoded message does not parse: {again:?}"
    );
    if let Ok(again) = again {
        assert_eq!(again.header(), msg.header());
        assert!(again.attributes().eq(msg.attributes()));
    }

    // Typed views that decode must re-encode to an equal value.
    let tid = msg.transaction_id();
    for a in msg.attributes() {
        typed_roundtrip(a.attr_type, a.value, &tid);
    }
}

fn typed_roundtrip(t: AttrType, value: &[u8], tid: &TransactionId) {
    macro_rules! check {
        ($($ty:ty),* $(,)?) => {
            $(if t == <$ty as Attribute>::TYPE {
                if let Ok(decoded) = <$ty>::decode(value, tid) {
                    let mut out = Vec::new();
                    decoded.encode(tid, &mut out);
                    let again = <$ty>::decode(&out, tid);
                    assert_eq!(again.as_ref(), Ok(&decoded), "{:?} did not round-trip", t);
                }
            })*
        };
    }
    check!(
        MappedAddress,
        XorMappedAddress,
        XorPeerAddress,
        XorRelayedAddress,
        AlternateServer,
        ResponseOrigin,
        OtherAddress,
        Username,
        Userhash,
        ErrorCode,
        Realm,
        Nonce,
        PasswordAlgorithms,
        PasswordAlgorithm,
        UnknownAttributes,
        Software,
        AlternateDomain,
        ChannelNumber,
        Lifetime,
        Data,
        RequestedAddressFamily,
        EvenPort,
        RequestedTransport,
        DontFragment,
        ReservationToken,
        AdditionalAddressFamily,
        AddressErrorCode,
        Icmp,
        ChangeRequest,
        ResponsePort,
        Padding,
        ConnectionId,
    );
    if t == AttrType::NONCE {
        if let Ok(nonce) = Nonce::decode(value, tid) {
            if let Some(features) = nonce.security_features() {
                let prefix = features.nonce_prefix();
                assert_eq!(SecurityFeatures::from_nonce(&prefix), Some(features));
            }
        }
    }
}

fn channel_data_roundtrip(data: &[u8]) {
    let Ok(cd) = ChannelData::parse(data) else {
        return;
    };
    let mut out = Vec::new();
    cd.encode_stream(&mut out);
    assert_eq!(ChannelData::parse(&out), Ok(cd));
    assert_eq!(
        StreamFramer::default().next_frame(&out),
        Framing::Complete {
            kind: PacketKind::ChannelData,
            len: out.len()
        }
    );
}

fn stream_framing(data: &[u8]) {
    let framer = StreamFramer::default();
    let mut rest = data;
    while let Framing::Complete { kind, len } = framer.next_frame(rest) {
        let (frame, tail) = rest.split_at(len.min(rest.len()));
        assert_eq!(frame.len(), len);
        match kind {
            PacketKind::Stun => {
                let parsed = Message::parse(frame);
                assert!(
                    !matches!(
                        parsed,
                        Err(Error::TooShort { .. } | Error::NotStun | Error::BadMagicCookie { .. })
                    ),
                    "framer accepted a frame the parser rejects as non-STUN: {parsed:?}"
                );
                assert!(
                    !matches!(
                        parsed,
                        Err(Error::LengthMismatch { .. } | Error::UnalignedLength { .. })
                    ),
                    "framer cut a STUN frame at the wrong length: {parsed:?}"
                );
            }
            PacketKind::ChannelData => assert!(ChannelData::parse(frame).is_ok()),
            PacketKind::Other => unreachable!("framer returned a frame of unknown kind"),
        }
        rest = tail;
    }
}
