//! Locating a SIP server from a host name (RFC 3263 §4.2): SRV records for
//! the transport (`_sip._udp`, `_sip._tcp`, `_sips._tcp`) when the URI has
//! no port and the host is not an IP literal, then A/AAAA records.
//!
//! Deliberately not here: NAPTR (the transport is the listener's, chosen by
//! the core), weighted random SRV selection (targets are tried by priority,
//! then highest weight first), and failover between targets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;

use crate::core::Transport;

/// How long one resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A DNS resolver from `/etc/resolv.conf`, or the system's `getaddrinfo`
/// when that cannot be read.
#[derive(Debug)]
pub(crate) struct Resolver {
    dns: Option<TokioResolver>,
}

/// The host of a URI as an IP address, brackets allowed around IPv6.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

/// The SRV name for `host` over `transport` (RFC 3263 §4.2, RFC 5630 for sips).
fn srv_name(host: &str, transport: Transport) -> Option<String> {
    let service = match transport {
        Transport::Udp => "_sip._udp",
        Transport::Tcp => "_sip._tcp",
        Transport::Tls => "_sips._tcp",
        Transport::Ws | Transport::Wss => return None,
    };
    Some(format!("{service}.{}.", host.trim_end_matches('.')))
}

impl Resolver {
    /// A resolver using the system configuration.
    pub(crate) fn new() -> Self {
        let dns = match TokioResolver::builder_tokio() {
            Ok(b) => Some(b.build()),
            Err(e) => {
                tracing::warn!("DNS resolver unavailable, SRV lookups disabled: {e}");
                None
            }
        };
        Self { dns }
    }

    /// One address for `host[:port]` over `transport`, of the family `v6` or not.
    pub(crate) async fn resolve(&self, host: &str, port: Option<u16>, transport: Transport, v6: bool) -> Option<SocketAddr> {
        if let Some(ip) = ip_literal(host) {
            return (ip.is_ipv6() == v6).then(|| SocketAddr::new(ip, port.unwrap_or(transport.default_port())));
        }
        tokio::time::timeout(RESOLVE_TIMEOUT, self.lookup(host, port, transport, v6)).await.ok().flatten()
    }

    async fn lookup(&self, host: &str, port: Option<u16>, transport: Transport, v6: bool) -> Option<SocketAddr> {
        if port.is_none() {
            if let (Some(dns), Some(name)) = (&self.dns, srv_name(host, transport)) {
                if let Ok(srv) = dns.srv_lookup(name).await {
                    let mut targets: Vec<_> = srv.iter().map(|r| (r.priority(), r.weight(), r.port(), r.target().to_utf8())).collect();
                    targets.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                    for (_, _, p, target) in targets {
                        if let Some(ip) = self.address(target.trim_end_matches('.'), v6).await {
                            return Some(SocketAddr::new(ip, p));
                        }
                    }
                }
            }
        }
        let ip = self.address(host, v6).await?;
        Some(SocketAddr::new(ip, port.unwrap_or(transport.default_port())))
    }

    async fn address(&self, host: &str, v6: bool) -> Option<IpAddr> {
        if let Some(dns) = &self.dns {
            if let Ok(found) = dns.lookup_ip(host).await {
                return found.iter().find(|ip| ip.is_ipv6() == v6);
            }
        }
        let found = tokio::net::lookup_host((host, 0)).await.ok()?;
        found.map(|a| a.ip()).find(|ip| ip.is_ipv6() == v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_names_follow_the_transport() {
        assert_eq!(srv_name("falcot.com", Transport::Udp).as_deref(), Some("_sip._udp.falcot.com."));
        assert_eq!(srv_name("falcot.com.", Transport::Tls).as_deref(), Some("_sips._tcp.falcot.com."));
        assert_eq!(srv_name("falcot.com", Transport::Wss), None);
    }

    #[tokio::test]
    async fn literals_need_no_dns_and_keep_their_family() {
        let r = Resolver { dns: None };
        assert_eq!(r.resolve("192.0.2.1", None, Transport::Tls, false).await, Some("192.0.2.1:5061".parse().unwrap()));
        assert_eq!(r.resolve("[2001:db8::1]", Some(5070), Transport::Udp, true).await, Some("[2001:db8::1]:5070".parse().unwrap()));
        assert_eq!(r.resolve("192.0.2.1", None, Transport::Udp, true).await, None);
        assert_eq!(r.resolve("localhost", Some(5060), Transport::Udp, false).await, Some("127.0.0.1:5060".parse().unwrap()));
    }
}
