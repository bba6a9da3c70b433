//! SCRAM (RFC 5802, RFC 7677): key derivation, server-side message parsing
//! and proof verification, for SHA-1 and SHA-256.
//!
//! The server never sees or stores a password: it keeps StoredKey and
//! ServerKey per account and hash ([`ScramKeys`]). PLAIN is verified against
//! the same keys ([`ScramKeys::matches_password`]). Passwords and usernames
//! are used as given (UTF-8); SASLprep is not applied, so accounts created
//! and used through this module always agree, while non-ASCII passwords that
//! differ only by normalisation from another implementation do not match.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Default PBKDF2 iteration count for new credentials (as Prosody).
pub const DEFAULT_ITERATIONS: u32 = 10_000;

/// Longest client nonce accepted, in bytes.
pub const MAX_NONCE_BYTES: usize = 256;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramHash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The mechanism name without or with the `-PLUS` suffix.
    pub fn mechanism(self, plus: bool) -> &'static str {
        match (self, plus) {
            (Self::Sha1, false) => "SCRAM-SHA-1",
            (Self::Sha1, true) => "SCRAM-SHA-1-PLUS",
            (Self::Sha256, false) => "SCRAM-SHA-256",
            (Self::Sha256, true) => "SCRAM-SHA-256-PLUS",
        }
    }

    /// H(data).
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// HMAC(key, data).
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable_hmac());
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable_hmac());
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// SaltedPassword := Hi(password, salt, i) (RFC 5802 §2.2).
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            Self::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            Self::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
        }
        out
    }
}

/// HMAC accepts keys of any length, so construction cannot fail.
#[cold]
fn unreachable_hmac<T>() -> T {
    unreachable!("HMAC accepts keys of any length")
}

/// What the server stores per account and hash (RFC 5802 §3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// StoredKey := H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// ServerKey := HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramKeys {
    /// Derive the stored keys from a password (for account creation).
    pub fn derive(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = hash.salted_password(password.as_bytes(), salt, iterations);
        Self::from_salted(hash, &salted, salt, iterations)
    }

    fn from_salted(hash: ScramHash, salted: &[u8], salt: &[u8], iterations: u32) -> Self {
        let client_key = hash.hmac(salted, b"Client Key");
        Self {
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(salted, b"Server Key"),
            salt: salt.to_vec(),
            iterations,
        }
    }

    /// Whether `password` yields this StoredKey (PLAIN over TLS), compared
    /// in constant time.
    pub fn matches_password(&self, hash: ScramHash, password: &str) -> bool {
        let derived = Self::derive(hash, password, &self.salt, self.iterations);
        bool::from(derived.stored_key.ct_eq(&self.stored_key))
    }

    /// Check a client proof over `auth_message`. On success returns the
    /// ServerSignature to send as `v=` (RFC 5802 §3).
    pub fn verify_proof(&self, hash: ScramHash, auth_message: &[u8], proof: &[u8]) -> Option<Vec<u8>> {
        if proof.len() != hash.output_len() || self.stored_key.len() != hash.output_len() {
            return None;
        }
        let signature = hash.hmac(&self.stored_key, auth_message);
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let ok = hash.hash(&client_key).ct_eq(&self.stored_key);
        bool::from(ok).then(|| hash.hmac(&self.server_key, auth_message))
    }
}

/// Why a SCRAM exchange failed (RFC 5802 §7 `server-error-value`s we use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// A message does not follow the RFC 5802 §7 grammar.
    #[error("invalid-encoding")]
    InvalidEncoding,
    /// The client sent a mandatory extension (`m=`).
    #[error("extensions-not-supported")]
    ExtensionsNotSupported,
    /// The username uses `=` other than `=2C`/`=3D`.
    #[error("invalid-username-encoding")]
    InvalidUsernameEncoding,
    /// The proof does not match.
    #[error("invalid-proof")]
    InvalidProof,
    /// The `c=` attribute does not repeat the GS2 header and binding data.
    #[error("channel-bindings-dont-match")]
    ChannelBindingsDontMatch,
    /// The client sent `y` although the server offered channel binding
    /// (a downgrade, RFC 5802 §6).
    #[error("server-does-support-channel-binding")]
    ServerDoesSupportChannelBinding,
    /// The client asked for a binding type not available here.
    #[error("unsupported-channel-binding-type")]
    UnsupportedChannelBindingType,
}

/// The GS2 channel-binding flag of the client-first message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CbindFlag {
    /// `n`: the client does not support channel binding.
    NotSupported,
    /// `y`: the client supports it but thinks the server does not.
    ClientSupports,
    /// `p=<type>`: the client uses this channel binding type.
    Used(String),
}

/// A parsed client-first message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 channel-binding flag.
    pub cbind: CbindFlag,
    /// The authorization identity, if any (`a=`).
    pub authzid: Option<String>,
    /// The decoded username (`n=`).
    pub username: String,
    /// The client nonce (`r=`).
    pub nonce: String,
    /// The GS2 header, e.g. `n,,` (repeated in `c=`).
    pub gs2_header: String,
    /// The client-first-message-bare (part of AuthMessage).
    pub bare: String,
}

/// Parse a client-first message.
pub fn parse_client_first(msg: &str) -> Result<ClientFirst, ScramError> {
    let (flag, rest) = msg.split_once(',').ok_or(ScramError::InvalidEncoding)?;
    let cbind = match flag {
        "n" => CbindFlag::NotSupported,
        "y" => CbindFlag::ClientSupports,
        _ => match flag.strip_prefix("p=") {
            Some(name) if !name.is_empty() && name.bytes().all(is_cb_name_char) => {
                CbindFlag::Used(name.to_owned())
            }
            _ => return Err(ScramError::InvalidEncoding),
        },
    };
    let (authz, bare) = rest.split_once(',').ok_or(ScramError::InvalidEncoding)?;
    let authzid = match authz {
        "" => None,
        a => Some(decode_saslname(
            a.strip_prefix("a=").ok_or(ScramError::InvalidEncoding)?,
        )?),
    };
    let gs2_len = flag.len() + authz.len() + 2;
    let gs2_header = msg.get(..gs2_len).ok_or(ScramError::InvalidEncoding)?;
    let mut attrs = bare.split(',');
    let first = attrs.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(ScramError::ExtensionsNotSupported);
    }
    let user = first.strip_prefix("n=").ok_or(ScramError::InvalidEncoding)?;
    let username = decode_saslname(user)?;
    if username.is_empty() {
        return Err(ScramError::InvalidEncoding);
    }
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::InvalidEncoding)?;
    check_nonce(nonce)?;
    check_extensions(attrs)?;
    Ok(ClientFirst {
        cbind,
        authzid,
        username,
        nonce: nonce.to_owned(),
        gs2_header: gs2_header.to_owned(),
        bare: bare.to_owned(),
    })
}

/// A parsed client-final message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The decoded `c=` value: GS2 header followed by channel binding data.
    pub channel_binding: Vec<u8>,
    /// The combined nonce (`r=`).
    pub nonce: String,
    /// The decoded proof (`p=`).
    pub proof: Vec<u8>,
    /// client-final-message-without-proof (part of AuthMessage).
    pub without_proof: String,
}

/// Parse a client-final message.
pub fn parse_client_final(msg: &str) -> Result<ClientFinal, ScramError> {
    let (without_proof, proof) = msg.rsplit_once(",p=").ok_or(ScramError::InvalidEncoding)?;
    let proof = B64.decode(proof).map_err(|_| ScramError::InvalidEncoding)?;
    let mut attrs = without_proof.split(',');
    let cb = attrs
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or(ScramError::InvalidEncoding)?;
    let channel_binding = B64.decode(cb).map_err(|_| ScramError::InvalidEncoding)?;
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::InvalidEncoding)?;
    check_extensions(attrs)?;
    Ok(ClientFinal {
        channel_binding,
        nonce: nonce.to_owned(),
        proof,
        without_proof: without_proof.to_owned(),
    })
}

/// The server-first message: `r=<client nonce><server nonce>,s=<salt>,i=<count>`.
pub fn server_first(client_nonce: &str, server_nonce: &str, salt: &[u8], iterations: u32) -> String {
    format!(
        "r={client_nonce}{server_nonce},s={},i={iterations}",
        B64.encode(salt)
    )
}

/// The server-final message for a verified proof: `v=<signature>`.
pub fn server_final(signature: &[u8]) -> String {
    format!("v={}", B64.encode(signature))
}

/// AuthMessage := client-first-bare "," server-first "," client-final-without-proof.
pub fn auth_message(first: &ClientFirst, server_first: &str, last: &ClientFinal) -> String {
    format!("{},{server_first},{}", first.bare, last.without_proof)
}

/// Optional extensions: `ALPHA "=" value` each; `m=` is never acceptable.
fn check_extensions<'a>(attrs: impl Iterator<Item = &'a str>) -> Result<(), ScramError> {
    for attr in attrs {
        let mut bytes = attr.bytes();
        match (bytes.next(), bytes.next()) {
            (Some(b'm'), Some(b'=')) => return Err(ScramError::ExtensionsNotSupported),
            (Some(a), Some(b'=')) if a.is_ascii_alphabetic() => {}
            _ => return Err(ScramError::InvalidEncoding),
        }
    }
    Ok(())
}

fn is_cb_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// RFC 5802 §7 `printable` minus `,`, bounded in length.
fn check_nonce(nonce: &str) -> Result<(), ScramError> {
    if nonce.is_empty()
        || nonce.len() > MAX_NONCE_BYTES
        || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(ScramError::InvalidEncoding);
    }
    Ok(())
}

/// Decode `=2C` and `=3D` (RFC 5802 §5.1); any other `=` is invalid.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('=') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let code = rest.get(at + 1..at + 3);
        match code {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(ScramError::InvalidUsernameEncoding),
        }
        rest = rest.get(at + 3..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use std::collections::HashMap;

    /// RFC 5802 §5 and RFC 7677 §3 example exchanges, as data.
    const VECTORS: &str = include_str!("../../tests/data/scram-vectors.txt");

    fn vectors() -> Vec<HashMap<String, String>> {
        VECTORS
            .split("\n\n")
            .map(|block| {
                block
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect::<HashMap<_, _>>()
            })
            .filter(|m| !m.is_empty())
            .collect()
    }

    #[test]
    fn rfc_exchanges_verify_and_produce_the_server_signature() {
        let all = vectors();
        assert_eq!(all.len(), 2, "both RFC vectors are present");
        for v in all {
            let hash = match v["hash"].as_str() {
                "SHA-1" => ScramHash::Sha1,
                "SHA-256" => ScramHash::Sha256,
                other => panic!("unknown hash {other}"),
            };
            let first = parse_client_first(&v["client-first"]).unwrap();
            assert_eq!(first.username, "user");
            assert_eq!(first.cbind, CbindFlag::NotSupported);
            let sf: &str = &v["server-first"];
            let salt_b64 = sf.split(",s=").nth(1).unwrap().split(',').next().unwrap();
            let salt = B64.decode(salt_b64).unwrap();
            let iterations: u32 = sf.rsplit("i=").next().unwrap().parse().unwrap();
            let snonce = sf
                .strip_prefix("r=")
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .strip_prefix(first.nonce.as_str())
                .unwrap();
            assert_eq!(server_first(&first.nonce, snonce, &salt, iterations), sf);
            let keys = ScramKeys::derive(hash, &v["password"], &salt, iterations);
            let last = parse_client_final(&v["client-final"]).unwrap();
            assert_eq!(last.channel_binding, first.gs2_header.as_bytes());
            let am = auth_message(&first, sf, &last);
            let sig = keys.verify_proof(hash, am.as_bytes(), &last.proof).expect("proof");
            assert_eq!(server_final(&sig), v["server-final"]);
            assert!(keys.matches_password(hash, &v["password"]));
            assert!(!keys.matches_password(hash, "pencil2"));
            let mut bad = last.proof.clone();
            if let Some(b) = bad.first_mut() {
                *b ^= 1;
            }
            assert!(keys.verify_proof(hash, am.as_bytes(), &bad).is_none());
        }
    }

    #[test]
    fn gs2_headers_and_saslnames_parse() {
        let f = parse_client_first("p=tls-exporter,a=adm=3Din,n=a=2Cb,r=abc,x=ext").unwrap();
        assert_eq!(f.cbind, CbindFlag::Used("tls-exporter".into()));
        assert_eq!(f.authzid.as_deref(), Some("adm=in"));
        assert_eq!(f.username, "a,b");
        assert_eq!(f.gs2_header, "p=tls-exporter,a=adm=3Din,");
        assert_eq!(f.bare, "n=a=2Cb,r=abc,x=ext");
        let y = parse_client_first("y,,n=u,r=x").unwrap();
        assert_eq!(y.cbind, CbindFlag::ClientSupports);
    }

    #[test]
    fn malformed_client_messages_are_refused() {
        for bad in [
            "",
            "n",
            "x,,n=u,r=a",
            "n,,r=a",
            "n,,n=u",
            "n,,n=,r=a",
            "n,,n=u,r=",
            "n,,n=u,r=a,b",
            "n,b,n=u,r=a",
            "p=,,n=u,r=a",
        ] {
            assert!(parse_client_first(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_client_first("n,,n=a=2,r=x"),
            Err(ScramError::InvalidUsernameEncoding)
        );
        assert_eq!(
            parse_client_first("n,,m=x,n=u,r=a"),
            Err(ScramError::ExtensionsNotSupported)
        );
        assert!(parse_client_final("c=biws,r=abc").is_err());
        assert!(parse_client_final("c=!!,r=abc,p=AAAA").is_err());
        assert!(parse_client_final("r=abc,c=biws,p=AAAA").is_err());
    }
}
