//! ERROR-CODE and UNKNOWN-ATTRIBUTES, the attributes of error responses (RFC 8489 §14.8, §14.13).

use super::text::{check_phrase, decode_phrase};
use super::{AttrType, Attribute};
use crate::error::Error;
use crate::header::TransactionId;
use crate::wire;

/// ERROR-CODE: a numeric code 300..=699 and a reason phrase (RFC 8489 §14.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode<'a> {
    code: u16,
    reason: &'a str,
}

impl ErrorCode<'static> {
    /// 300 Try Alternate (RFC 8489 §14.8).
    pub const TRY_ALTERNATE: u16 = 300;
    /// 400 Bad Request (RFC 8489 §14.8).
    pub const BAD_REQUEST: u16 = 400;
    /// 401 Unauthenticated (RFC 8489 §14.8).
    pub const UNAUTHENTICATED: u16 = 401;
    /// 403 Forbidden (RFC 8656 §19).
    pub const FORBIDDEN: u16 = 403;
    /// 405 Mobility Forbidden (RFC 8016 §3.4).
    pub const MOBILITY_FORBIDDEN: u16 = 405;
    /// 420 Unknown Attribute (RFC 8489 §14.8).
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;
    /// 437 Allocation Mismatch (RFC 8656 §19).
    pub const ALLOCATION_MISMATCH: u16 = 437;
    /// 438 Stale Nonce (RFC 8489 §14.8).
    pub const STALE_NONCE: u16 = 438;
    /// 440 Address Family not Supported (RFC 8656 §19).
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: u16 = 440;
    /// 441 Wrong Credentials (RFC 8656 §19).
    pub const WRONG_CREDENTIALS: u16 = 441;
    /// 442 Unsupported Transport Protocol (RFC 8656 §19).
    pub const UNSUPPORTED_TRANSPORT_PROTOCOL: u16 = 442;
    /// 443 Peer Address Family Mismatch (RFC 8656 §19).
    pub const PEER_ADDRESS_FAMILY_MISMATCH: u16 = 443;
    /// 446 Connection Already Exists (RFC 6062 §6.3).
    pub const CONNECTION_ALREADY_EXISTS: u16 = 446;
    /// 447 Connection Timeout or Failure (RFC 6062 §6.3).
    pub const CONNECTION_TIMEOUT_OR_FAILURE: u16 = 447;
    /// 486 Allocation Quota Reached (RFC 8656 §19).
    pub const ALLOCATION_QUOTA_REACHED: u16 = 486;
    /// 500 Server Error (RFC 8489 §14.8).
    pub const SERVER_ERROR: u16 = 500;
    /// 508 Insufficient Capacity (RFC 8656 §19).
    pub const INSUFFICIENT_CAPACITY: u16 = 508;

    /// An error code with its recommended reason phrase, or an empty phrase
    /// for codes this crate does not name.
    pub fn from_code(code: u16) -> Result<Self, Error> {
        ErrorCode::new(code, recommended_reason(code).unwrap_or(""))
    }
}

/// The reason phrase the RFCs recommend for a code.
pub fn recommended_reason(code: u16) -> Option<&'static str> {
    Some(match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        405 => "Mobility Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        446 => "Connection Already Exists",
        447 => "Connection Timeout or Failure",
        486 => "Allocation Quota Reached",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => return None,
    })
}

impl<'a> ErrorCode<'a> {
    /// A code in 300..=699 with a reason phrase of fewer than 128 characters.
    pub fn new(code: u16, reason: &'a str) -> Result<Self, Error> {
        split_code(code)?;
        check_phrase(AttrType::ERROR_CODE, reason)?;
        Ok(Self { code, reason })
    }

    /// The numeric code, e.g. 401.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason phrase, for diagnostics only.
    pub fn reason(&self) -> &'a str {
        self.reason
    }
}

/// Splits a code into the class (hundreds) and number (modulo 100) fields.
pub(crate) fn split_code(code: u16) -> Result<(u8, u8), Error> {
    let class = u8::try_from(code / 100).unwrap_or(u8::MAX);
    let number = (code % 100) as u8;
    if (3..=6).contains(&class) {
        Ok((class, number))
    } else {
        Err(Error::ErrorCodeRange { class, number })
    }
}

/// Joins the class (low 3 bits of `class_byte`) and number fields into a code.
pub(crate) fn join_code(class_byte: u8, number: u8) -> Result<u16, Error> {
    let class = class_byte & 0x07;
    if (3..=6).contains(&class) && number <= 99 {
        Ok(u16::from(class) * 100 + u16::from(number))
    } else {
        Err(Error::ErrorCodeRange { class, number })
    }
}

impl<'a> Attribute<'a> for ErrorCode<'a> {
    const TYPE: AttrType = AttrType::ERROR_CODE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [_, _, class, number] = wire::array::<4>(value, 0).ok_or(Error::AttributeLength {
            attr: Self::TYPE,
            len: value.len(),
        })?;
        let code = join_code(class, number)?;
        let reason = decode_phrase(Self::TYPE, value.get(4..).unwrap_or_default())?;
        Ok(Self { code, reason })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        let class = (self.code / 100) as u8;
        let number = (self.code % 100) as u8;
        out.extend_from_slice(&[0, 0, class, number]);
        out.extend_from_slice(self.reason.as_bytes());
    }
}

#[derive(Clone, Copy, Debug)]
enum Repr<'a> {
    Wire(&'a [u8]),
    List(&'a [AttrType]),
}

/// UNKNOWN-ATTRIBUTES: the comprehension-required types a 420 response rejects (RFC 8489 §14.13).
#[derive(Clone, Copy, Debug)]
pub struct UnknownAttributes<'a>(Repr<'a>);

impl<'a> UnknownAttributes<'a> {
    /// Lists the given attribute types, for example those from
    /// [`Message::unknown_comprehension_required`](crate::Message::unknown_comprehension_required).
    pub const fn new(types: &'a [AttrType]) -> Self {
        Self(Repr::List(types))
    }

    /// Iterates the listed types.
    pub fn iter(&self) -> UnknownAttributesIter<'a> {
        match self.0 {
            Repr::Wire(bytes) => UnknownAttributesIter(IterRepr::Wire(bytes.chunks_exact(2))),
            Repr::List(list) => UnknownAttributesIter(IterRepr::List(list.iter())),
        }
    }
}

impl PartialEq for UnknownAttributes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnknownAttributes<'_> {}

impl<'a> Attribute<'a> for UnknownAttributes<'a> {
    const TYPE: AttrType = AttrType::UNKNOWN_ATTRIBUTES;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        if !value.len().is_multiple_of(2) {
            return Err(Error::AttributeLength {
                attr: Self::TYPE,
                len: value.len(),
            });
        }
        Ok(Self(Repr::Wire(value)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        for t in self.iter() {
            out.extend_from_slice(&t.value().to_be_bytes());
        }
    }
}

#[derive(Clone, Debug)]
enum IterRepr<'a> {
    Wire(std::slice::ChunksExact<'a, u8>),
    List(std::slice::Iter<'a, AttrType>),
}

/// Iterator over [`UnknownAttributes`].
#[derive(Clone, Debug)]
pub struct UnknownAttributesIter<'a>(IterRepr<'a>);

impl Iterator for UnknownAttributesIter<'_> {
    type Item = AttrType;

    fn next(&mut self) -> Option<AttrType> {
        match &mut self.0 {
            IterRepr::Wire(chunks) => chunks
                .next()
                .and_then(|c| wire::be16(c, 0))
                .map(AttrType::new),
            IterRepr::List(iter) => iter.next().copied(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId::new([0; 12]);

    #[test]
    fn error_code_splits_class_and_number() {
        let mut out = Vec::new();
        ErrorCode::from_code(ErrorCode::STALE_NONCE)
            .unwrap()
            .encode(&TID, &mut out);
        assert_eq!(out, b"\x00\x00\x04\x26Stale Nonce");
        let decoded = ErrorCode::decode(&out, &TID).unwrap();
        assert_eq!((decoded.code(), decoded.reason()), (438, "Stale Nonce"));
    }

    #[test]
    fn reserved_bits_are_ignored_when_decoding() {
        let decoded = ErrorCode::decode(&[0xff, 0xff, 0xfc, 20], &TID).unwrap();
        assert_eq!(decoded.code(), 420);
    }

    #[test]
    fn codes_outside_300_to_699_are_rejected() {
        assert_eq!(
            ErrorCode::new(299, ""),
            Err(Error::ErrorCodeRange {
                class: 2,
                number: 99
            })
        );
        assert_eq!(
            ErrorCode::new(700, ""),
            Err(Error::ErrorCodeRange {
                class: 7,
                number: 0
            })
        );
        assert_eq!(
            ErrorCode::decode(&[0, 0, 4, 100], &TID),
            Err(Error::ErrorCodeRange {
                class: 4,
                number: 100
            })
        );
        assert!(ErrorCode::decode(&[0, 0, 4], &TID).is_err());
    }

    #[test]
    fn unknown_attributes_round_trip_and_reject_odd_lengths() {
        let types = [
            AttrType::new(0x0024),
            AttrType::new(0x7001),
            AttrType::new(0x0002),
        ];
        let mut out = Vec::new();
        UnknownAttributes::new(&types).encode(&TID, &mut out);
        assert_eq!(out, [0x00, 0x24, 0x70, 0x01, 0x00, 0x02]);
        let decoded = UnknownAttributes::decode(&out, &TID).unwrap();
        assert_eq!(decoded.iter().collect::<Vec<_>>(), types);
        assert!(UnknownAttributes::decode(&out[..5], &TID).is_err());
    }
}
