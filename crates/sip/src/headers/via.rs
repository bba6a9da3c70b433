//! Via (RFC 3261 §20.42), with `rport` (RFC 3581 §4) and IPv6 `received` (RFC 5118 §4.5).

use std::net::IpAddr;

use crate::error::Error;
use crate::headers::HeaderName;
use crate::scan::{self, Param, Params};
use crate::uri::{self, Host};

/// The transport in a Via sent-protocol (RFC 3261 §20.42; WS/WSS from RFC 7118 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
    /// Any other transport token, as received.
    Other(&'a [u8]),
}

impl<'a> Transport<'a> {
    fn from_bytes(s: &'a [u8]) -> Transport<'a> {
        const KNOWN: [(&[u8], Transport<'static>); 6] = [
            (b"UDP", Transport::Udp),
            (b"TCP", Transport::Tcp),
            (b"TLS", Transport::Tls),
            (b"SCTP", Transport::Sctp),
            (b"WS", Transport::Ws),
            (b"WSS", Transport::Wss),
        ];
        KNOWN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map_or(Transport::Other(s), |(_, t)| *t)
    }
}

/// The `rport` parameter (RFC 3581 §4): requested by the client, or filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    /// `;rport` without a value: the client asks for symmetric response routing.
    Requested,
    /// `;rport=N`: the source port a server saw.
    Port(u16),
}

/// One Via value, borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    raw: &'a [u8],
    protocol: &'a [u8],
    version: &'a [u8],
    transport: Transport<'a>,
    host: Host<'a>,
    host_raw: &'a [u8],
    port: Option<u16>,
    params: &'a [u8],
}

const INVALID: Error = Error::InvalidHeader(HeaderName::Via);

fn token_prefix(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|&&b| scan::is_token(b)).count();
    s.split_at(n)
}

fn expect_slash(s: &[u8]) -> Result<&[u8], Error> {
    scan::trim_start(s)
        .strip_prefix(b"/")
        .map(scan::trim_start)
        .ok_or(INVALID)
}

impl<'a> Via<'a> {
    /// Parse one Via value (`sent-protocol LWS sent-by *( SEMI via-params )`).
    pub fn parse(value: &'a [u8]) -> Result<Via<'a>, Error> {
        let raw = scan::trim(value);
        let (protocol, rest) = token_prefix(raw);
        let (version, rest) = token_prefix(expect_slash(rest)?);
        let (transport, rest) = token_prefix(expect_slash(rest)?);
        if protocol.is_empty() || version.is_empty() || transport.is_empty() {
            return Err(INVALID);
        }
        let after = scan::trim_start(rest);
        if after.len() == rest.len() {
            return Err(INVALID);
        }
        let hlen = if after.first() == Some(&b'[') {
            after.iter().position(|&b| b == b']').ok_or(INVALID)? + 1
        } else {
            after
                .iter()
                .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                .count()
        };
        let (host_raw, rest) = after.split_at(hlen);
        let host = Host::parse(host_raw).map_err(|_| INVALID)?;
        let mut rest = scan::trim_start(rest);
        let mut port = None;
        if let Some(p) = rest.strip_prefix(b":") {
            let p = scan::trim_start(p);
            let n = p.iter().take_while(|b| b.is_ascii_digit()).count();
            let digits = p.get(..n).unwrap_or_default();
            let v = scan::parse_decimal(digits, u64::from(u16::MAX)).ok_or(INVALID)?;
            port = Some(u16::try_from(v).map_err(|_| INVALID)?);
            rest = scan::trim_start(p.get(n..).unwrap_or_default());
        }
        if !scan::params_valid(rest) {
            return Err(INVALID);
        }
        let via = Via {
            raw,
            protocol,
            version,
            transport: Transport::from_bytes(transport),
            host,
            host_raw,
            port,
            params: rest,
        };
        via.check_params()?;
        Ok(via)
    }

    fn check_params(&self) -> Result<(), Error> {
        for p in self.params() {
            let name = p.name;
            let bad = if name.eq_ignore_ascii_case(b"ttl") {
                p.value.and_then(|v| scan::parse_decimal(v, 255)).is_none()
            } else if name.eq_ignore_ascii_case(b"rport") {
                p.value
                    .is_some_and(|v| scan::parse_decimal(v, u64::from(u16::MAX)).is_none())
            } else if name.eq_ignore_ascii_case(b"received") {
                p.value.and_then(parse_ip).is_none()
            } else if name.eq_ignore_ascii_case(b"branch") || name.eq_ignore_ascii_case(b"maddr") {
                p.value.is_none()
            } else {
                false
            };
            if bad {
                return Err(INVALID);
            }
        }
        Ok(())
    }

    /// The value as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    /// The protocol name, normally `SIP`.
    pub fn protocol(&self) -> &'a [u8] {
        self.protocol
    }
    /// The protocol version, normally `2.0`.
    pub fn version(&self) -> &'a [u8] {
        self.version
    }
    /// The transport.
    pub fn transport(&self) -> Transport<'a> {
        self.transport
    }
    /// The sent-by host.
    pub fn host(&self) -> Host<'a> {
        self.host
    }
    /// The sent-by host as written (IPv6 with brackets).
    pub fn host_raw(&self) -> &'a [u8] {
        self.host_raw
    }
    /// The sent-by port, when present.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The raw parameter section, starting at the first `;`.
    pub fn params_raw(&self) -> &'a [u8] {
        self.params
    }
    /// The Via parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }
    /// The parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().find(name)
    }
    /// The `branch` value (RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&'a [u8]> {
        self.param("branch").and_then(|p| p.value)
    }
    /// The `received` value as written (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&'a [u8]> {
        self.param("received").and_then(|p| p.value)
    }
    /// The `received` address, with or without IPv6 brackets (RFC 5118 §4.5).
    pub fn received_addr(&self) -> Option<IpAddr> {
        self.received().and_then(parse_ip)
    }
    /// The `rport` parameter (RFC 3581 §4).
    pub fn rport(&self) -> Option<Rport> {
        let p = self.param("rport")?;
        match p.value {
            None => Some(Rport::Requested),
            Some(v) => scan::parse_decimal(v, u64::from(u16::MAX))
                .and_then(|n| u16::try_from(n).ok())
                .map(Rport::Port),
        }
    }
    /// The `maddr` value.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.param("maddr").and_then(|p| p.value)
    }
    /// The `ttl` value.
    pub fn ttl(&self) -> Option<u8> {
        let v = self.param("ttl")?.value?;
        scan::parse_decimal(v, 255).and_then(|n| u8::try_from(n).ok())
    }
    /// True when the branch starts with the RFC 3261 magic cookie `z9hG4bK` (§8.1.1.7).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(b"z9hG4bK"))
    }
}

fn parse_ip(v: &[u8]) -> Option<IpAddr> {
    if let Some(inner) = v.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) {
        return uri::parse_ipv6(inner).map(IpAddr::V6);
    }
    let text = std::str::from_utf8(v).ok()?;
    text.parse()
        .ok()
        .or_else(|| uri::parse_ipv6(v).map(IpAddr::V6))
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
    fn folded_via_from_rfc4475_wsinv() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport(), Transport::Udp);
        assert_eq!(v.host(), Host::Ipv4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));
        assert!(!v.has_rfc3261_branch());
    }

    #[test]
    fn rport_received_maddr_ttl() {
        let v = Via::parse(b"SIP/2.0/UDP [2001:db8::9:1]:6050;rport;received=[2001:db8::9:255];maddr=224.2.0.1;ttl=16;branch=z9hG4bKx").unwrap();
        assert_eq!(v.port(), Some(6050));
        assert_eq!(v.rport(), Some(Rport::Requested));
        assert_eq!(v.received_addr(), "2001:db8::9:255".parse().ok());
        assert_eq!(v.maddr(), Some(&b"224.2.0.1"[..]));
        assert_eq!(v.ttl(), Some(16));
        let v = Via::parse(b"SIP/2.0/TCP h.example.com ; rport = 5061 ; received=2001:db8::9:255")
            .unwrap();
        assert_eq!(v.rport(), Some(Rport::Port(5061)));
        assert_eq!(v.received_addr(), "2001:db8::9:255".parse().ok());
    }

    #[test]
    fn malformed_vias() {
        for bad in [
            &b"SIP/2.0/UDP 192.0.2.15;;"[..],
            b"SIP/2.0/UDP",
            b"SIP/2.0/UDPhost",
            b"SIP/2.0 host",
            b"SIP/2.0/UDP host:99999",
            b"SIP/2.0/UDP host;ttl=300",
            b"SIP/2.0/UDP host;received=not-an-ip",
            b"SIP/2.0/UDP 2001:db8::1",
        ] {
            assert!(Via::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
