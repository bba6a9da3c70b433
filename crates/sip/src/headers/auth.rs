//! Digest authentication header fields: Authorization / Proxy-Authorization
//! credentials (RFC 3261 §20.7/§20.28, RFC 8760 algorithms) and
//! WWW-Authenticate / Proxy-Authenticate challenges (§20.44/§20.27), parser and builder.

use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::headers::HeaderName;
use crate::scan::{self, CommaSplit};

/// A digest algorithm (RFC 3261 §22.4, RFC 8760 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm<'a> {
    /// MD5 (the default when absent).
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256.
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
    /// SHA-512-256.
    Sha512_256,
    /// SHA-512-256-sess.
    Sha512_256Sess,
    /// Any other token, as received.
    Other(&'a [u8]),
}

const ALGORITHMS: [(&str, Algorithm<'static>); 6] = [
    ("MD5", Algorithm::Md5),
    ("MD5-sess", Algorithm::Md5Sess),
    ("SHA-256", Algorithm::Sha256),
    ("SHA-256-sess", Algorithm::Sha256Sess),
    ("SHA-512-256", Algorithm::Sha512_256),
    ("SHA-512-256-sess", Algorithm::Sha512_256Sess),
];

impl<'a> Algorithm<'a> {
    /// Classify an algorithm token, case-insensitively.
    pub fn from_bytes(s: &'a [u8]) -> Algorithm<'a> {
        ALGORITHMS
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(s))
            .map_or(Algorithm::Other(s), |(_, a)| *a)
    }
    /// The canonical token.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Algorithm::Other(s) => s,
            known => ALGORITHMS
                .iter()
                .find(|(_, a)| a == known)
                .map_or(&b""[..], |(n, _)| n.as_bytes()),
        }
    }
    /// Whether this is a `-sess` variant.
    pub fn is_session(&self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }
}

/// Split `scheme LWS auth-param *(COMMA auth-param)` into the scheme and raw params.
fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let v = scan::trim(value);
    let n = v.iter().take_while(|&&b| scan::is_token(b)).count();
    let (scheme, rest) = v.split_at(n);
    let params = scan::trim_start(rest);
    (n > 0 && (params.is_empty() || params.len() < rest.len())).then_some((scheme, params))
}

/// Iterate `name=value` auth-params; `None` items mark a malformed param.
fn auth_params(params: &[u8]) -> impl Iterator<Item = Option<(&[u8], &[u8])>> {
    CommaSplit::new(params).map(|item| {
        let eq = item.iter().position(|&b| b == b'=')?;
        let name = scan::trim(item.get(..eq)?);
        let value = scan::trim(item.get(eq + 1..)?);
        let ok_value = if value.first() == Some(&b'"') {
            scan::quoted_len(value) == Some(value.len())
        } else {
            scan::is_token_str(value)
        };
        (scan::is_token_str(name) && ok_value).then_some((name, value))
    })
}

/// Assign `value` (quotes removed) to `slot`, refusing duplicates.
fn set<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8], err: Error) -> Result<(), Error> {
    if slot.replace(scan::unquote_raw(value)).is_some() {
        return Err(err);
    }
    Ok(())
}

/// Credentials from Authorization or Proxy-Authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// Digest credentials (RFC 3261 §22.4).
    Digest(DigestCredentials<'a>),
    /// Another scheme, kept opaque (RFC 4475 §3.3.7 `regaut01`).
    Other {
        /// The scheme token.
        scheme: &'a [u8],
        /// The raw parameters.
        params: &'a [u8],
    },
}

/// Digest credentials; values are unquoted but escapes are left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigestCredentials<'a> {
    /// `username`.
    pub username: &'a [u8],
    /// `realm`.
    pub realm: &'a [u8],
    /// `nonce`.
    pub nonce: &'a [u8],
    /// `uri` (digest-uri).
    pub uri: &'a [u8],
    /// `response` (hex digest).
    pub response: &'a [u8],
    /// `algorithm`, when given.
    pub algorithm: Option<&'a [u8]>,
    /// `cnonce`.
    pub cnonce: Option<&'a [u8]>,
    /// `opaque`.
    pub opaque: Option<&'a [u8]>,
    /// `qop` (a single token in credentials).
    pub qop: Option<&'a [u8]>,
    /// `nc` as parsed from 8 hex digits.
    pub nc: Option<u32>,
}

impl<'a> Credentials<'a> {
    /// Parse an Authorization / Proxy-Authorization value.
    pub fn parse(value: &'a [u8]) -> Result<Credentials<'a>, Error> {
        const INVALID: Error = Error::InvalidHeader(HeaderName::Authorization);
        let (scheme, params) = split_scheme(value).ok_or(INVALID)?;
        if !scheme.eq_ignore_ascii_case(b"Digest") {
            return Ok(Credentials::Other { scheme, params });
        }
        let (mut username, mut realm, mut nonce, mut uri, mut response) =
            (None, None, None, None, None);
        let mut d = DigestCredentials::default();
        let mut nc = None;
        {
            const NAMES: [&[u8]; 10] = [
                b"username",
                b"realm",
                b"nonce",
                b"uri",
                b"response",
                b"algorithm",
                b"cnonce",
                b"opaque",
                b"qop",
                b"nc",
            ];
            let mut slots: [&mut Option<&'a [u8]>; 10] = [
                &mut username,
                &mut realm,
                &mut nonce,
                &mut uri,
                &mut response,
                &mut d.algorithm,
                &mut d.cnonce,
                &mut d.opaque,
                &mut d.qop,
                &mut nc,
            ];
            for p in auth_params(params) {
                let (name, value) = p.ok_or(INVALID)?;
                if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                    if let Some(slot) = slots.get_mut(i) {
                        set(slot, value, INVALID)?;
                    }
                }
            }
        }
        d.username = username.ok_or(INVALID)?;
        d.realm = realm.ok_or(INVALID)?;
        d.nonce = nonce.ok_or(INVALID)?;
        d.uri = uri.ok_or(INVALID)?;
        d.response = response.ok_or(INVALID)?;
        if let Some(nc) = nc {
            let text = std::str::from_utf8(nc).map_err(|_| INVALID)?;
            if nc.len() != 8 {
                return Err(INVALID);
            }
            d.nc = Some(u32::from_str_radix(text, 16).map_err(|_| INVALID)?);
        }
        if d.qop.is_some() && (d.cnonce.is_none() || d.nc.is_none()) {
            return Err(INVALID);
        }
        Ok(Credentials::Digest(d))
    }
}

impl<'a> DigestCredentials<'a> {
    /// The algorithm, defaulting to MD5 when absent (RFC 3261 §22.4).
    pub fn algorithm(&self) -> Algorithm<'a> {
        self.algorithm.map_or(Algorithm::Md5, Algorithm::from_bytes)
    }
    /// Compare the client's `response` with the expected lowercase hex digest in constant time.
    pub fn response_matches(&self, expected_hex: &[u8]) -> bool {
        self.response.len() == expected_hex.len() && bool::from(self.response.ct_eq(expected_hex))
    }
}

/// A parsed WWW-Authenticate / Proxy-Authenticate Digest challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigestChallenge<'a> {
    /// `realm`.
    pub realm: &'a [u8],
    /// `nonce`.
    pub nonce: &'a [u8],
    /// `opaque`.
    pub opaque: Option<&'a [u8]>,
    /// `domain`.
    pub domain: Option<&'a [u8]>,
    /// `algorithm` token.
    pub algorithm: Option<&'a [u8]>,
    /// `qop` options, comma-separated inside the quotes.
    pub qop: Option<&'a [u8]>,
    /// `stale=true`.
    pub stale: bool,
}

impl<'a> DigestChallenge<'a> {
    /// Parse a Digest challenge. Other schemes are refused.
    pub fn parse(value: &'a [u8]) -> Result<DigestChallenge<'a>, Error> {
        const INVALID: Error = Error::InvalidHeader(HeaderName::WwwAuthenticate);
        let (scheme, params) = split_scheme(value).ok_or(INVALID)?;
        if !scheme.eq_ignore_ascii_case(b"Digest") {
            return Err(INVALID);
        }
        let (mut realm, mut nonce, mut stale) = (None, None, None);
        let mut c = DigestChallenge::default();
        {
            const NAMES: [&[u8]; 7] = [
                b"realm",
                b"nonce",
                b"opaque",
                b"domain",
                b"algorithm",
                b"qop",
                b"stale",
            ];
            let mut slots: [&mut Option<&'a [u8]>; 7] = [
                &mut realm,
                &mut nonce,
                &mut c.opaque,
                &mut c.domain,
                &mut c.algorithm,
                &mut c.qop,
                &mut stale,
            ];
            for p in auth_params(params) {
                let (name, value) = p.ok_or(INVALID)?;
                if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                    if let Some(slot) = slots.get_mut(i) {
                        set(slot, value, INVALID)?;
                    }
                }
            }
        }
        c.realm = realm.ok_or(INVALID)?;
        c.nonce = nonce.ok_or(INVALID)?;
        c.stale = stale.is_some_and(|s| s.eq_ignore_ascii_case(b"true"));
        Ok(c)
    }

    /// The qop options offered.
    pub fn qop_options(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.qop.into_iter().flat_map(CommaSplit::new)
    }
}

/// Builds a Digest challenge value for WWW-Authenticate / Proxy-Authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge<'b> {
    /// The realm.
    pub realm: &'b str,
    /// The server nonce.
    pub nonce: &'b str,
    /// Optional opaque value.
    pub opaque: Option<&'b str>,
    /// The algorithm to announce.
    pub algorithm: Algorithm<'static>,
    /// Offer `qop="auth"`.
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge<'_> {
    /// Append the challenge value (without header name) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let quoted_ok = |s: &str| !s.bytes().any(|b| matches!(b, b'"' | b'\\' | b'\r' | b'\n'));
        let all_ok =
            quoted_ok(self.realm) && quoted_ok(self.nonce) && self.opaque.is_none_or(quoted_ok);
        if !all_ok || !scan::is_token_str(self.algorithm.as_bytes()) {
            return Err(Error::InvalidValue);
        }
        out.extend_from_slice(b"Digest realm=\"");
        out.extend_from_slice(self.realm.as_bytes());
        out.extend_from_slice(b"\", nonce=\"");
        out.extend_from_slice(self.nonce.as_bytes());
        out.push(b'"');
        if let Some(o) = self.opaque {
            out.extend_from_slice(b", opaque=\"");
            out.extend_from_slice(o.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b", algorithm=");
        out.extend_from_slice(self.algorithm.as_bytes());
        if self.qop_auth {
            out.extend_from_slice(b", qop=\"auth\"");
        }
        if self.stale {
            out.extend_from_slice(b", stale=true");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn digest_credentials() {
        let v = b"Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b\",\r\n uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc\", algorithm=SHA-256-sess";
        let Ok(Credentials::Digest(d)) = Credentials::parse(v) else {
            panic!()
        };
        assert_eq!(d.username, b"bob");
        assert_eq!(d.uri, b"sip:bob@biloxi.com");
        assert_eq!(d.nc, Some(1));
        assert_eq!(d.algorithm(), Algorithm::Sha256Sess);
        assert!(d.algorithm().is_session());
        assert!(d.response_matches(b"6629fae49393a05397450978507c4ef1"));
        assert!(!d.response_matches(b"6629fae49393a05397450978507c4ef2"));
        assert!(!d.response_matches(b"6629"));
    }

    #[test]
    fn malformed_credentials() {
        for bad in [
            &b"Digest username=\"a\", username=\"b\", realm=r, nonce=n, uri=u, response=x"[..],
            b"Digest realm=r, nonce=n, uri=u, response=x",
            b"Digest username=\"a, realm=r",
            b"Digest username=a, realm=r, nonce=n, uri=u, response=x, qop=auth",
            b"Digest username=a, realm=r, nonce=n, uri=u, response=x, nc=1, qop=auth, cnonce=c",
            b"",
        ] {
            assert!(
                Credentials::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            Credentials::parse(b"NoOneKnowsThisScheme opaque-data=here"),
            Ok(Credentials::Other {
                scheme: b"NoOneKnowsThisScheme",
                ..
            })
        ));
    }

    #[test]
    fn challenge_round_trip() {
        let c = Challenge {
            realm: "sip.test",
            nonce: "abc123",
            opaque: Some("op"),
            algorithm: Algorithm::Sha256,
            qop_auth: true,
            stale: true,
        };
        let mut out = Vec::new();
        c.write(&mut out).unwrap();
        let p = DigestChallenge::parse(&out).unwrap();
        assert_eq!(p.realm, b"sip.test");
        assert_eq!(p.nonce, b"abc123");
        assert_eq!(p.opaque, Some(&b"op"[..]));
        assert_eq!(p.algorithm, Some(&b"SHA-256"[..]));
        assert_eq!(p.qop_options().collect::<Vec<_>>(), vec![&b"auth"[..]]);
        assert!(p.stale);
        let bad = Challenge { realm: "a\"b", ..c };
        assert_eq!(bad.write(&mut out), Err(Error::InvalidValue));
    }
}
