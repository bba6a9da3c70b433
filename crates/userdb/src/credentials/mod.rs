//! Password-derived credentials. Plaintext passwords enter here and never
//! reach the database.
//!
//! * TURN/STUN long-term keys: the MD5 and SHA-256 keys of RFC 8489, which
//!   are also the HA1 of SIP digest authentication (RFC 3261 §22.4,
//!   RFC 7616 §3.4.2), so `sipd` reuses [`ha1_md5`] and [`key_sha256`].
//! * SIP digest HA1 values as the lowercase hex strings digest computations
//!   use: [`SipDigests`] (`ha1`, kamailio's `ha1b`, and SHA-256 for
//!   RFC 8760).
//! * SCRAM (RFC 5802, RFC 7677) salted keys for XMPP SASL: [`scram_derive`]
//!   and the server-side proof check; see the `scram` functions below.
//! * Administrator passwords: argon2id PHC strings.
//!
//! OpaqueString (RFC 8265 §4.2) preparation of realm and password is
//! treated as the identity: strings are hashed exactly as given, as coturn
//! does. Inputs that are already NFC-normalised, which is what clients send
//! in practice, give the same keys either way.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::error::{Error, Result};

mod scram;

pub use scram::{
    scram_client_key, scram_derive, scram_hmac, scram_salted_password, scram_server_signature,
    scram_verify_client_proof, ScramAlgorithm, DEFAULT_SCRAM_ITERATIONS, MIN_SCRAM_ITERATIONS,
};

/// Longest password accepted, in bytes (bounds hashing work).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// MD5 long-term key, RFC 8489 §18.5.1.1 (and RFC 5389 §15.4):
/// MD5(username ":" realm ":" password). Identical to SIP digest HA1.
pub fn ha1_md5(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    feed(&mut h, username, realm, password);
    h.finalize().into()
}

/// SHA-256 long-term key, RFC 8489 §18.5.1.2 (used per §9.2.2):
/// SHA-256(username ":" realm ":" password).
pub fn key_sha256(username: &str, realm: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    feed(&mut h, username, realm, password);
    h.finalize().into()
}

fn feed(h: &mut impl md5::Digest, username: &str, realm: &str, password: &str) {
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
}

/// Both long-term keys of one TURN user in one realm, RFC 8489 §9.2.2.
///
/// Each key is password-equivalent for TURN, so `Debug` does not print them.
#[derive(Clone)]
pub struct TurnKeys {
    /// MD5 key (PASSWORD-ALGORITHM 0x0001, and the only one RFC 5389 knows).
    pub md5: [u8; 16],
    /// SHA-256 key (PASSWORD-ALGORITHM 0x0002).
    pub sha256: [u8; 32],
}

impl TurnKeys {
    /// Derives both keys from a plaintext password.
    pub fn derive(username: &str, realm: &str, password: &str) -> Self {
        TurnKeys {
            md5: ha1_md5(username, realm, password),
            sha256: key_sha256(username, realm, password),
        }
    }
}

impl fmt::Debug for TurnKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnKeys(<redacted>)")
    }
}

/// The digest-authentication secrets of one SIP subscriber, as lowercase
/// hex strings (the form digest computations and kamailio's `subscriber`
/// table use). The realm is the subscriber's domain.
///
/// Each value is password-equivalent for SIP, so `Debug` does not print
/// them.
#[derive(Clone, PartialEq, Eq)]
pub struct SipDigests {
    /// MD5(username ":" realm ":" password), RFC 2617 §3.2.2.2 / RFC 3261
    /// §22.4: for clients that send `username="roland"`.
    pub ha1: String,
    /// MD5(username "@" domain ":" realm ":" password): kamailio's `ha1b`,
    /// for clients that send `username="roland@domain"`.
    pub ha1b: String,
    /// SHA-256(username ":" realm ":" password), RFC 7616 §3.4.2 as
    /// required for SIP by RFC 8760.
    pub ha1_sha256: String,
}

impl SipDigests {
    /// Derives all three from a plaintext password, with realm = domain.
    pub fn derive(username: &str, domain: &str, password: &str) -> Self {
        let full = format!("{username}@{domain}");
        SipDigests {
            ha1: ha1_md5_hex(username, domain, password),
            ha1b: ha1_md5_hex(&full, domain, password),
            ha1_sha256: ha1_sha256_hex(username, domain, password),
        }
    }
}

impl fmt::Debug for SipDigests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SipDigests(<redacted>)")
    }
}

/// [`ha1_md5`] as a lowercase hex string, the form SIP digest uses.
pub fn ha1_md5_hex(username: &str, realm: &str, password: &str) -> String {
    hex::encode(ha1_md5(username, realm, password))
}

/// [`key_sha256`] as a lowercase hex string: the SHA-256 HA1 of RFC 7616
/// §3.4.2 (SIP: RFC 8760).
pub fn ha1_sha256_hex(username: &str, realm: &str, password: &str) -> String {
    hex::encode(key_sha256(username, realm, password))
}

/// Hashes an administrator password with argon2id (the argon2 crate's
/// defaults: 19 MiB, 2 passes, 1 lane) and a fresh random salt, returning a
/// PHC string (`$argon2id$v=19$...`). CPU-heavy: call it off the async
/// runtime.
pub fn hash_admin_password(password: &str) -> Result<String> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidInput {
            field: "password",
            reason: "longer than 1024 bytes",
        });
    }
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// Checks `password` against a PHC string from [`hash_admin_password`].
/// The final comparison is constant-time. Returns `false` for malformed
/// hashes and for oversized passwords. CPU-heavy: call it off the async
/// runtime.
pub fn verify_admin_password(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as verifying a real admin's password, so that a
/// login attempt for an unknown name cannot be told apart by its timing.
pub(crate) fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_admin_password("dummy").unwrap_or_default());
    let _ = verify_admin_password(phc, password);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Expected values computed outside Rust with coreutils:
    // printf '%s' 'roland:falcot.com:secret_password' | md5sum / sha256sum
    const ROLAND_MD5: &str = "3ac669c26660af60c9cb71dedf72d807";
    const ROLAND_SHA256: &str = "45c3ea3206c7cc7134790b2f3d2ee6456dd0ba956cc208f597971590b6f3ddd9";

    #[test]
    fn roland_keys_match_coreutils() {
        let k = TurnKeys::derive("roland", "falcot.com", "secret_password");
        assert_eq!(hex::encode(k.md5), ROLAND_MD5);
        assert_eq!(hex::encode(k.sha256), ROLAND_SHA256);
    }

    #[test]
    fn non_ascii_names_hash_their_utf8_bytes() {
        // The RFC 5769 §2.4 long-term credentials (username "マトリックス",
        // realm "example.org", password "TheMatrIX"); expected values from
        // coreutils over the UTF-8 text.
        let k = TurnKeys::derive(
            "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}",
            "example.org",
            "TheMatrIX",
        );
        assert_eq!(hex::encode(k.md5), "e8ca7ad59d5eb0518e312911d2dab2a9");
        assert_eq!(
            hex::encode(k.sha256),
            "dd295a613b9058c3c23d6dc7165bda072304d989c9d0af3a8c7e184b4f9bb4a1"
        );
    }

    #[test]
    fn keys_depend_on_every_part() {
        let base = TurnKeys::derive("a", "b", "c");
        for other in [
            TurnKeys::derive("A", "b", "c"),
            TurnKeys::derive("a", "B", "c"),
            TurnKeys::derive("a", "b", "C"),
            TurnKeys::derive("a:b", "", "c"),
        ] {
            assert_ne!(base.md5, other.md5);
            assert_ne!(base.sha256, other.sha256);
        }
    }

    #[test]
    fn sip_digests_match_coreutils() {
        // printf '%s' 'roland:sip.falcot.com:secret_password' | md5sum (and
        // with 'roland@sip.falcot.com:...' for ha1b, sha256sum for SHA-256)
        let d = SipDigests::derive("roland", "sip.falcot.com", "secret_password");
        assert_eq!(d.ha1, "82b33dfdbf715983ddbda1177e6e0415");
        assert_eq!(d.ha1b, "7953625ca2f7036a7b058d0c117ddef6");
        assert_eq!(
            d.ha1_sha256,
            "cffe1a002aadc4d30748fb909f9507b36d1b366a1531340771ebb5b41c87c19b"
        );
        assert_eq!(format!("{d:?}"), "SipDigests(<redacted>)");
    }

    #[test]
    fn debug_does_not_print_keys() {
        let k = TurnKeys::derive("roland", "falcot.com", "secret_password");
        assert_eq!(format!("{k:?}"), "TurnKeys(<redacted>)");
    }

    #[test]
    fn admin_password_round_trip() {
        let phc = hash_admin_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_admin_password(&phc, "correct horse"));
        assert!(!verify_admin_password(&phc, "correct hors"));
        assert!(!verify_admin_password(&phc, ""));
        assert!(!verify_admin_password("not a phc string", "correct horse"));
    }

    #[test]
    fn admin_hashes_are_salted() {
        let a = hash_admin_password("same").unwrap();
        let b = hash_admin_password("same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn oversized_admin_password_is_refused() {
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert!(matches!(
            hash_admin_password(&long),
            Err(Error::InvalidInput {
                field: "password",
                ..
            })
        ));
    }
}
