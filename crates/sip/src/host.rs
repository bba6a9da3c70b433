//! Hosts and ports: domain names, IPv4 addresses and IPv6 references
//! (RFC 3261 §25.1 `hostport`; RFC 5118 §4).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;

/// The host part of a SIP URI or Via sent-by (RFC 3261 §25.1 `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A domain name, as received (compare case-insensitively).
    Domain(&'a [u8]),
    /// A dotted IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference; written with `[...]` on the wire (RFC 5118 §4.1).
    Ipv6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parse a host: domain name, IPv4 address or bracketed IPv6 reference.
    pub fn parse(s: &'a [u8]) -> Result<Host<'a>, Error> {
        if let Some(inner) = s.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) {
            return parse_ipv6(inner).map(Host::Ipv6).ok_or(Error::InvalidUri);
        }
        if s.is_empty() {
            return Err(Error::InvalidUri);
        }
        if s.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
            let text = std::str::from_utf8(s).map_err(|_| Error::InvalidUri)?;
            return text.parse().map(Host::Ipv4).map_err(|_| Error::InvalidUri);
        }
        let ok = s
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && s.first() != Some(&b'.')
            && s.first() != Some(&b'-');
        if ok {
            Ok(Host::Domain(s))
        } else {
            Err(Error::InvalidUri)
        }
    }
}

/// Parse the text inside `[...]`. Tolerates the extra colon RFC 3261's ABNF
/// allowed before an embedded IPv4 address (RFC 5118 §4.10).
pub(crate) fn parse_ipv6(inner: &[u8]) -> Option<Ipv6Addr> {
    let text = std::str::from_utf8(inner).ok()?;
    if let Ok(a) = text.parse() {
        return Some(a);
    }
    let pos = text.find(":::")?;
    let tail = text.get(pos + 3..)?;
    if !tail.contains('.') || tail.contains(':') {
        return None;
    }
    let mut buf = [0u8; 64];
    let fixed = buf.get_mut(..text.len() - 1)?;
    let (head, rest) = fixed.split_at_mut(pos + 2);
    head.copy_from_slice(text.as_bytes().get(..pos + 2)?);
    rest.copy_from_slice(tail.as_bytes());
    std::str::from_utf8(fixed).ok()?.parse().ok()
}

/// Parse a `host[:port]` sent-by or hostport.
pub(crate) fn parse_hostport(s: &[u8]) -> Result<(Host<'_>, &[u8], Option<u16>), Error> {
    let (host_raw, port_raw) = if s.first() == Some(&b'[') {
        let close = s.iter().position(|&b| b == b']').ok_or(Error::InvalidUri)?;
        let (h, r) = s.split_at(close + 1);
        match r {
            [] => (h, None),
            [b':', p @ ..] => (h, Some(p)),
            _ => return Err(Error::InvalidUri),
        }
    } else {
        match s.iter().position(|&b| b == b':') {
            Some(i) => (s.get(..i).unwrap_or_default(), s.get(i + 1..)),
            None => (s, None),
        }
    };
    let host = Host::parse(host_raw)?;
    let port = match port_raw {
        None => None,
        Some(p) if p.len() <= 5 => Some(
            crate::scan::parse_decimal(p, u64::from(u16::MAX))
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(Error::InvalidUri)?,
        ),
        Some(_) => return Err(Error::InvalidUri),
    };
    Ok((host, host_raw, port))
}
