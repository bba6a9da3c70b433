//! Address header fields: From/To (RFC 3261 §20.20/§20.39), Contact (§20.10,
//! with RFC 5626 `+sip.instance`/`reg-id`), Route/Record-Route (§20.34/§20.30)
//! and Path (RFC 3327 §4).

use crate::error::Error;
use crate::headers::HeaderName;
use crate::scan::{self, Param, Params};
use crate::uri::Uri;

/// A `name-addr` or `addr-spec` followed by header parameters (RFC 3261 §25.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    raw: &'a [u8],
    display: Option<&'a [u8]>,
    uri: Uri<'a>,
    bracketed: bool,
    params: &'a [u8],
}

const INVALID: Error = Error::InvalidHeader(HeaderName::Other);

impl<'a> NameAddr<'a> {
    /// Parse one address value. Errors use `InvalidHeader(Other)`; the
    /// [`crate::Message`] accessors report the real header name.
    pub fn parse(value: &'a [u8]) -> Result<NameAddr<'a>, Error> {
        let raw = scan::trim(value);
        let (display, rest) = if raw.first() == Some(&b'"') {
            let q = scan::quoted_len(raw).ok_or(INVALID)?;
            let (d, r) = raw.split_at(q);
            (Some(d), scan::trim_start(r))
        } else {
            let j = raw
                .iter()
                .position(|&b| !(scan::is_token(b) || scan::is_lws(b)))
                .unwrap_or(raw.len());
            if raw.get(j) == Some(&b'<') {
                let d = scan::trim(raw.get(..j).unwrap_or_default());
                (
                    (!d.is_empty()).then_some(d),
                    raw.get(j..).unwrap_or_default(),
                )
            } else {
                (None, raw)
            }
        };
        if let Some(inner) = rest.strip_prefix(b"<") {
            let gt = inner.iter().position(|&b| b == b'>').ok_or(INVALID)?;
            let uri = Uri::parse(inner.get(..gt).unwrap_or_default()).map_err(|_| INVALID)?;
            let params = scan::trim(inner.get(gt + 1..).unwrap_or_default());
            if !scan::params_valid(params) {
                return Err(INVALID);
            }
            return Ok(NameAddr {
                raw,
                display,
                uri,
                bracketed: true,
                params,
            });
        }
        if display.is_some() {
            return Err(INVALID);
        }
        // addr-spec: the URI ends at the first `;`; it may not carry `?`, `,` or `;`
        // of its own (RFC 3261 §20, RFC 4475 §3.1.2.13).
        let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
        let uri_raw = scan::trim_end(rest.get(..end).unwrap_or_default());
        if uri_raw.iter().any(|&b| matches!(b, b'?' | b',')) {
            return Err(INVALID);
        }
        let uri = Uri::parse(uri_raw).map_err(|_| INVALID)?;
        let params = rest.get(end..).unwrap_or_default();
        if !scan::params_valid(params) {
            return Err(INVALID);
        }
        Ok(NameAddr {
            raw,
            display,
            uri,
            bracketed: false,
            params,
        })
    }

    /// The value as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    /// The display name as received (quoted strings keep their quotes).
    pub fn display_name(&self) -> Option<&'a [u8]> {
        self.display
    }
    /// The URI.
    pub fn uri(&self) -> Uri<'a> {
        self.uri
    }
    /// Whether the URI was written inside `<...>`.
    pub fn is_bracketed(&self) -> bool {
        self.bracketed
    }
    /// The raw header parameter section, starting at the first `;`.
    pub fn params_raw(&self) -> &'a [u8] {
        self.params
    }
    /// The header parameters (not the URI parameters).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }
    /// The header parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().find(name)
    }
    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.param("tag").and_then(|p| p.value)
    }
    /// The Contact `expires` parameter (RFC 3261 §20.10). A value that is not a
    /// 32-bit delta-seconds is reported as absent, so the default applies
    /// (RFC 4475 §3.1.2.4).
    pub fn expires(&self) -> Option<u32> {
        let v = self.param("expires")?.value?;
        scan::parse_decimal(v, u64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok())
    }
    /// The Contact `q` parameter in thousandths, 0..=1000 (RFC 3261 §20.10).
    pub fn q(&self) -> Option<u16> {
        parse_qvalue(self.param("q")?.value?)
    }
    /// The `+sip.instance` value without quotes (RFC 5626 §4.1).
    pub fn instance(&self) -> Option<&'a [u8]> {
        self.param("+sip.instance").and_then(|p| p.unquoted())
    }
    /// The `reg-id` value (RFC 5626 §4.2).
    pub fn reg_id(&self) -> Option<u32> {
        let v = self.param("reg-id")?.value?;
        scan::parse_decimal(v, u64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok())
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (v.get(..i)?, v.get(i + 1..)?),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, &d) in frac.iter().enumerate() {
        thousandths += u16::from(d - b'0') * [100, 10, 1].get(i).copied()?;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// One Contact value (RFC 3261 §20.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `*`: remove all bindings (REGISTER with Expires: 0 only, RFC 3261 §10.2.2).
    Star,
    /// A contact address.
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parse one Contact value.
    pub fn parse(value: &'a [u8]) -> Result<Contact<'a>, Error> {
        if scan::trim(value) == b"*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse(value)
            .map(Contact::Addr)
            .map_err(|_| Error::InvalidHeader(HeaderName::Contact))
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
    fn display_name_forms() {
        let a = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name(), Some(&b"caller"[..]));
        assert_eq!(a.tag(), Some(&b"323"[..]));
        let a = NameAddr::parse(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display_name(), Some(&b"\"J Rosenberg \\\\\\\"\""[..]));
        assert_eq!(a.tag(), Some(&b"98asjd8"[..]));
        let a = NameAddr::parse(b"sip:+1972@gw1.example.net;unknownparam").unwrap();
        assert!(!a.is_bracketed());
        assert!(a.param("unknownparam").is_some());
        assert_eq!(a.uri().as_sip().unwrap().params().count(), 0);
    }

    #[test]
    fn rejects_rfc4475_malformed_addresses() {
        for bad in [
            &b"\"Mr. J. User <sip:j.user@example.com>"[..],
            b"\"Watson, Thomas\" < sip:t.watson@example.org >",
            b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            b"\"Joe\" <sip:joe@example.org>;;;;",
            b"<sip:a@b",
        ] {
            assert!(
                NameAddr::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn contact_params() {
        let c = NameAddr::parse(
            b"<sip:a@192.0.2.1;ob>;expires=3600;q=0.7;+sip.instance=\"<urn:uuid:1>\";reg-id=2",
        )
        .unwrap();
        assert_eq!(c.expires(), Some(3600));
        assert_eq!(c.q(), Some(700));
        assert_eq!(c.instance(), Some(&b"<urn:uuid:1>"[..]));
        assert_eq!(c.reg_id(), Some(2));
        assert!(c.uri().as_sip().unwrap().ob());
        assert_eq!(parse_qvalue(b"1.000"), Some(1000));
        assert_eq!(parse_qvalue(b"1.5"), None);
        assert_eq!(Contact::parse(b" * "), Ok(Contact::Star));
    }
}
