//! Writing STUN messages into a caller-provided, reusable buffer (RFC 8489 §5, §14).

use crate::attr::{AttrType, Attribute};
use crate::error::Error;
use crate::header::{MessageType, TransactionId, HEADER_LEN, MAGIC_COOKIE, MAX_BODY_LEN};
use crate::integrity::{self, INTEGRITY_LEN, INTEGRITY_SHA256_LEN, INTEGRITY_SHA256_MIN_LEN};
use crate::wire::pad4;

/// Where the encoder is in the fixed attribute order of RFC 8489 §14.5-§14.7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Attributes,
    AfterIntegrity,
    AfterIntegritySha256,
    Done,
}

/// Appends one STUN message to a `Vec<u8>`.
///
/// The header's length field is correct after every call, padding is
/// written as zeros, and every byte of the output is written by the
/// encoder: nothing uninitialised or left over from a previous message
/// can leak (the class of bug behind coturn's CVE-2020-4067).
///
/// Order is enforced: ordinary attributes, then optionally
/// MESSAGE-INTEGRITY, then optionally MESSAGE-INTEGRITY-SHA256, then
/// optionally FINGERPRINT. A call that would break the order or the size
/// limits returns an error and leaves the message as it was.
///
/// ```
/// use rtc_stun::{attr::XorMappedAddress, Class, MessageEncoder, MessageType, Method, TransactionId};
///
/// let mut buf = Vec::new();
/// let tid = TransactionId::new([1; 12]);
/// let mut enc = MessageEncoder::new(&mut buf, MessageType::new(Method::BINDING, Class::Success), tid);
/// enc.add(&XorMappedAddress("192.0.2.1:32853".parse().unwrap()))?;
/// enc.integrity(b"password")?.fingerprint()?;
/// let bytes = enc.finish();
/// assert_eq!(bytes.len(), 20 + 12 + 24 + 8);
/// # Ok::<(), rtc_stun::Error>(())
/// ```
#[derive(Debug)]
pub struct MessageEncoder<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
    transaction_id: TransactionId,
    stage: Stage,
}

impl<'b> MessageEncoder<'b> {
    /// Appends a header to `buf`; existing contents are kept (call
    /// `buf.clear()` first to reuse the allocation for a new message).
    pub fn new(
        buf: &'b mut Vec<u8>,
        message_type: MessageType,
        transaction_id: TransactionId,
    ) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&message_type.to_wire().to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(transaction_id.as_bytes());
        Self {
            buf,
            start,
            transaction_id,
            stage: Stage::Attributes,
        }
    }

    /// Length of the message so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Always false: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends a typed attribute.
    pub fn add<'x, A: Attribute<'x>>(&mut self, attr: &A) -> Result<&mut Self, Error> {
        let tid = self.transaction_id;
        self.append(A::TYPE, |out| attr.encode(&tid, out))?;
        Ok(self)
    }

    /// Appends an attribute value as given, for types without a typed view.
    ///
    /// MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT values are copied too
    /// (their lengths are checked, their contents are not); use
    /// [`integrity`](Self::integrity) and friends to compute them.
    pub fn add_raw(&mut self, attr: AttrType, value: &[u8]) -> Result<&mut Self, Error> {
        let len = value.len();
        let ok = match attr {
            AttrType::MESSAGE_INTEGRITY => len == INTEGRITY_LEN,
            AttrType::MESSAGE_INTEGRITY_SHA256 => valid_sha256_len(len),
            AttrType::FINGERPRINT => len == 4,
            _ => true,
        };
        if !ok {
            return Err(Error::AttributeLength { attr, len });
        }
        self.append(attr, |out| out.extend_from_slice(value))?;
        Ok(self)
    }

    /// Appends MESSAGE-INTEGRITY: HMAC-SHA1 keyed with `key` (RFC 8489 §14.5).
    pub fn integrity(&mut self, key: &[u8]) -> Result<&mut Self, Error> {
        let attr = AttrType::MESSAGE_INTEGRITY;
        let mac = integrity::hmac_sha1(
            key,
            self.prefix(attr, INTEGRITY_LEN)?,
            self.body_len_with(INTEGRITY_LEN),
        )?;
        self.append(attr, |out| out.extend_from_slice(&mac))?;
        Ok(self)
    }

    /// Appends a full 32-byte MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
    pub fn integrity_sha256(&mut self, key: &[u8]) -> Result<&mut Self, Error> {
        self.integrity_sha256_truncated(key, INTEGRITY_SHA256_LEN)
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 truncated to `len` bytes: 16..=32 in
    /// steps of 4, and only where the STUN usage allows it (RFC 8489 §14.6).
    pub fn integrity_sha256_truncated(
        &mut self,
        key: &[u8],
        len: usize,
    ) -> Result<&mut Self, Error> {
        if !valid_sha256_len(len) {
            return Err(Error::InvalidTruncation { len });
        }
        let attr = AttrType::MESSAGE_INTEGRITY_SHA256;
        let mac = integrity::hmac_sha256(key, self.prefix(attr, len)?, self.body_len_with(len))?;
        let mac = mac.get(..len).unwrap_or_default();
        self.append(attr, |out| out.extend_from_slice(mac))?;
        Ok(self)
    }

    /// Appends FINGERPRINT, which must be the last attribute (RFC 8489 §14.7).
    pub fn fingerprint(&mut self) -> Result<&mut Self, Error> {
        let attr = AttrType::FINGERPRINT;
        self.prefix(attr, 4)?;
        // The CRC covers the header with its final length, FINGERPRINT included.
        self.set_body_len(self.body_len_with(4));
        let crc = integrity::fingerprint(self.buf.get(self.start..).unwrap_or_default());
        self.append(attr, |out| out.extend_from_slice(&crc.to_be_bytes()))?;
        Ok(self)
    }

    /// Ends the message and returns its bytes (without what `buf` held before).
    pub fn finish(self) -> &'b [u8] {
        let start = self.start;
        let buf: &'b Vec<u8> = self.buf;
        buf.get(start..).unwrap_or_default()
    }

    fn body_len_with(&self, value_len: usize) -> usize {
        self.len() - HEADER_LEN + 4 + pad4(value_len)
    }

    fn set_body_len(&mut self, body_len: usize) {
        let len = u16::try_from(body_len).unwrap_or(u16::MAX).to_be_bytes();
        if let Some(field) = self.buf.get_mut(self.start + 2..self.start + 4) {
            field.copy_from_slice(&len);
        }
    }

    /// Checks that a trailer attribute may come next and fits, and returns
    /// the message so far for hashing.
    fn prefix(&self, attr: AttrType, value_len: usize) -> Result<&[u8], Error> {
        self.next_stage(attr)?;
        let body = self.body_len_with(value_len);
        if body > MAX_BODY_LEN {
            return Err(Error::MessageTooLong { len: body });
        }
        Ok(self.buf.get(self.start..).unwrap_or_default())
    }

    fn next_stage(&self, attr: AttrType) -> Result<Stage, Error> {
        match (self.stage, attr) {
            (Stage::Done, _) => Err(Error::AttributeOrder { attr }),
            (_, AttrType::FINGERPRINT) => Ok(Stage::Done),
            (Stage::Attributes | Stage::AfterIntegrity, AttrType::MESSAGE_INTEGRITY_SHA256) => {
                Ok(Stage::AfterIntegritySha256)
            }
            (Stage::Attributes, AttrType::MESSAGE_INTEGRITY) => Ok(Stage::AfterIntegrity),
            (Stage::Attributes, _) => Ok(Stage::Attributes),
            _ => Err(Error::AttributeOrder { attr }),
        }
    }

    /// Writes a TLV whose value `write` appends, then pads and fixes lengths;
    /// rolls back on any error.
    fn append(&mut self, attr: AttrType, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        let stage = self.next_stage(attr)?;
        let attr_start = self.buf.len();
        self.buf.extend_from_slice(&attr.value().to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        write(self.buf);
        let value_len = self.buf.len() - attr_start - 4;
        let body = attr_start + 4 + pad4(value_len) - self.start - HEADER_LEN;
        let value_len16 = match u16::try_from(value_len) {
            Err(_) => Err(Error::AttributeTooLong {
                attr,
                len: value_len,
            }),
            Ok(_) if body > MAX_BODY_LEN => Err(Error::MessageTooLong { len: body }),
            Ok(len) => Ok(len),
        };
        let value_len16 = match value_len16 {
            Ok(len) => len,
            Err(e) => {
                self.buf.truncate(attr_start);
                self.set_body_len(attr_start - self.start - HEADER_LEN);
                return Err(e);
            }
        };
        if let Some(field) = self.buf.get_mut(attr_start + 2..attr_start + 4) {
            field.copy_from_slice(&value_len16.to_be_bytes());
        }
        self.buf.resize(attr_start + 4 + pad4(value_len), 0);
        self.set_body_len(body);
        self.stage = stage;
        Ok(())
    }
}

fn valid_sha256_len(len: usize) -> bool {
    (INTEGRITY_SHA256_MIN_LEN..=INTEGRITY_SHA256_LEN).contains(&len) && len.is_multiple_of(4)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::attr::{Data, Software, Username};
    use crate::header::{Class, Method};
    use crate::message::Message;

    const TID: TransactionId = TransactionId::new([9; 12]);

    fn request(buf: &mut Vec<u8>) -> MessageEncoder<'_> {
        MessageEncoder::new(buf, MessageType::new(Method::ALLOCATE, Class::Request), TID)
    }

    #[test]
    fn output_pads_with_zeros_even_when_the_buffer_held_garbage() {
        let mut buf = vec![0xAA; 64];
        buf.clear();
        let mut enc = request(&mut buf);
        enc.add(&Username::new("bob").unwrap()).unwrap();
        let bytes = enc.finish();
        assert_eq!(&bytes[20..], b"\x00\x06\x00\x03bob\x00");
        assert_eq!(&bytes[2..4], [0, 8]);
    }

    #[test]
    fn appends_after_existing_content() {
        let mut buf = b"prefix".to_vec();
        let len = request(&mut buf).finish().len();
        assert_eq!(len, 20);
        assert_eq!(&buf[..6], b"prefix");
        assert!(Message::parse(&buf[6..]).is_ok());
    }

    #[test]
    fn attributes_cannot_follow_integrity_or_fingerprint() {
        let mut buf = Vec::new();
        let mut enc = request(&mut buf);
        enc.integrity(b"k").unwrap();
        let soft = Software::new("x").unwrap();
        assert_eq!(
            enc.add(&soft).unwrap_err(),
            Error::AttributeOrder {
                attr: AttrType::SOFTWARE
            }
        );
        assert!(enc.integrity(b"k").is_err());
        enc.integrity_sha256(b"k").unwrap().fingerprint().unwrap();
        assert!(enc.fingerprint().is_err());
        assert!(enc.integrity_sha256(b"k").is_err());
        let msg = Message::parse(enc.finish()).unwrap();
        msg.verify_integrity(b"k").unwrap();
        msg.verify_integrity_sha256(b"k").unwrap();
        msg.verify_fingerprint().unwrap();
    }

    #[test]
    fn oversized_attribute_is_refused_and_rolled_back() {
        let mut buf = Vec::new();
        let mut enc = request(&mut buf);
        let big = vec![0u8; 70_000];
        assert_eq!(
            enc.add(&Data(&big)).unwrap_err(),
            Error::AttributeTooLong {
                attr: AttrType::DATA,
                len: 70_000
            }
        );
        let fits = vec![0u8; MAX_BODY_LEN - 4];
        enc.add(&Data(&fits)).unwrap();
        assert_eq!(enc.len(), 20 + MAX_BODY_LEN);
        assert_eq!(
            enc.add(&Data(b"")).unwrap_err(),
            Error::MessageTooLong {
                len: MAX_BODY_LEN + 4
            }
        );
        assert!(enc.fingerprint().is_err());
        let bytes = enc.finish();
        assert_eq!(bytes.len(), 20 + MAX_BODY_LEN);
        assert!(Message::parse(bytes).is_ok());
    }

    #[test]
    fn truncated_sha256_integrity_lengths_are_checked() {
        let mut buf = Vec::new();
        let mut enc = request(&mut buf);
        for bad in [0, 12, 18, 36] {
            assert_eq!(
                enc.integrity_sha256_truncated(b"k", bad).unwrap_err(),
                Error::InvalidTruncation { len: bad }
            );
        }
        enc.integrity_sha256_truncated(b"k", 16).unwrap();
        let msg = Message::parse(enc.finish()).unwrap();
        assert_eq!(
            msg.verify_integrity_sha256(b"k"),
            Err(Error::IntegrityTruncated { len: 16, min: 32 })
        );
        msg.verify_integrity_sha256_truncated(b"k", 16).unwrap();
        assert!(msg.verify_integrity_sha256_truncated(b"other", 16).is_err());
    }

    #[test]
    fn raw_trailers_must_have_their_defined_lengths() {
        let mut buf = Vec::new();
        let mut enc = request(&mut buf);
        assert!(enc.add_raw(AttrType::MESSAGE_INTEGRITY, &[0; 19]).is_err());
        assert!(enc.add_raw(AttrType::FINGERPRINT, &[0; 3]).is_err());
        enc.add_raw(AttrType::new(0x7777), b"anything").unwrap();
    }
}
