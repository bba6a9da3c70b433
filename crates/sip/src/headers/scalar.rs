//! Single-valued header fields: Call-ID (RFC 3261 §20.8), Max-Forwards (§20.22),
//! Expires (§20.19), Min-Expires (§20.23), Content-Type (§20.15); and the
//! option-tag/method lists Supported, Require, Proxy-Require, Unsupported, Allow.

use crate::error::Error;
use crate::headers::HeaderName;
use crate::scan::{self, Params};

/// Max-Forwards: 0 to 255 (RFC 3261 §20.22).
pub fn parse_max_forwards(value: &[u8]) -> Result<u8, Error> {
    scan::parse_decimal(scan::trim(value), 255)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(Error::InvalidHeader(HeaderName::MaxForwards))
}

/// `delta-seconds` for Expires and Min-Expires (RFC 3261 §20.19): 32-bit.
pub fn parse_delta_seconds(value: &[u8], kind: HeaderName) -> Result<u32, Error> {
    scan::parse_decimal(scan::trim(value), u64::from(u32::MAX))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Error::InvalidHeader(kind))
}

/// Call-ID `word [ "@" word ]` (RFC 3261 §25.1): printable, no whitespace.
pub fn is_valid_call_id(value: &[u8]) -> bool {
    let word = |b: u8| {
        scan::is_token(b)
            || matches!(
                b,
                b'(' | b')'
                    | b'<'
                    | b'>'
                    | b':'
                    | b'\\'
                    | b'"'
                    | b'/'
                    | b'['
                    | b']'
                    | b'?'
                    | b'{'
                    | b'}'
            )
    };
    let v = scan::trim(value);
    let mut parts = v.splitn(2, |&b| b == b'@');
    let first_ok = parts
        .next()
        .is_some_and(|w| !w.is_empty() && w.iter().all(|&b| word(b)));
    let second_ok = parts
        .next()
        .is_none_or(|w| !w.is_empty() && w.iter().all(|&b| word(b)));
    first_ok && second_ok
}

/// A Content-Type media type (RFC 3261 §20.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// The top-level type, e.g. `application`.
    pub kind: &'a [u8],
    /// The subtype, e.g. `sdp`.
    pub subtype: &'a [u8],
    params: &'a [u8],
}

impl<'a> MediaType<'a> {
    /// Parse `type "/" subtype *( SEMI m-parameter )`.
    pub fn parse(value: &'a [u8]) -> Result<MediaType<'a>, Error> {
        const INVALID: Error = Error::InvalidHeader(HeaderName::ContentType);
        let v = scan::trim(value);
        let n = v.iter().take_while(|&&b| scan::is_token(b)).count();
        let (kind, rest) = v.split_at(n);
        let rest = scan::trim_start(rest)
            .strip_prefix(b"/")
            .map(scan::trim_start)
            .ok_or(INVALID)?;
        let m = rest.iter().take_while(|&&b| scan::is_token(b)).count();
        let (subtype, params) = rest.split_at(m);
        if kind.is_empty() || subtype.is_empty() || !scan::params_valid(params) {
            return Err(INVALID);
        }
        Ok(MediaType {
            kind,
            subtype,
            params: scan::trim(params),
        })
    }

    /// Whether this is `kind/subtype`, compared case-insensitively.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }

    /// The media type parameters, e.g. `boundary`.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
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
    fn scalars() {
        assert_eq!(parse_max_forwards(b" 0068 "), Ok(68));
        assert!(parse_max_forwards(b"300").is_err());
        assert!(parse_delta_seconds(b"10000000000000", HeaderName::Expires).is_err());
        assert!(is_valid_call_id(
            b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
        ));
        assert!(!is_valid_call_id(b"a b"));
        assert!(!is_valid_call_id(b"a@"));
        let m = MediaType::parse(b"multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert!(m.is("Multipart", "MIXED"));
        assert_eq!(
            m.params().find("boundary").and_then(|p| p.value),
            Some(&b"7a9cbec02ceef655"[..])
        );
    }
}
