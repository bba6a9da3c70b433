//! The crate's one error type.

use crate::attr::AttrType;
use crate::header::{Header, TransactionId};

/// Everything that can go wrong while parsing, verifying or encoding.
///
/// Variants raised after the 20-byte header was understood carry that
/// [`Header`], so a server can still answer a malformed request with
/// 400 (Bad Request) and the right transaction id; see [`Error::header`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- message framing (RFC 8489 §5, §6) ----
    /// The buffer cannot even hold the 20-byte header.
    #[error("{len} bytes is shorter than the 20-byte STUN header")]
    TooShort {
        /// Bytes available.
        len: usize,
    },
    /// The two most significant bits are not zero, so this is not STUN.
    #[error("the two most significant bits are not zero: not a STUN message")]
    NotStun,
    /// The magic cookie is wrong (for example an RFC 3489 message).
    #[error("magic cookie {found:#010x} is not 0x2112a442")]
    BadMagicCookie {
        /// The value found in bytes 4..8.
        found: u32,
    },
    /// The header's length field is not a multiple of 4.
    #[error("header length {declared} is not a multiple of 4")]
    UnalignedLength {
        /// The header as far as it could be read.
        header: Header,
        /// The length field.
        declared: usize,
    },
    /// The header's length field disagrees with the bytes present.
    #[error("header declares {declared} bytes after the header but {available} are present")]
    LengthMismatch {
        /// The header as far as it could be read.
        header: Header,
        /// The length field.
        declared: usize,
        /// Bytes present after the header.
        available: usize,
    },
    /// An attribute's length runs past the end of the message.
    #[error("attribute {attr:?} at offset {offset} runs past the end of the message")]
    AttributeOverrun {
        /// The header as far as it could be read.
        header: Header,
        /// The attribute's type.
        attr: AttrType,
        /// Offset of the attribute header within the message.
        offset: usize,
    },
    /// An attribute follows FINGERPRINT, which must be last (RFC 8489 §14.7).
    #[error("attribute {attr:?} follows FINGERPRINT, which must be the last attribute")]
    FingerprintNotLast {
        /// The header as far as it could be read.
        header: Header,
        /// The attribute found after FINGERPRINT.
        attr: AttrType,
    },
    /// MESSAGE-INTEGRITY(-SHA256) or FINGERPRINT has a length its definition forbids.
    #[error("{attr:?} has a length of {len} bytes, which its definition forbids")]
    TrailerLength {
        /// The header as far as it could be read.
        header: Header,
        /// Which trailer attribute.
        attr: AttrType,
        /// Its length field.
        len: usize,
    },

    // ---- attribute values ----
    /// A fixed-size attribute has the wrong length.
    #[error("{attr:?} value of {len} bytes has the wrong length")]
    AttributeLength {
        /// The attribute's type.
        attr: AttrType,
        /// Its value length.
        len: usize,
    },
    /// An address family other than 0x01 (IPv4) or 0x02 (IPv6).
    #[error("{attr:?} has unknown address family {family:#04x}")]
    AddressFamily {
        /// The attribute's type.
        attr: AttrType,
        /// The family byte.
        family: u8,
    },
    /// Text that must be UTF-8 is not.
    #[error("{attr:?} is not valid UTF-8")]
    NotUtf8 {
        /// The attribute's type.
        attr: AttrType,
    },
    /// Text longer than its definition allows.
    #[error("{attr:?} of {len} bytes is longer than allowed")]
    TextTooLong {
        /// The attribute's type.
        attr: AttrType,
        /// Its length in bytes.
        len: usize,
    },
    /// ALTERNATE-DOMAIN is not a plausible DNS name (RFC 8489 §14.16).
    #[error("ALTERNATE-DOMAIN is not a DNS name of at most 255 ASCII characters")]
    InvalidDomain,
    /// An error code outside 300..=699, or a number above 99 (RFC 8489 §14.8).
    #[error("error code class {class} number {number} is out of range")]
    ErrorCodeRange {
        /// Hundreds digit.
        class: u8,
        /// Code modulo 100.
        number: u8,
    },
    /// A channel number outside 0x4000..=0x7FFF (RFC 5766 §11, RFC 8656 §12).
    #[error("channel number {number:#06x} is outside 0x4000..=0x7fff")]
    InvalidChannelNumber {
        /// The number found.
        number: u16,
    },

    // ---- integrity and fingerprint (RFC 8489 §14.5-§14.7) ----
    /// The message carries no integrity attribute of the requested kind.
    #[error("message has no {attr:?} attribute")]
    MissingIntegrity {
        /// MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
        attr: AttrType,
    },
    /// The HMAC does not match: wrong key or tampered message.
    #[error("{attr:?} does not match")]
    IntegrityMismatch {
        /// MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
        attr: AttrType,
    },
    /// A truncated MESSAGE-INTEGRITY-SHA256 is shorter than the caller accepts.
    #[error("MESSAGE-INTEGRITY-SHA256 of {len} bytes is shorter than the required {min}")]
    IntegrityTruncated {
        /// Length received.
        len: usize,
        /// Minimum accepted.
        min: usize,
    },
    /// A truncation length other than 16..=32 in steps of 4 was requested.
    #[error("MESSAGE-INTEGRITY-SHA256 length {len} is not 16..=32 in steps of 4")]
    InvalidTruncation {
        /// The requested length.
        len: usize,
    },
    /// The HMAC implementation refused the key.
    #[error("HMAC key rejected")]
    InvalidKey,
    /// The message carries no FINGERPRINT.
    #[error("message has no FINGERPRINT attribute")]
    MissingFingerprint,
    /// The CRC-32 does not match.
    #[error("FINGERPRINT does not match")]
    FingerprintMismatch,

    // ---- encoding ----
    /// The message would exceed the 16-bit length field.
    #[error("message body of {len} bytes exceeds the STUN maximum")]
    MessageTooLong {
        /// Body length that was refused.
        len: usize,
    },
    /// An attribute value longer than 65535 bytes.
    #[error("{attr:?} value of {len} bytes exceeds 65535")]
    AttributeTooLong {
        /// The attribute's type.
        attr: AttrType,
        /// Its length.
        len: usize,
    },
    /// An attribute was added after integrity or fingerprint, where it is not allowed.
    #[error("{attr:?} cannot be added after MESSAGE-INTEGRITY or FINGERPRINT")]
    AttributeOrder {
        /// The attribute refused.
        attr: AttrType,
    },

    // ---- ChannelData and stream framing (RFC 8656 §12.4, §12.5) ----
    /// A ChannelData message whose length field disagrees with the bytes present.
    #[error("ChannelData declares {declared} bytes of data but the buffer holds {available}")]
    ChannelDataLength {
        /// The length field.
        declared: usize,
        /// Bytes present after the 4-byte header.
        available: usize,
    },
    /// A frame on a stream is larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Frame length announced by its header.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A stream carries a frame that is neither STUN nor ChannelData.
    #[error("frame starting with {first_byte:#04x} is neither STUN nor ChannelData")]
    UnknownFrame {
        /// The first byte of the frame.
        first_byte: u8,
    },
}

impl Error {
    /// The header of the message that failed, when it could be read.
    ///
    /// If this is `Some` and the class is [`Class::Request`](crate::Class::Request),
    /// RFC 8489 §6.3.1 says to answer with error 400.
    pub fn header(&self) -> Option<Header> {
        match self {
            Error::UnalignedLength { header, .. }
            | Error::LengthMismatch { header, .. }
            | Error::AttributeOverrun { header, .. }
            | Error::FingerprintNotLast { header, .. }
            | Error::TrailerLength { header, .. } => Some(*header),
            _ => None,
        }
    }

    /// The transaction id of the message that failed, when it could be read.
    pub fn transaction_id(&self) -> Option<TransactionId> {
        self.header().map(|h| h.transaction_id)
    }
}
