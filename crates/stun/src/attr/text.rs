//! UTF-8 text attributes: USERNAME, REALM, NONCE, SOFTWARE and ALTERNATE-DOMAIN.
//!
//! Decoders accept what RFC 8489 says a receiver must parse (up to 763
//! bytes); constructors enforce what a sender may send (fewer than 509
//! bytes). No string preparation (OpaqueString, SASLprep) happens here:
//! callers compare and hash the bytes as received.

use super::auth::SecurityFeatures;
use super::{AttrType, Attribute};
use crate::error::Error;
use crate::header::TransactionId;

/// Longest text a receiver must accept (RFC 8489 §14.3, §14.8-§14.10, §14.14).
const MAX_DECODE_BYTES: usize = 763;
/// Senders must stay below this many bytes (RFC 8489 §14.3 and friends).
const MAX_ENCODE_BYTES: usize = 508;
/// REALM, NONCE, SOFTWARE and reason phrases have fewer than 128 characters.
const MAX_CHARS: usize = 127;

/// Validates UTF-8 and the byte and character limits of a text value.
pub(crate) fn text(
    attr: AttrType,
    value: &[u8],
    max_bytes: usize,
    max_chars: usize,
) -> Result<&str, Error> {
    if value.len() > max_bytes {
        return Err(Error::TextTooLong {
            attr,
            len: value.len(),
        });
    }
    let s = std::str::from_utf8(value).map_err(|_| Error::NotUtf8 { attr })?;
    // Each char is at least one byte, so only long strings need counting.
    if s.len() > max_chars && s.chars().count() > max_chars {
        return Err(Error::TextTooLong {
            attr,
            len: value.len(),
        });
    }
    Ok(s)
}

/// Limits shared by REALM, NONCE, SOFTWARE and the ERROR-CODE reason phrase.
pub(crate) fn decode_phrase(attr: AttrType, value: &[u8]) -> Result<&str, Error> {
    text(attr, value, MAX_DECODE_BYTES, MAX_CHARS)
}

/// The sender-side counterpart of [`decode_phrase`].
pub(crate) fn check_phrase(attr: AttrType, s: &str) -> Result<(), Error> {
    text(attr, s.as_bytes(), MAX_ENCODE_BYTES, MAX_CHARS).map(|_| ())
}

macro_rules! text_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr, decode: $decode:expr, check: $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name<'a>(&'a str);

        impl<'a> $name<'a> {
            /// Checks the sender-side limits of the RFC and wraps the text.
            pub fn new(value: &'a str) -> Result<Self, Error> {
                let check: fn(&str) -> Result<(), Error> = $check;
                check(value).map(|()| Self(value))
            }

            /// The text as received or given.
            pub fn as_str(&self) -> &'a str {
                self.0
            }
        }

        impl<'a> Attribute<'a> for $name<'a> {
            const TYPE: AttrType = $ty;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
                let decode: fn(&'a [u8]) -> Result<&'a str, Error> = $decode;
                decode(value).map(Self)
            }

            fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
                out.extend_from_slice(self.0.as_bytes());
            }
        }
    };
}

text_attribute!(
    /// USERNAME: who is authenticating, fewer than 509 bytes when sent (RFC 8489 §14.3).
    Username,
    AttrType::USERNAME,
    decode: |v| text(AttrType::USERNAME, v, MAX_DECODE_BYTES, usize::MAX),
    check: |s| text(AttrType::USERNAME, s.as_bytes(), MAX_ENCODE_BYTES, usize::MAX).map(|_| ())
);
text_attribute!(
    /// REALM: the long-term credential realm, fewer than 128 characters (RFC 8489 §14.9).
    Realm,
    AttrType::REALM,
    decode: |v| decode_phrase(AttrType::REALM, v),
    check: |s| check_phrase(AttrType::REALM, s)
);
text_attribute!(
    /// NONCE: the server's challenge, fewer than 128 characters (RFC 8489 §14.10).
    Nonce,
    AttrType::NONCE,
    decode: |v| decode_phrase(AttrType::NONCE, v),
    check: |s| check_phrase(AttrType::NONCE, s)
);
text_attribute!(
    /// SOFTWARE: the sender's product and version, fewer than 128 characters (RFC 8489 §14.14).
    Software,
    AttrType::SOFTWARE,
    decode: |v| decode_phrase(AttrType::SOFTWARE, v),
    check: |s| check_phrase(AttrType::SOFTWARE, s)
);
text_attribute!(
    /// ALTERNATE-DOMAIN: DNS name to verify ALTERNATE-SERVER over (D)TLS (RFC 8489 §14.16).
    AlternateDomain,
    AttrType::ALTERNATE_DOMAIN,
    decode: domain,
    check: |s| domain(s.as_bytes()).map(|_| ())
);

/// A DNS name of at most 255 ASCII characters: letters, digits, `-`, `_` and `.` only.
fn domain(value: &[u8]) -> Result<&str, Error> {
    let ok_byte = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if value.is_empty() || value.len() > 255 || !value.iter().all(ok_byte) {
        return Err(Error::InvalidDomain);
    }
    std::str::from_utf8(value).map_err(|_| Error::InvalidDomain)
}

impl Nonce<'_> {
    /// The security features announced by an RFC 8489 §9.2 nonce cookie.
    ///
    /// `None` if the nonce does not start with `"obMatJos2"` followed by four
    /// base64 characters, which means the server predates RFC 8489.
    pub fn security_features(&self) -> Option<SecurityFeatures> {
        SecurityFeatures::from_nonce(self.0.as_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId::new([0; 12]);

    #[test]
    fn decoders_accept_up_to_763_bytes_but_constructors_refuse_509() {
        let long = "é".repeat(254); // 508 bytes, 254 chars
        assert!(Username::new(&long).is_ok());
        let too_long = format!("{long}x");
        assert_eq!(
            Username::new(&too_long),
            Err(Error::TextTooLong {
                attr: AttrType::USERNAME,
                len: 509
            })
        );
        assert!(Username::decode(too_long.as_bytes(), &TID).is_ok());
        let huge = "a".repeat(764);
        assert!(Username::decode(huge.as_bytes(), &TID).is_err());
    }

    #[test]
    fn phrases_must_have_fewer_than_128_characters() {
        let ok = "€".repeat(127);
        assert_eq!(Realm::decode(ok.as_bytes(), &TID).unwrap().as_str(), ok);
        let bad = "€".repeat(128);
        assert_eq!(
            Realm::decode(bad.as_bytes(), &TID),
            Err(Error::TextTooLong {
                attr: AttrType::REALM,
                len: 384
            })
        );
        assert!(Software::new(&"a".repeat(128)).is_err());
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert_eq!(
            Nonce::decode(&[0xff, 0xfe], &TID),
            Err(Error::NotUtf8 {
                attr: AttrType::NONCE
            })
        );
    }

    #[test]
    fn alternate_domain_must_be_a_plain_ascii_name() {
        assert_eq!(
            AlternateDomain::new("turn2.example.org").unwrap().as_str(),
            "turn2.example.org"
        );
        for bad in ["", "exa mple.org", "exämple.org", &"a".repeat(256)] {
            assert_eq!(
                AlternateDomain::new(bad),
                Err(Error::InvalidDomain),
                "{bad:?}"
            );
        }
    }
}
