//! Zero-copy parsing of STUN messages (RFC 8489 §5, §6, §14).

use crate::attr::{AttrType, Attribute};
use crate::error::Error;
use crate::header::{Class, Header, MessageType, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};
use crate::wire;

/// A STUN message that borrows the buffer it was parsed from.
///
/// [`Message::parse`] walks the attributes once, checking every length,
/// and never allocates. Afterwards attribute access cannot fail on framing;
/// only the typed decoding of one value can.
///
/// Attributes that follow MESSAGE-INTEGRITY (other than
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT), or follow
/// MESSAGE-INTEGRITY-SHA256 (other than FINGERPRINT), are not covered by
/// the HMAC and are hidden from every accessor, as RFC 8489 §14.5 and
/// §14.6 require.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    header: Header,
    pub(crate) integrity: Option<usize>,
    pub(crate) integrity_sha256: Option<usize>,
    pub(crate) fingerprint: Option<usize>,
}

/// One attribute as found on the wire: its type and its unpadded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The attribute type.
    pub attr_type: AttrType,
    /// The value, without padding.
    pub value: &'a [u8],
}

/// Which attributes still count after the integrity attributes (RFC 8489 §14.5, §14.6).
#[derive(Clone, Copy, Debug, Default)]
struct Visibility {
    after_integrity: bool,
    after_integrity_sha256: bool,
}

impl Visibility {
    /// Whether an attribute of type `t` at the current position is processed,
    /// updating the state for the ones that follow.
    fn admit(&mut self, t: AttrType) -> bool {
        match t {
            AttrType::FINGERPRINT => true,
            AttrType::MESSAGE_INTEGRITY_SHA256 if !self.after_integrity_sha256 => {
                self.after_integrity_sha256 = true;
                true
            }
            AttrType::MESSAGE_INTEGRITY
                if !self.after_integrity && !self.after_integrity_sha256 =>
            {
                self.after_integrity = true;
                true
            }
            _ => !self.after_integrity && !self.after_integrity_sha256,
        }
    }
}

/// Reads the TLV header at `offset`: type, value length, and end including padding.
fn tlv(buf: &[u8], offset: usize) -> Option<(AttrType, usize, usize)> {
    let t = AttrType::new(wire::be16(buf, offset)?);
    let len = usize::from(wire::be16(buf, offset + 2)?);
    let end = offset + 4 + wire::pad4(len);
    (end <= buf.len()).then_some((t, len, end))
}

impl<'a> Message<'a> {
    /// Parses a message that fills `buf` exactly, as a UDP datagram does.
    ///
    /// On streams, cut the frame first with [`StreamFramer`](crate::StreamFramer).
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let head = wire::array::<HEADER_LEN>(buf, 0).ok_or(Error::TooShort { len: buf.len() })?;
        let [t0, t1, l0, l1, c0, c1, c2, c3, id @ ..] = head;
        let raw_type = u16::from_be_bytes([t0, t1]);
        if raw_type & 0xC000 != 0 {
            return Err(Error::NotStun);
        }
        let cookie = u32::from_be_bytes([c0, c1, c2, c3]);
        if cookie != MAGIC_COOKIE {
            return Err(Error::BadMagicCookie { found: cookie });
        }
        let header = Header {
            message_type: MessageType::from_wire(raw_type),
            transaction_id: TransactionId::new(id),
        };
        let declared = usize::from(u16::from_be_bytes([l0, l1]));
        if !declared.is_multiple_of(4) {
            return Err(Error::UnalignedLength { header, declared });
        }
        let available = buf.len() - HEADER_LEN;
        if declared != available {
            return Err(Error::LengthMismatch {
                header,
                declared,
                available,
            });
        }

        let mut msg = Message {
            buf,
            header,
            integrity: None,
            integrity_sha256: None,
            fingerprint: None,
        };
        let mut vis = Visibility::default();
        let mut offset = HEADER_LEN;
        while offset < buf.len() {
            let attr = AttrType::new(wire::be16(buf, offset).unwrap_or_default());
            let (attr, len, end) = tlv(buf, offset).ok_or(Error::AttributeOverrun {
                header,
                attr,
                offset,
            })?;
            if msg.fingerprint.is_some() {
                return Err(Error::FingerprintNotLast { header, attr });
            }
            // `admit` lets through only the first MESSAGE-INTEGRITY(-SHA256).
            if vis.admit(attr) {
                let trailer_ok = match attr {
                    AttrType::MESSAGE_INTEGRITY => {
                        msg.integrity = Some(offset);
                        len == 20
                    }
                    AttrType::MESSAGE_INTEGRITY_SHA256 => {
                        msg.integrity_sha256 = Some(offset);
                        (16..=32).contains(&len) && len.is_multiple_of(4)
                    }
                    AttrType::FINGERPRINT => {
                        msg.fingerprint = Some(offset);
                        len == 4
                    }
                    _ => true,
                };
                if !trailer_ok {
                    return Err(Error::TrailerLength { header, attr, len });
                }
            }
            offset = end;
        }
        Ok(msg)
    }

    /// The header: message type and transaction id.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Method and class.
    pub fn message_type(&self) -> MessageType {
        self.header.message_type
    }

    /// The method, e.g. [`Method::ALLOCATE`].
    pub fn method(&self) -> Method {
        self.header.message_type.method
    }

    /// The class, e.g. [`Class::Request`].
    pub fn class(&self) -> Class {
        self.header.message_type.class
    }

    /// The transaction id to echo in a response.
    pub fn transaction_id(&self) -> TransactionId {
        self.header.transaction_id
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Iterates the processed attributes in wire order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            offset: HEADER_LEN,
            vis: Visibility::default(),
        }
    }

    /// The value of the first processed attribute of type `t`.
    pub fn raw(&self, t: AttrType) -> Option<&'a [u8]> {
        self.attributes()
            .find(|a| a.attr_type == t)
            .map(|a| a.value)
    }

    /// Decodes the first attribute of type `A::TYPE`; later duplicates are
    /// ignored, as RFC 8489 §14 allows.
    pub fn attr<A: Attribute<'a>>(&self) -> Result<Option<A>, Error> {
        match self.raw(A::TYPE) {
            Some(value) => A::decode(value, &self.header.transaction_id).map(Some),
            None => Ok(None),
        }
    }

    /// Comprehension-required attributes this crate does not know: a
    /// request carrying any must be answered with 420 and an
    /// [`UnknownAttributes`](crate::attr::UnknownAttributes) list (RFC 8489 §6.3.1).
    ///
    /// A server that understands fewer types than this crate names should
    /// filter [`Message::attributes`] with its own list instead.
    pub fn unknown_comprehension_required(&self) -> impl Iterator<Item = AttrType> + 'a {
        self.attributes()
            .map(|a| a.attr_type)
            .filter(|t| t.is_comprehension_required() && !t.is_known())
    }

    /// Whether a MESSAGE-INTEGRITY attribute is present.
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// Whether a MESSAGE-INTEGRITY-SHA256 attribute is present.
    pub fn has_integrity_sha256(&self) -> bool {
        self.integrity_sha256.is_some()
    }

    /// Whether a FINGERPRINT attribute is present.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }
}

/// Iterator over the processed attributes of a [`Message`].
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    offset: usize,
    vis: Visibility,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            // `Message::parse` validated every TLV, so `None` only ends iteration.
            let (attr_type, len, end) = tlv(self.buf, self.offset)?;
            let value = self.buf.get(self.offset + 4..self.offset + 4 + len)?;
            self.offset = end;
            if self.vis.admit(attr_type) {
                return Some(RawAttribute { attr_type, value });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn message(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut buf = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        buf.extend_from_slice(&[7; 12]);
        for (t, v) in attrs {
            buf.extend_from_slice(&t.to_be_bytes());
            buf.extend_from_slice(&(v.len() as u16).to_be_bytes());
            buf.extend_from_slice(v);
            buf.resize(wire::pad4(buf.len()), 0);
        }
        let len = (buf.len() - HEADER_LEN) as u16;
        buf[2..4].copy_from_slice(&len.to_be_bytes());
        buf
    }

    fn header() -> Header {
        Header {
            message_type: MessageType::new(Method::BINDING, Class::Request),
            transaction_id: TransactionId::new([7; 12]),
        }
    }

    #[test]
    fn header_errors_come_before_the_transaction_id_is_trusted() {
        let good = message(&[]);
        assert_eq!(
            Message::parse(&good[..19]).unwrap_err(),
            Error::TooShort { len: 19 }
        );
        let mut rtp = good.clone();
        rtp[0] = 0x80;
        assert_eq!(Message::parse(&rtp).unwrap_err(), Error::NotStun);
        let mut old = good.clone();
        old[4] = 0;
        let err = Message::parse(&old).unwrap_err();
        assert_eq!(err, Error::BadMagicCookie { found: 0x0012_a442 });
        assert_eq!(err.transaction_id(), None);
    }

    #[test]
    fn length_errors_keep_the_transaction_id_for_a_400_reply() {
        let mut buf = message(&[(0x8022, b"abcd")]);
        buf.push(0);
        let err = Message::parse(&buf).unwrap_err();
        assert_eq!(
            err,
            Error::LengthMismatch {
                header: header(),
                declared: 8,
                available: 9
            }
        );
        assert_eq!(err.transaction_id(), Some(TransactionId::new([7; 12])));
        buf[3] = 9;
        assert_eq!(
            Message::parse(&buf).unwrap_err(),
            Error::UnalignedLength {
                header: header(),
                declared: 9
            }
        );
    }

    #[test]
    fn attribute_running_past_the_end_is_an_overrun() {
        let mut buf = message(&[(0x0006, b"user")]);
        buf[23] = 5; // USERNAME claims 5 bytes, padding would need 8
        let err = Message::parse(&buf).unwrap_err();
        assert_eq!(
            err,
            Error::AttributeOverrun {
                header: header(),
                attr: AttrType::USERNAME,
                offset: 20
            }
        );
        assert!(err.header().is_some());
    }

    #[test]
    fn attributes_after_integrity_are_hidden_except_fingerprint() {
        let buf = message(&[
            (0x0006, b"user"),
            (0x0008, &[0; 20]),
            (0x0014, b"ignored"),
            (0x001C, &[0; 32]),
            (0x0008, &[0; 20]),
            (0x8028, &[0; 4]),
        ]);
        let msg = Message::parse(&buf).unwrap();
        let types: Vec<u16> = msg.attributes().map(|a| a.attr_type.value()).collect();
        assert_eq!(types, [0x0006, 0x0008, 0x001C, 0x8028]);
        assert_eq!(msg.raw(AttrType::REALM), None);
        assert!(msg.has_integrity() && msg.has_integrity_sha256() && msg.has_fingerprint());
    }

    #[test]
    fn fingerprint_must_be_last() {
        let buf = message(&[(0x8028, &[0; 4]), (0x8022, b"x")]);
        assert_eq!(
            Message::parse(&buf).unwrap_err(),
            Error::FingerprintNotLast {
                header: header(),
                attr: AttrType::SOFTWARE
            }
        );
    }

    #[test]
    fn trailer_attributes_with_wrong_lengths_are_rejected() {
        let cases: [(u16, &[u8]); 4] = [
            (0x0008, &[0; 19]),
            (0x001C, &[0; 12]),
            (0x001C, &[0; 18]),
            (0x8028, &[0; 8]),
        ];
        for (t, v) in cases {
            let buf = message(&[(t, v)]);
            let err = Message::parse(&buf).unwrap_err();
            assert_eq!(
                err,
                Error::TrailerLength {
                    header: header(),
                    attr: AttrType::new(t),
                    len: v.len()
                }
            );
        }
        assert!(Message::parse(&message(&[(0x001C, &[0; 16])]))
            .unwrap()
            .has_integrity_sha256());
    }

    #[test]
    fn unknown_comprehension_required_attributes_are_reported() {
        let buf = message(&[
            (0x0024, &[0; 4]),
            (0xC001, b"opt"),
            (0x0006, b"u"),
            (0x7FFF, b""),
        ]);
        let msg = Message::parse(&buf).unwrap();
        let unknown: Vec<u16> = msg
            .unknown_comprehension_required()
            .map(AttrType::value)
            .collect();
        assert_eq!(unknown, [0x0024, 0x7FFF]);
    }

    #[test]
    fn first_occurrence_of_a_duplicate_wins() {
        use crate::attr::Username;
        let buf = message(&[(0x0006, b"first"), (0x0006, b"second")]);
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.attr::<Username>().unwrap().unwrap().as_str(), "first");
        assert_eq!(msg.attr::<crate::attr::Realm>().unwrap(), None);
    }
}
