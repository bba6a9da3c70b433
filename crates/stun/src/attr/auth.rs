//! Long-term credential helpers: USERHASH, PASSWORD-ALGORITHM(S) and the nonce cookie.
//!
//! Key derivation from passwords is deliberately absent: the user database
//! owns credentials and hands this crate ready-made keys.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::{fixed, AttrType, Attribute};
use crate::error::Error;
use crate::header::TransactionId;
use crate::wire;

/// USERHASH: SHA-256 of `username ":" realm`, replacing USERNAME (RFC 8489 §14.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Userhash(pub [u8; 32]);

impl fmt::Debug for Userhash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Userhash(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl<'a> Attribute<'a> for Userhash {
    const TYPE: AttrType = AttrType::USERHASH;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        fixed::<32>(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// A password algorithm number from the IANA registry (RFC 8489 §18.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlgorithmId(pub u16);

impl AlgorithmId {
    /// MD5 key derivation, the RFC 5389 default (RFC 8489 §18.5.1.1).
    pub const MD5: Self = Self(0x0001);
    /// SHA-256 key derivation (RFC 8489 §18.5.1.2).
    pub const SHA256: Self = Self(0x0002);
}

/// PASSWORD-ALGORITHM: the algorithm the client chose, with its parameters (RFC 8489 §14.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PasswordAlgorithm<'a> {
    /// The algorithm number.
    pub algorithm: AlgorithmId,
    /// Algorithm parameters; empty for MD5 and SHA-256.
    pub params: &'a [u8],
}

impl<'a> PasswordAlgorithm<'a> {
    /// An algorithm without parameters.
    pub const fn new(algorithm: AlgorithmId) -> Self {
        Self {
            algorithm,
            params: &[],
        }
    }

    /// Reads one `algorithm | length | params | padding` entry; returns it and the bytes used.
    fn read(attr: AttrType, value: &'a [u8], at: usize) -> Result<(Self, usize), Error> {
        let bad_len = || Error::AttributeLength {
            attr,
            len: value.len(),
        };
        let algorithm = AlgorithmId(wire::be16(value, at).ok_or_else(bad_len)?);
        let len = usize::from(wire::be16(value, at + 2).ok_or_else(bad_len)?);
        let params = value.get(at + 4..at + 4 + len).ok_or_else(bad_len)?;
        // The last entry's padding may be left to the attribute padding.
        let used = (4 + wire::pad4(len)).min(value.len() - at);
        Ok((Self { algorithm, params }, used))
    }

    fn write(&self, out: &mut Vec<u8>, pad: bool) {
        out.extend_from_slice(&self.algorithm.0.to_be_bytes());
        // Parameters longer than 65535 bytes cannot be expressed; the encoder's
        // attribute length check rejects such a value before it reaches the wire.
        let len = u16::try_from(self.params.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.params);
        if pad {
            out.resize(
                out.len() + wire::pad4(self.params.len()) - self.params.len(),
                0,
            );
        }
    }
}

impl<'a> Attribute<'a> for PasswordAlgorithm<'a> {
    const TYPE: AttrType = AttrType::PASSWORD_ALGORITHM;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let (alg, used) = Self::read(Self::TYPE, value, 0)?;
        if used != value.len() {
            return Err(Error::AttributeLength {
                attr: Self::TYPE,
                len: value.len(),
            });
        }
        Ok(alg)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        self.write(out, false);
    }
}

#[derive(Clone, Copy, Debug)]
enum Repr<'a> {
    Wire(&'a [u8]),
    List(&'a [PasswordAlgorithm<'a>]),
}

/// PASSWORD-ALGORITHMS: the algorithms a server offers, in preference order (RFC 8489 §14.11).
#[derive(Clone, Copy, Debug)]
pub struct PasswordAlgorithms<'a>(Repr<'a>);

impl<'a> PasswordAlgorithms<'a> {
    /// Offers the given algorithms, most preferred first.
    pub const fn new(list: &'a [PasswordAlgorithm<'a>]) -> Self {
        Self(Repr::List(list))
    }

    /// Iterates the offered algorithms in order.
    pub fn iter(&self) -> PasswordAlgorithmsIter<'a> {
        match self.0 {
            Repr::Wire(bytes) => PasswordAlgorithmsIter(IterRepr::Wire(bytes, 0)),
            Repr::List(list) => PasswordAlgorithmsIter(IterRepr::List(list.iter())),
        }
    }
}

impl PartialEq for PasswordAlgorithms<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PasswordAlgorithms<'_> {}

impl<'a> Attribute<'a> for PasswordAlgorithms<'a> {
    const TYPE: AttrType = AttrType::PASSWORD_ALGORITHMS;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let mut at = 0;
        while at < value.len() {
            let (_, used) = PasswordAlgorithm::read(Self::TYPE, value, at)?;
            at += used;
        }
        Ok(Self(Repr::Wire(value)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        let mut iter = self.iter().peekable();
        while let Some(alg) = iter.next() {
            alg.write(out, iter.peek().is_some());
        }
    }
}

#[derive(Clone, Debug)]
enum IterRepr<'a> {
    Wire(&'a [u8], usize),
    List(std::slice::Iter<'a, PasswordAlgorithm<'a>>),
}

/// Iterator over [`PasswordAlgorithms`].
#[derive(Clone, Debug)]
pub struct PasswordAlgorithmsIter<'a>(IterRepr<'a>);

impl<'a> Iterator for PasswordAlgorithmsIter<'a> {
    type Item = PasswordAlgorithm<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Wire(bytes, at) => {
                // Already validated by `decode`; a failure here just ends iteration.
                let (alg, used) =
                    PasswordAlgorithm::read(AttrType::PASSWORD_ALGORITHMS, bytes, *at).ok()?;
                *at += used;
                Some(alg)
            }
            IterRepr::List(iter) => iter.next().copied(),
        }
    }
}

/// The prefix of a nonce that announces security features (RFC 8489 §9.2).
pub const NONCE_COOKIE: &[u8; 9] = b"obMatJos2";

/// The 24-bit STUN Security Features set carried by the nonce cookie (RFC 8489 §9.2, §18.1).
///
/// Bit 0 is the least significant bit, as corrected by verified erratum 6290.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SecurityFeatures(u32);

impl SecurityFeatures {
    /// Bit 0: the server supports PASSWORD-ALGORITHMS negotiation (RFC 8489 §9.2.1).
    pub const PASSWORD_ALGORITHMS: Self = Self(1 << 0);
    /// Bit 1: the server supports USERHASH in place of USERNAME (RFC 8489 §9.2.1).
    pub const USERNAME_ANONYMITY: Self = Self(1 << 1);

    /// Builds a set from its 24 bits; higher bits are dropped.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits & 0x00FF_FFFF)
    }

    /// The 24 bits of the set.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The union of two sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every feature of `other` is in this set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The 13 bytes a server puts at the start of its nonce: the cookie and
    /// the features as four base64 characters.
    pub fn nonce_prefix(self) -> [u8; 13] {
        let mut out = [0u8; 13];
        let (cookie, features) = out.split_at_mut(9);
        cookie.copy_from_slice(NONCE_COOKIE);
        let [_, a, b, c] = self.0.to_be_bytes();
        // Three input bytes always make exactly four base64 characters.
        let _ = BASE64.encode_slice([a, b, c], features);
        out
    }

    /// Reads the features from a nonce, if it starts with the cookie.
    pub(crate) fn from_nonce(nonce: &[u8]) -> Option<Self> {
        let rest = nonce.strip_prefix(NONCE_COOKIE.as_slice())?;
        let mut bytes = [0u8; 3];
        let n = BASE64.decode_slice(rest.get(..4)?, &mut bytes).ok()?;
        let [a, b, c] = bytes;
        (n == 3).then(|| Self(u32::from_be_bytes([0, a, b, c])))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId::new([0; 12]);

    #[test]
    fn nonce_cookie_round_trips_and_uses_lsb_bit_numbering() {
        let both =
            SecurityFeatures::PASSWORD_ALGORITHMS.union(SecurityFeatures::USERNAME_ANONYMITY);
        assert_eq!(&both.nonce_prefix(), b"obMatJos2AAAD");
        assert_eq!(
            SecurityFeatures::from_nonce(b"obMatJos2AAADrest"),
            Some(both)
        );
        // The RFC 8489 Appendix B.1 nonce announces username anonymity only.
        let b1 =
            SecurityFeatures::from_nonce(b"obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA").unwrap();
        assert!(b1.contains(SecurityFeatures::USERNAME_ANONYMITY));
        assert!(!b1.contains(SecurityFeatures::PASSWORD_ALGORITHMS));
    }

    #[test]
    fn nonces_without_a_valid_cookie_have_no_features() {
        for nonce in [
            &b"f//499k954d6OL34oL9FSTvy64sA"[..],
            b"obMatJos2AA",
            b"obMatJos2!!!!",
            b"",
        ] {
            assert_eq!(SecurityFeatures::from_nonce(nonce), None, "{nonce:?}");
        }
    }

    #[test]
    fn password_algorithms_list_round_trips_with_padded_parameters() {
        let list = [
            PasswordAlgorithm::new(AlgorithmId::SHA256),
            PasswordAlgorithm {
                algorithm: AlgorithmId(0x1234),
                params: b"abc",
            },
            PasswordAlgorithm::new(AlgorithmId::MD5),
        ];
        let mut out = Vec::new();
        PasswordAlgorithms::new(&list).encode(&TID, &mut out);
        assert_eq!(
            out,
            [0, 2, 0, 0, 0x12, 0x34, 0, 3, b'a', b'b', b'c', 0, 0, 1, 0, 0]
        );
        let decoded = PasswordAlgorithms::decode(&out, &TID).unwrap();
        assert_eq!(decoded, PasswordAlgorithms::new(&list));
        assert_eq!(decoded.iter().count(), 3);
    }

    #[test]
    fn truncated_password_algorithm_entries_are_errors() {
        let attr = AttrType::PASSWORD_ALGORITHMS;
        assert_eq!(
            PasswordAlgorithms::decode(&[0, 1, 0, 8, 1, 2], &TID),
            Err(Error::AttributeLength { attr, len: 6 })
        );
        assert!(PasswordAlgorithms::decode(&[0, 1, 0], &TID).is_err());
        assert!(PasswordAlgorithm::decode(&[0, 2, 0, 0, 9], &TID).is_err());
        assert_eq!(
            PasswordAlgorithm::decode(&[0, 2, 0, 0], &TID).unwrap(),
            PasswordAlgorithm::new(AlgorithmId::SHA256)
        );
    }

    #[test]
    fn userhash_must_be_32_bytes() {
        assert!(Userhash::decode(&[0; 32], &TID).is_ok());
        assert_eq!(
            Userhash::decode(&[0; 31], &TID),
            Err(Error::AttributeLength {
                attr: AttrType::USERHASH,
                len: 31
            })
        );
    }
}
