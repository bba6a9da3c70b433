//! URI views: `sip:`/`sips:` (RFC 3261 §19.1, IPv6 references per RFC 5118),
//! `tel:` (RFC 3966) and any other scheme kept opaque.

use std::borrow::Cow;

pub use crate::host::Host;
pub(crate) use crate::host::{parse_hostport, parse_ipv6};

use crate::error::Error;
use crate::scan::{starts_with_ci, Param};

/// A parsed URI borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// A `sip:` or `sips:` URI (RFC 3261 §19.1).
    Sip(SipUri<'a>),
    /// A `tel:` URI (RFC 3966 §3).
    Tel(TelUri<'a>),
    /// Any other scheme, kept opaque (RFC 3261 §19.1 `absoluteURI`).
    Other(OtherUri<'a>),
}

impl<'a> Uri<'a> {
    /// Parse a URI; the whole input must be the URI, without `<>` or whitespace.
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, Error> {
        if starts_with_ci(s, b"sip:") {
            SipUri::parse_rest(s, false, s.get(4..).unwrap_or_default()).map(Uri::Sip)
        } else if starts_with_ci(s, b"sips:") {
            SipUri::parse_rest(s, true, s.get(5..).unwrap_or_default()).map(Uri::Sip)
        } else if starts_with_ci(s, b"tel:") {
            TelUri::parse(s).map(Uri::Tel)
        } else {
            OtherUri::parse(s).map(Uri::Other)
        }
    }

    /// The URI exactly as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Uri::Sip(u) => u.raw,
            Uri::Tel(u) => u.raw,
            Uri::Other(u) => u.raw,
        }
    }

    /// The SIP URI, when this is `sip:` or `sips:`.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Every byte is unreserved, a valid `%HH` escape, or in `extra`.
fn chars_ok(s: &[u8], extra: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let ok = s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
        } else if is_unreserved(b) || extra.contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1.1), borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    raw: &'a [u8],
    secure: bool,
    user: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    host: Host<'a>,
    host_raw: &'a [u8],
    port: Option<u16>,
    params: &'a [u8],
    headers: &'a [u8],
}

impl<'a> SipUri<'a> {
    /// Parse a complete `sip:`/`sips:` URI.
    pub fn parse(s: &'a [u8]) -> Result<SipUri<'a>, Error> {
        match Uri::parse(s)? {
            Uri::Sip(u) => Ok(u),
            _ => Err(Error::InvalidUri),
        }
    }

    fn parse_rest(raw: &'a [u8], secure: bool, s: &'a [u8]) -> Result<SipUri<'a>, Error> {
        let (userinfo, rest) = match s.iter().position(|&b| b == b'@') {
            Some(i) => (s.get(..i), s.get(i + 1..).unwrap_or_default()),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.iter().position(|&b| b == b':') {
                    Some(i) => (ui.get(..i).unwrap_or_default(), ui.get(i + 1..)),
                    None => (ui, None),
                };
                if u.is_empty() || !chars_ok(u, b"&=+$,;?/") {
                    return Err(Error::InvalidUri);
                }
                if let Some(p) = p {
                    if !chars_ok(p, b"&=+$,") {
                        return Err(Error::InvalidUri);
                    }
                }
                (Some(u), p)
            }
        };
        let hp_end = rest
            .iter()
            .position(|&b| b == b';' || b == b'?')
            .unwrap_or(rest.len());
        let (hostport, tail) = rest.split_at(hp_end);
        let (host, host_raw, port) = parse_hostport(hostport)?;
        let q = tail.iter().position(|&b| b == b'?').unwrap_or(tail.len());
        let (params, headers) = tail.split_at(q);
        if !params.split(|&b| b == b';').skip(1).all(|p| {
            let mut kv = p.splitn(2, |&b| b == b'=');
            let name = kv.next().unwrap_or_default();
            !name.is_empty()
                && chars_ok(name, b"[]/:&+$")
                && kv
                    .next()
                    .is_none_or(|v| !v.is_empty() && chars_ok(v, b"[]/:&+$"))
        }) {
            return Err(Error::InvalidUri);
        }
        if let Some(h) = headers.strip_prefix(b"?") {
            let ok = h.split(|&b| b == b'&').all(|kv| {
                let mut it = kv.splitn(2, |&b| b == b'=');
                let name = it.next().unwrap_or_default();
                !name.is_empty()
                    && chars_ok(name, b"[]/?:+$")
                    && it.next().is_some_and(|v| chars_ok(v, b"[]/?:+$"))
            });
            if !ok {
                return Err(Error::InvalidUri);
            }
        }
        Ok(SipUri {
            raw,
            secure,
            user,
            password,
            host,
            host_raw,
            port,
            params,
            headers,
        })
    }

    /// The URI exactly as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    /// True for `sips:`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
    /// The user part, still %-escaped (see [`percent_decode`]).
    pub fn user(&self) -> Option<&'a [u8]> {
        self.user
    }
    /// The password part, still %-escaped.
    pub fn password(&self) -> Option<&'a [u8]> {
        self.password
    }
    /// The host.
    pub fn host(&self) -> Host<'a> {
        self.host
    }
    /// The host as written, with brackets for IPv6 references.
    pub fn host_raw(&self) -> &'a [u8] {
        self.host_raw
    }
    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The raw `;...` parameter section.
    pub fn params_raw(&self) -> &'a [u8] {
        self.params
    }
    /// The URI parameters (RFC 3261 §19.1.1 `uri-parameters`), values still %-escaped.
    pub fn params(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        self.params.split(|&b| b == b';').skip(1).map(|p| {
            let mut kv = p.splitn(2, |&b| b == b'=');
            Param {
                name: kv.next().unwrap_or_default(),
                value: kv.next(),
            }
        })
    }
    /// The parameter named `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
    }
    /// The `transport` parameter value.
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.param("transport").and_then(|p| p.value)
    }
    /// Whether the `lr` (loose routing) parameter is present (RFC 3261 §19.1.1).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }
    /// The `maddr` parameter value.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.param("maddr").and_then(|p| p.value)
    }
    /// Whether the `ob` parameter (RFC 5626 §5.4) is present.
    pub fn ob(&self) -> bool {
        self.param("ob").is_some()
    }
    /// The raw `?...` header section, including the `?`, or empty.
    pub fn headers_raw(&self) -> &'a [u8] {
        self.headers
    }
    /// The URI headers (RFC 3261 §19.1.1 `headers`) as (name, value), still %-escaped.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.headers
            .get(1..)
            .unwrap_or_default()
            .split(|&b| b == b'&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let mut it = kv.splitn(2, |&b| b == b'=');
                (it.next().unwrap_or_default(), it.next().unwrap_or_default())
            })
    }
}

/// A `tel:` URI (RFC 3966 §3), borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelUri<'a> {
    raw: &'a [u8],
    number: &'a [u8],
    params: &'a [u8],
}

impl<'a> TelUri<'a> {
    fn parse(raw: &'a [u8]) -> Result<TelUri<'a>, Error> {
        let rest = raw.get(4..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
        let (number, params) = rest.split_at(end);
        let num_ok = !number.is_empty()
            && number.iter().all(|&b| {
                b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
            });
        let params_ok = params
            .split(|&b| b == b';')
            .skip(1)
            .all(|p| !p.is_empty() && chars_ok(p, b"[]/:&+$="));
        if num_ok && params_ok {
            Ok(TelUri {
                raw,
                number,
                params,
            })
        } else {
            Err(Error::InvalidUri)
        }
    }
    /// The telephone number with visual separators, as received.
    pub fn number(&self) -> &'a [u8] {
        self.number
    }
    /// The raw `;...` parameter section.
    pub fn params_raw(&self) -> &'a [u8] {
        self.params
    }
}

/// A URI of a scheme this crate does not interpret (RFC 4475 §3.3.2 `unkscm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherUri<'a> {
    raw: &'a [u8],
    scheme: &'a [u8],
}

impl<'a> OtherUri<'a> {
    fn parse(raw: &'a [u8]) -> Result<OtherUri<'a>, Error> {
        let colon = raw
            .iter()
            .position(|&b| b == b':')
            .ok_or(Error::InvalidUri)?;
        let (scheme, rest) = raw.split_at(colon);
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let rest_ok = rest.len() > 1
            && rest
                .iter()
                .all(|&b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'));
        if scheme_ok && rest_ok {
            Ok(OtherUri { raw, scheme })
        } else {
            Err(Error::InvalidUri)
        }
    }
    /// The scheme name as received.
    pub fn scheme(&self) -> &'a [u8] {
        self.scheme
    }
}

/// Decode `%HH` escapes; borrows when there are none. Invalid escapes are kept literally.
pub fn percent_decode(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let decoded = (b == b'%')
            .then(|| Some(hex(*s.get(i + 1)?)? * 16 + hex(*s.get(i + 2)?)?))
            .flatten();
        match decoded {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
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

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s.as_bytes()) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn full_sip_uri() {
        let u = sip("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr;maddr=239.1.1.1?subject=x%20y&h=");
        assert!(u.is_secure());
        assert_eq!(u.user(), Some(&b"alice"[..]));
        assert_eq!(u.password(), Some(&b"secret"[..]));
        assert_eq!(u.host(), Host::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.host_raw(), b"[2001:db8::1]");
        assert_eq!(u.port(), Some(5061));
        assert_eq!(u.transport(), Some(&b"tcp"[..]));
        assert!(u.lr());
        assert_eq!(u.maddr(), Some(&b"239.1.1.1"[..]));
        let hs: Vec<_> = u.headers().collect();
        assert_eq!(
            hs,
            vec![(&b"subject"[..], &b"x%20y"[..]), (&b"h"[..], &b""[..])]
        );
    }

    #[test]
    fn semicolon_in_user_part() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user(), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host(), Host::Domain(b"example.com"));
        assert_eq!(u.params().count(), 0);
    }

    #[test]
    fn escapes_decode() {
        let u = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(
            &*percent_decode(u.user().unwrap()),
            b"sips:user@example.com"
        );
        assert_eq!(&*percent_decode(b"%zz%41"), b"%zzA");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "sip:2001:db8::10",
            "sip:user@host:99999",
            "sip:user@host:",
            "sip:us er@host",
            "sip:user@ho st",
            "sip:%4@host",
            "sip:[::1",
            "sip:host;;",
            "sip:",
            "nocolon",
            "1bad:scheme",
            "sip:user@[2001:db8::1]5060",
        ] {
            assert!(Uri::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_and_tel_schemes_are_opaque() {
        assert!(matches!(
            Uri::parse(b"tel:+1-201-555-0123;phone-context=x"),
            Ok(Uri::Tel(_))
        ));
        match Uri::parse(b"soap.beep://192.0.2.103:3002") {
            Ok(Uri::Other(o)) => assert_eq!(o.scheme(), b"soap.beep"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv6_three_colon_tolerance() {
        assert_eq!(
            parse_ipv6(b"2001:db8:::192.0.2.1"),
            "2001:db8::192.0.2.1".parse().ok()
        );
        assert_eq!(parse_ipv6(b"2001:db8:::1"), None);
        assert_eq!(
            parse_ipv6(b"2001:db8::10:5070"),
            "2001:db8::10:5070".parse().ok()
        );
    }
}
