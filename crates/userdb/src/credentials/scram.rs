//! SCRAM credentials (RFC 5802 §3, with SHA-256 from RFC 7677): what an
//! XMPP server stores instead of a password, and the server's half of the
//! exchange that uses them.
//!
//! ```text
//! SaltedPassword = Hi(password, salt, i)        (PBKDF2 with HMAC-H)
//! ClientKey      = HMAC(SaltedPassword, "Client Key")
//! StoredKey      = H(ClientKey)
//! ServerKey      = HMAC(SaltedPassword, "Server Key")
//! ```
//!
//! The password is used as given (SASLprep/OpaqueString preparation is the
//! caller's, and is the identity for the ASCII passwords clients send in
//! practice). These functions are CPU-heavy by design: call them off the
//! async runtime.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Iteration count for new accounts: Prosody's default (10000), above the
/// 4096 that RFC 7677 §4 sets as the minimum.
pub const DEFAULT_SCRAM_ITERATIONS: u32 = 10_000;

/// Lowest iteration count the account store accepts, RFC 7677 §4.
pub const MIN_SCRAM_ITERATIONS: u32 = 4_096;

/// Hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramAlgorithm {
    /// SCRAM-SHA-1, RFC 5802.
    Sha1,
    /// SCRAM-SHA-256, RFC 7677.
    Sha256,
}

impl ScramAlgorithm {
    /// The SASL mechanism name (without `-PLUS`).
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramAlgorithm::Sha1 => "SCRAM-SHA-1",
            ScramAlgorithm::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// Length of the hash output, and so of every key, in bytes.
    pub fn output_len(self) -> usize {
        match self {
            ScramAlgorithm::Sha1 => 20,
            ScramAlgorithm::Sha256 => 32,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            ScramAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        }
    }
}

/// `Hi(password, salt, i)` of RFC 5802 §2.2: PBKDF2 with HMAC-H and an
/// output as long as one hash. An iteration count of 0 is treated as 1.
pub fn scram_salted_password(
    alg: ScramAlgorithm,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let rounds = iterations.max(1);
    let mut out = vec![0u8; alg.output_len()];
    match alg {
        ScramAlgorithm::Sha1 => {
            pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, rounds, &mut out);
        }
        ScramAlgorithm::Sha256 => {
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, rounds, &mut out);
        }
    }
    out
}

/// `HMAC(key, data)` with the mechanism's hash, RFC 5802 §2.2.
pub fn scram_hmac(alg: ScramAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; if
    // it ever did, the empty output fails every comparison (fails closed).
    match alg {
        ScramAlgorithm::Sha1 => Hmac::<Sha1>::new_from_slice(key).map_or_else(
            |_| Vec::new(),
            |mut m| {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            },
        ),
        ScramAlgorithm::Sha256 => Hmac::<Sha256>::new_from_slice(key).map_or_else(
            |_| Vec::new(),
            |mut m| {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            },
        ),
    }
}

/// `ClientKey = HMAC(SaltedPassword, "Client Key")`, RFC 5802 §3.
pub fn scram_client_key(alg: ScramAlgorithm, salted_password: &[u8]) -> Vec<u8> {
    scram_hmac(alg, salted_password, b"Client Key")
}

/// Derives what the server stores: `(StoredKey, ServerKey)`, RFC 5802 §3.
pub fn scram_derive(
    alg: ScramAlgorithm,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> (Vec<u8>, Vec<u8>) {
    let salted = scram_salted_password(alg, password, salt, iterations);
    let stored_key = alg.hash(&scram_client_key(alg, &salted));
    let server_key = scram_hmac(alg, &salted, b"Server Key");
    (stored_key, server_key)
}

/// The server's check of a client-final-message, RFC 5802 §3: recovers
/// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage) and compares
/// H(ClientKey) with StoredKey in constant time. `false` for a proof of the
/// wrong length.
pub fn scram_verify_client_proof(
    alg: ScramAlgorithm,
    stored_key: &[u8],
    auth_message: &[u8],
    client_proof: &[u8],
) -> bool {
    let signature = scram_hmac(alg, stored_key, auth_message);
    if client_proof.len() != signature.len() || stored_key.len() != alg.output_len() {
        return false;
    }
    let client_key: Vec<u8> = client_proof
        .iter()
        .zip(&signature)
        .map(|(p, s)| p ^ s)
        .collect();
    alg.hash(&client_key).ct_eq(stored_key).into()
}

/// `ServerSignature = HMAC(ServerKey, AuthMessage)`, sent base64-encoded in
/// the server-final-message's `v=` attribute (RFC 5802 §3).
pub fn scram_server_signature(
    alg: ScramAlgorithm,
    server_key: &[u8],
    auth_message: &[u8],
) -> Vec<u8> {
    scram_hmac(alg, server_key, auth_message)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use std::collections::HashMap;

    use base64::Engine as _;

    use super::*;

    const VECTORS: &str = include_str!("../../tests/data/scram_vectors.txt");

    /// The `[MECHANISM]` blocks of the vector file as key/value maps.
    fn vectors() -> Vec<(ScramAlgorithm, HashMap<String, String>)> {
        let mut out: Vec<(ScramAlgorithm, HashMap<String, String>)> = Vec::new();
        for line in VECTORS.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let alg = match name {
                    "SCRAM-SHA-1" => ScramAlgorithm::Sha1,
                    "SCRAM-SHA-256" => ScramAlgorithm::Sha256,
                    other => panic!("unknown mechanism {other}"),
                };
                out.push((alg, HashMap::new()));
                continue;
            }
            let (k, v) = line.split_once(" = ").expect("key = value");
            out.last_mut()
                .expect("value before a [MECHANISM] header")
                .1
                .insert(k.to_owned(), v.to_owned());
        }
        assert_eq!(out.len(), 2, "both RFC vectors are present");
        out
    }

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn rfc_5802_and_7677_vectors() {
        for (alg, v) in vectors() {
            let salt = b64(&v["salt"]);
            let i: u32 = v["iterations"].parse().unwrap();
            let salted = scram_salted_password(alg, &v["password"], &salt, i);
            assert_eq!(hex::encode(&salted), v["salted_password"], "{alg:?}");
            let client_key = scram_client_key(alg, &salted);
            assert_eq!(hex::encode(&client_key), v["client_key"], "{alg:?}");

            let (stored, server) = scram_derive(alg, &v["password"], &salt, i);
            assert_eq!(hex::encode(&stored), v["stored_key"], "{alg:?}");
            assert_eq!(hex::encode(&server), v["server_key"], "{alg:?}");

            // The RFCs' own published exchange verifies against them.
            let auth = v["auth_message"].as_bytes();
            let proof = b64(&v["client_proof"]);
            assert!(
                scram_verify_client_proof(alg, &stored, auth, &proof),
                "{alg:?}"
            );
            assert_eq!(
                scram_server_signature(alg, &server, auth),
                b64(&v["server_signature"]),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn wrong_proofs_are_refused() {
        for (alg, v) in vectors() {
            let salt = b64(&v["salt"]);
            let (stored, _) = scram_derive(alg, "pencil", &salt, 4096);
            let auth = v["auth_message"].as_bytes();
            let proof = b64(&v["client_proof"]);
            let mut flipped = proof.clone();
            if let Some(b) = flipped.last_mut() {
                *b ^= 1;
            }
            assert!(!scram_verify_client_proof(alg, &stored, auth, &flipped));
            assert!(!scram_verify_client_proof(
                alg,
                &stored,
                b"other message",
                &proof
            ));
            assert!(!scram_verify_client_proof(alg, &stored, auth, &proof[1..]));
            assert!(!scram_verify_client_proof(alg, &stored, auth, &[]));
            assert!(!scram_verify_client_proof(alg, &stored[1..], auth, &proof));
            let (other, _) = scram_derive(alg, "pencil2", &salt, 4096);
            assert!(!scram_verify_client_proof(alg, &other, auth, &proof));
        }
    }

    #[test]
    fn keys_depend_on_salt_iterations_and_algorithm() {
        let base = scram_derive(ScramAlgorithm::Sha256, "pw", b"salt", 4096);
        assert_ne!(
            base,
            scram_derive(ScramAlgorithm::Sha256, "pw", b"salu", 4096)
        );
        assert_ne!(
            base,
            scram_derive(ScramAlgorithm::Sha256, "pw", b"salt", 4097)
        );
        assert_ne!(
            base,
            scram_derive(ScramAlgorithm::Sha256, "pW", b"salt", 4096)
        );
        let sha1 = scram_derive(ScramAlgorithm::Sha1, "pw", b"salt", 4096);
        assert_eq!((sha1.0.len(), sha1.1.len()), (20, 20));
        assert_eq!((base.0.len(), base.1.len()), (32, 32));
        // Zero iterations is not a panic; it is one iteration.
        assert_eq!(
            scram_derive(ScramAlgorithm::Sha1, "pw", b"salt", 0),
            scram_derive(ScramAlgorithm::Sha1, "pw", b"salt", 1)
        );
    }
}
