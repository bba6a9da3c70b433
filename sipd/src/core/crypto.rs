//! Keyed hashing shared by nonces, flow tokens and route signatures.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 over the concatenation of `parts`. The 32-byte key is
/// zero-padded to the block size, which is what HMAC does with short keys,
/// so the fixed-size constructor (which cannot fail) gives the standard MAC.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    let (head, _) = block.split_at_mut(32);
    head.copy_from_slice(key);
    let mut m = <Hmac<Sha256> as KeyInit>::new(&block.into());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Independent keys for each use, derived from the shell's secret.
#[derive(Clone)]
pub(crate) struct Keys {
    pub(crate) nonce: [u8; 32],
    pub(crate) flow: [u8; 32],
    pub(crate) route: [u8; 32],
}

impl Keys {
    pub(crate) fn derive(secret: &[u8; 32]) -> Keys {
        Keys {
            nonce: hmac_sha256(secret, &[b"sipd digest nonce v1"]),
            flow: hmac_sha256(secret, &[b"sipd flow token v1"]),
            route: hmac_sha256(secret, &[b"sipd route signature v1"]),
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc4231_test_case_2_shape() {
        // RFC 4231 §4.3 uses the 4-byte key "Jefe"; zero padding to 32 bytes
        // is what HMAC itself does, so the tag must be the published one.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let tag = hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
