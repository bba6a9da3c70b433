//! Digest response computation (RFC 3261 §22.4 with RFC 2617 §3.2.2, and
//! SHA-256 from RFC 8760 / RFC 7616 §3.4.1). Only `qop=auth` and the RFC 2069
//! form without qop; `-sess` algorithms and `auth-int` are not offered.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::core::config::DigestAlgorithm;

impl DigestAlgorithm {
    /// Classify a credentials `algorithm` (absent means MD5, RFC 3261 §22.4).
    pub(crate) fn from_credentials(a: rtc_sip::Algorithm<'_>) -> Option<DigestAlgorithm> {
        match a {
            rtc_sip::Algorithm::Md5 => Some(DigestAlgorithm::Md5),
            rtc_sip::Algorithm::Sha256 => Some(DigestAlgorithm::Sha256),
            _ => None,
        }
    }

    pub(crate) fn wire(self) -> rtc_sip::Algorithm<'static> {
        match self {
            DigestAlgorithm::Md5 => rtc_sip::Algorithm::Md5,
            DigestAlgorithm::Sha256 => rtc_sip::Algorithm::Sha256,
        }
    }

    /// Lower-case hex of H(parts joined by ':').
    pub(crate) fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self {
            DigestAlgorithm::Md5 => run::<Md5>(parts),
            DigestAlgorithm::Sha256 => run::<Sha256>(parts),
        }
    }
}

/// The `qop=auth` inputs of a response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Qop<'a> {
    pub(crate) nc: u32,
    pub(crate) cnonce: &'a [u8],
}

/// The expected `response` value for HA1 (lower-case hex), method and digest-uri.
pub(crate) fn expected_response(
    alg: DigestAlgorithm,
    ha1_hex: &str,
    method: &[u8],
    uri: &[u8],
    nonce: &[u8],
    qop: Option<Qop<'_>>,
) -> String {
    let ha2 = alg.hash_hex(&[method, uri]);
    match qop {
        Some(q) => {
            let nc = format!("{:08x}", q.nc);
            alg.hash_hex(&[
                ha1_hex.as_bytes(),
                nonce,
                nc.as_bytes(),
                q.cnonce,
                b"auth",
                ha2.as_bytes(),
            ])
        }
        None => alg.hash_hex(&[ha1_hex.as_bytes(), nonce, ha2.as_bytes()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const VECTORS: &str = include_str!("../tests/data/digest_vectors.txt");

    #[test]
    fn published_digest_vectors() {
        let mut n = 0;
        for block in VECTORS.split("\n\n") {
            let kv: HashMap<&str, &str> = block
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| l.split_once('='))
                .collect();
            let alg = match kv["algorithm"] {
                "MD5" => DigestAlgorithm::Md5,
                "SHA-256" => DigestAlgorithm::Sha256,
                other => panic!("{other}"),
            };
            let ha1 = alg.hash_hex(&[
                kv["username"].as_bytes(),
                kv["realm"].as_bytes(),
                kv["password"].as_bytes(),
            ]);
            let qop = Qop {
                nc: u32::from_str_radix(kv["nc"], 16).unwrap(),
                cnonce: kv["cnonce"].as_bytes(),
            };
            let got = expected_response(
                alg,
                &ha1,
                kv["method"].as_bytes(),
                kv["uri"].as_bytes(),
                kv["nonce"].as_bytes(),
                Some(qop),
            );
            assert_eq!(got, kv["response"], "{block}");
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn qop_less_response_is_rfc2069_form() {
        let ha1 = DigestAlgorithm::Md5.hash_hex(&[b"u", b"r", b"p"]);
        let ha2 = DigestAlgorithm::Md5.hash_hex(&[b"REGISTER", b"sip:r"]);
        let manual = DigestAlgorithm::Md5.hash_hex(&[ha1.as_bytes(), b"n", ha2.as_bytes()]);
        assert_eq!(
            expected_response(
                DigestAlgorithm::Md5,
                &ha1,
                b"REGISTER",
                b"sip:r",
                b"n",
                None
            ),
            manual
        );
        assert_eq!(manual.len(), 32);
        assert_eq!(DigestAlgorithm::Sha256.hash_hex(&[b"x"]).len(), 64);
    }
}
