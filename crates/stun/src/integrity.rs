//! MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (RFC 8489 §14.5-§14.7).
//!
//! The HMACs cover the message up to the integrity attribute, with the
//! header's length field rewritten to end just after that attribute. The
//! rewrite is fed to the HMAC piecewise, so nothing is copied or allocated.
//! HMAC comparisons are constant-time.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::attr::AttrType;
use crate::error::Error;
use crate::header::HEADER_LEN;
use crate::message::Message;
use crate::wire;

/// FINGERPRINT is the CRC-32 XOR this value (RFC 8489 §14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Length of a MESSAGE-INTEGRITY value (RFC 8489 §14.5).
pub const INTEGRITY_LEN: usize = 20;

/// Full length of a MESSAGE-INTEGRITY-SHA256 value (RFC 8489 §14.6).
pub const INTEGRITY_SHA256_LEN: usize = 32;

/// Shortest MESSAGE-INTEGRITY-SHA256 truncation any usage may allow (RFC 8489 §14.6).
pub const INTEGRITY_SHA256_MIN_LEN: usize = 16;

/// Runs an HMAC over `prefix` (the message before the integrity attribute)
/// as if the header's length field were `body_len`.
fn hmac<M: Mac + hmac::digest::KeyInit>(
    key: &[u8],
    prefix: &[u8],
    body_len: usize,
) -> Result<M, Error> {
    let mut mac = <M as Mac>::new_from_slice(key).map_err(|_| Error::InvalidKey)?;
    let len = u16::try_from(body_len).map_err(|_| Error::MessageTooLong { len: body_len })?;
    mac.update(prefix.get(..2).unwrap_or_default());
    mac.update(&len.to_be_bytes());
    mac.update(prefix.get(4..).unwrap_or_default());
    Ok(mac)
}

/// HMAC-SHA1 for MESSAGE-INTEGRITY.
pub(crate) fn hmac_sha1(
    key: &[u8],
    prefix: &[u8],
    body_len: usize,
) -> Result<[u8; INTEGRITY_LEN], Error> {
    Ok(hmac::<Hmac<Sha1>>(key, prefix, body_len)?
        .finalize()
        .into_bytes()
        .into())
}

/// HMAC-SHA256 for MESSAGE-INTEGRITY-SHA256, before any truncation.
pub(crate) fn hmac_sha256(
    key: &[u8],
    prefix: &[u8],
    body_len: usize,
) -> Result<[u8; INTEGRITY_SHA256_LEN], Error> {
    Ok(hmac::<Hmac<Sha256>>(key, prefix, body_len)?
        .finalize()
        .into_bytes()
        .into())
}

/// The FINGERPRINT value for `prefix`, whose length field already counts the FINGERPRINT.
pub(crate) fn fingerprint(prefix: &[u8]) -> u32 {
    crc32fast::hash(prefix) ^ FINGERPRINT_XOR
}

impl Message<'_> {
    /// The message before the attribute at `offset`, and that attribute's value.
    fn split_at_attribute(&self, offset: usize) -> Option<(&[u8], &[u8])> {
        let buf = self.as_bytes();
        let len = usize::from(wire::be16(buf, offset + 2)?);
        Some((buf.get(..offset)?, buf.get(offset + 4..offset + 4 + len)?))
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1) with `key` (RFC 8489 §14.5).
    ///
    /// The key is the password for short-term credentials, or the long-term
    /// key derived by the user database (RFC 8489 §9.2.2).
    pub fn verify_integrity(&self, key: &[u8]) -> Result<(), Error> {
        let attr = AttrType::MESSAGE_INTEGRITY;
        let offset = self.integrity.ok_or(Error::MissingIntegrity { attr })?;
        let (prefix, received) = self
            .split_at_attribute(offset)
            .ok_or(Error::MissingIntegrity { attr })?;
        let expected = hmac_sha1(key, prefix, offset + 4 + INTEGRITY_LEN - HEADER_LEN)?;
        if bool::from(expected.as_slice().ct_eq(received)) {
            Ok(())
        } else {
            Err(Error::IntegrityMismatch { attr })
        }
    }

    /// Checks a full-length, 32-byte MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
    ///
    /// A truncated value is refused with [`Error::IntegrityTruncated`]: the
    /// RFC allows truncation only where a STUN usage says so.
    pub fn verify_integrity_sha256(&self, key: &[u8]) -> Result<(), Error> {
        self.verify_integrity_sha256_truncated(key, INTEGRITY_SHA256_LEN)
    }

    /// Checks MESSAGE-INTEGRITY-SHA256, accepting values truncated to no
    /// fewer than `min_len` bytes (never fewer than 16) (RFC 8489 §14.6).
    pub fn verify_integrity_sha256_truncated(
        &self,
        key: &[u8],
        min_len: usize,
    ) -> Result<(), Error> {
        let attr = AttrType::MESSAGE_INTEGRITY_SHA256;
        let offset = self
            .integrity_sha256
            .ok_or(Error::MissingIntegrity { attr })?;
        let (prefix, received) = self
            .split_at_attribute(offset)
            .ok_or(Error::MissingIntegrity { attr })?;
        let min = min_len.clamp(INTEGRITY_SHA256_MIN_LEN, INTEGRITY_SHA256_LEN);
        if received.len() < min {
            return Err(Error::IntegrityTruncated {
                len: received.len(),
                min,
            });
        }
        let expected = hmac_sha256(key, prefix, offset + 4 + received.len() - HEADER_LEN)?;
        let expected = expected.get(..received.len()).unwrap_or_default();
        if bool::from(expected.ct_eq(received)) {
            Ok(())
        } else {
            Err(Error::IntegrityMismatch { attr })
        }
    }

    /// Checks FINGERPRINT: CRC-32 of everything before it, XOR 0x5354554e (RFC 8489 §14.7).
    pub fn verify_fingerprint(&self) -> Result<(), Error> {
        let offset = self.fingerprint.ok_or(Error::MissingFingerprint)?;
        let (prefix, received) = self
            .split_at_attribute(offset)
            .ok_or(Error::MissingFingerprint)?;
        match wire::be32(received, 0) {
            Some(value) if value == fingerprint(prefix) => Ok(()),
            _ => Err(Error::FingerprintMismatch),
        }
    }
}
