//! A client-side SCRAM (RFC 5802 / RFC 7677) written independently of the
//! server's module, so that the two check each other.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hash {
    Sha1,
    Sha256,
}

fn hmac(h: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match h {
        Hash::Sha1 => {
            let mut m = Hmac::<Sha1>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Hash::Sha256 => {
            let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn digest(h: Hash, data: &[u8]) -> Vec<u8> {
    match h {
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

fn hi(h: Hash, password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
    let mut out = vec![0u8; if h == Hash::Sha1 { 20 } else { 32 }];
    match h {
        Hash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, i, &mut out),
        Hash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, i, &mut out),
    }
    out
}

pub struct ScramClient {
    hash: Hash,
    password: String,
    gs2_header: String,
    first_bare: String,
    cb_data: Vec<u8>,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// `gs2_flag` is `n`, `y` or `p=<type>`; `cb_data` the binding data for `p=`.
    pub fn new(hash: Hash, user: &str, password: &str, gs2_flag: &str, cb_data: &[u8]) -> Self {
        Self {
            hash,
            password: password.to_owned(),
            gs2_header: format!("{gs2_flag},,"),
            first_bare: format!("n={user},r=clientnonce0123456789"),
            cb_data: cb_data.to_vec(),
            server_signature: None,
        }
    }

    pub fn first(&self) -> String {
        format!("{}{}", self.gs2_header, self.first_bare)
    }

    pub fn last(&mut self, server_first: &str) -> String {
        let mut nonce = "";
        let mut salt = Vec::new();
        let mut iterations = 0;
        for attr in server_first.split(',') {
            match attr.split_at(2) {
                ("r=", v) => nonce = v,
                ("s=", v) => salt = B64.decode(v).unwrap(),
                ("i=", v) => iterations = v.parse().unwrap(),
                _ => {}
            }
        }
        assert!(nonce.starts_with("clientnonce0123456789"), "server nonce extends ours");
        let mut cb = self.gs2_header.as_bytes().to_vec();
        cb.extend_from_slice(&self.cb_data);
        let without_proof = format!("c={},r={nonce}", B64.encode(cb));
        let auth = format!("{},{server_first},{without_proof}", self.first_bare);
        let salted = hi(self.hash, self.password.as_bytes(), &salt, iterations);
        let client_key = hmac(self.hash, &salted, b"Client Key");
        let stored = digest(self.hash, &client_key);
        let sig = hmac(self.hash, &stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let server_key = hmac(self.hash, &salted, b"Server Key");
        self.server_signature = Some(hmac(self.hash, &server_key, auth.as_bytes()));
        format!("{without_proof},p={}", B64.encode(proof))
    }

    /// Mutual authentication: the server proved it knows the ServerKey.
    pub fn verify(&self, server_final: &str) -> bool {
        let expected = self.server_signature.as_ref().map(|s| format!("v={}", B64.encode(s)));
        expected.as_deref() == Some(server_final)
    }
}
