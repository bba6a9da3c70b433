//! Listeners as the core sees them: Via sent-by and Record-Route URIs per
//! listener, "is this URI us" checks, and the next hop of a URI
//! (RFC 3263 §4.1 transport choice; the shell does the DNS part).

use std::net::{IpAddr, SocketAddr};

use rtc_sip::{Host, SipUri};

use super::error::Error;
use super::types::{Destination, Listener, ListenerId, Transport};

#[derive(Debug, Clone)]
struct Entry {
    info: Listener,
    /// `host[:port]` for Via.
    sent_by: String,
    /// Record-Route URI without `<>`: scheme and the rest after it.
    rr_scheme: &'static str,
    rr_rest: String,
    rr_has_lr: bool,
}

/// The listeners and the addresses that mean "this proxy".
#[derive(Debug, Clone)]
pub(crate) struct Net {
    entries: Vec<Entry>,
    /// Lower-case hosts (IPv6 with brackets) with their port, if fixed.
    myself: Vec<(String, Option<u16>)>,
}

fn host_port(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(a) => format!("{a}:{}", addr.port()),
        IpAddr::V6(a) => format!("[{a}]:{}", addr.port()),
    }
}

/// Split `host[:port]` (IPv6 in brackets) into lower-case host and port.
fn split_host_port(s: &str) -> (String, Option<u16>) {
    let s = s.trim();
    if let Some(end) = s.find(']') {
        let host = s.get(..=end).unwrap_or(s).to_ascii_lowercase();
        let port = s
            .get(end + 1..)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|p| p.parse().ok());
        return (host, port);
    }
    match s.rsplit_once(':') {
        Some((h, p)) => (h.to_ascii_lowercase(), p.parse().ok()),
        None => (s.to_ascii_lowercase(), None),
    }
}

impl Net {
    pub(crate) fn new(listeners: Vec<Listener>) -> Result<Net, Error> {
        if listeners.is_empty() {
            return Err(Error::NoListener);
        }
        let mut entries = Vec::with_capacity(listeners.len());
        let mut myself = Vec::new();
        for l in listeners {
            let sent_by = l.advertised.clone().unwrap_or_else(|| host_port(&l.local));
            if sent_by.is_empty()
                || sent_by
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || matches!(b, b';' | b',' | b'<' | b'>'))
            {
                return Err(Error::InvalidRecordRoute(l.id));
            }
            let (rr_scheme, rr_rest, rr_has_lr, rr_host) = match &l.record_route {
                Some(rr) => {
                    let u = SipUri::parse(rr.as_bytes())
                        .map_err(|_| Error::InvalidRecordRoute(l.id))?;
                    if u.user().is_some() || !u.headers_raw().is_empty() {
                        return Err(Error::InvalidRecordRoute(l.id));
                    }
                    let (scheme, skip) = if u.is_secure() {
                        ("sips:", 5)
                    } else {
                        ("sip:", 4)
                    };
                    let host = (
                        String::from_utf8_lossy(u.host_raw()).to_ascii_lowercase(),
                        u.port(),
                    );
                    (
                        scheme,
                        rr.get(skip..).unwrap_or_default().to_owned(),
                        u.lr(),
                        host,
                    )
                }
                None => {
                    let t = match l.transport {
                        Transport::Udp => String::new(),
                        t => format!(";transport={}", t.uri_param()),
                    };
                    (
                        "sip:",
                        format!("{sent_by}{t}"),
                        false,
                        split_host_port(&sent_by),
                    )
                }
            };
            myself.push(split_host_port(&sent_by));
            myself.push(split_host_port(&host_port(&l.local)));
            myself.push(rr_host);
            entries.push(Entry {
                info: l,
                sent_by,
                rr_scheme,
                rr_rest,
                rr_has_lr,
            });
        }
        myself.retain(|(h, _)| h != "0.0.0.0" && h != "[::]");
        Ok(Net { entries, myself })
    }

    fn entry(&self, id: ListenerId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.info.id == id)
    }

    pub(crate) fn transport_of(&self, id: ListenerId) -> Option<Transport> {
        self.entry(id).map(|e| e.info.transport)
    }

    /// The Via sent-by of a listener.
    pub(crate) fn sent_by(&self, id: ListenerId) -> Option<&str> {
        self.entry(id).map(|e| e.sent_by.as_str())
    }

    /// A listener of `transport`, of the same family as `ip` when given.
    pub(crate) fn pick(&self, transport: Transport, ip: Option<IpAddr>) -> Option<ListenerId> {
        let same_family = |e: &&Entry| ip.is_none_or(|ip| e.info.local.is_ipv4() == ip.is_ipv4());
        self.entries
            .iter()
            .filter(|e| e.info.transport == transport)
            .find(same_family)
            .or_else(|| self.entries.iter().find(|e| e.info.transport == transport))
            .map(|e| e.info.id)
    }

    /// Whether `host[:port]` names this proxy. A missing port on either side matches any port.
    pub(crate) fn is_myself(&self, host_raw: &[u8], port: Option<u16>) -> bool {
        let host = String::from_utf8_lossy(host_raw).to_ascii_lowercase();
        self.myself
            .iter()
            .any(|(h, p)| *h == host && (port.is_none() || p.is_none() || *p == port))
    }

    /// The Record-Route value (with `<>`) of a listener, with a flow token and
    /// the dialog signature.
    pub(crate) fn record_route(
        &self,
        id: ListenerId,
        token: Option<&str>,
        sig: &str,
    ) -> Option<String> {
        let e = self.entry(id)?;
        let user = token.map(|t| format!("{t}@")).unwrap_or_default();
        let lr = if e.rr_has_lr { "" } else { ";lr" };
        Some(format!(
            "<{}{}{}{};dlg={}>",
            e.rr_scheme, user, e.rr_rest, lr, sig
        ))
    }

    /// Where a request for `uri` goes: transport from `transport=`/`sips:`
    /// (UDP by default), host from `maddr` or the host part.
    pub(crate) fn next_hop(&self, uri: &SipUri<'_>) -> Option<(ListenerId, Destination)> {
        let mut transport = match uri.transport() {
            Some(t) => Transport::from_uri_param(t)?,
            None if uri.is_secure() => Transport::Tls,
            None => Transport::Udp,
        };
        if uri.is_secure() {
            transport = match transport {
                Transport::Tcp | Transport::Udp => Transport::Tls,
                Transport::Ws => Transport::Wss,
                t => t,
            };
        }
        let host = match uri.maddr() {
            Some(m) => Host::parse(m).ok()?,
            None => uri.host(),
        };
        let port = uri.port();
        let default = if uri.is_secure() {
            5061
        } else {
            transport.default_port()
        };
        let (ip, dest) = match host {
            Host::Ipv4(a) => (
                Some(IpAddr::V4(a)),
                Destination::Addr(SocketAddr::new(IpAddr::V4(a), port.unwrap_or(default))),
            ),
            Host::Ipv6(a) => (
                Some(IpAddr::V6(a)),
                Destination::Addr(SocketAddr::new(IpAddr::V6(a), port.unwrap_or(default))),
            ),
            Host::Domain(d) => (
                None,
                Destination::Resolve {
                    host: String::from_utf8_lossy(d).into_owned(),
                    port,
                },
            ),
        };
        Some((self.pick(transport, ip)?, dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Net {
        Net::new(vec![
            Listener {
                id: ListenerId(0),
                transport: Transport::Udp,
                local: "198.51.100.19:5060".parse().unwrap(),
                advertised: None,
                record_route: None,
            },
            Listener {
                id: ListenerId(1),
                transport: Transport::Wss,
                local: "198.51.100.19:8443".parse().unwrap(),
                advertised: Some("sip.falcot.com:8443".into()),
                record_route: Some("sip:sip.falcot.com:8443;transport=wss".into()),
            },
            Listener {
                id: ListenerId(2),
                transport: Transport::Tcp,
                local: "[2001:db8::19]:5060".parse().unwrap(),
                advertised: None,
                record_route: None,
            },
        ])
        .unwrap()
    }

    #[test]
    fn record_route_per_listener_carries_token_and_signature() {
        let n = net();
        assert_eq!(
            n.record_route(ListenerId(0), None, "S").unwrap(),
            "<sip:198.51.100.19:5060;lr;dlg=S>"
        );
        assert_eq!(
            n.record_route(ListenerId(1), Some("TOK"), "S").unwrap(),
            "<sip:TOK@sip.falcot.com:8443;transport=wss;lr;dlg=S>"
        );
        assert_eq!(
            n.record_route(ListenerId(2), None, "S").unwrap(),
            "<sip:[2001:db8::19]:5060;transport=tcp;lr;dlg=S>"
        );
    }

    #[test]
    fn myself_matches_advertised_local_and_record_route_hosts() {
        let n = net();
        assert!(n.is_myself(b"198.51.100.19", Some(5060)));
        assert!(n.is_myself(b"SIP.falcot.com", None));
        assert!(n.is_myself(b"[2001:DB8::19]", Some(5060)));
        assert!(!n.is_myself(b"198.51.100.19", Some(5070)));
        assert!(!n.is_myself(b"falcot.com", None));
    }

    #[test]
    fn next_hop_follows_transport_param_and_family() {
        let n = net();
        let u = SipUri::parse(b"sip:bob@[2001:db8::5];transport=tcp").unwrap();
        assert_eq!(
            n.next_hop(&u),
            Some((
                ListenerId(2),
                Destination::Addr("[2001:db8::5]:5060".parse().unwrap())
            ))
        );
        let u = SipUri::parse(b"sip:pbx.falcot.com:5070").unwrap();
        assert_eq!(
            n.next_hop(&u),
            Some((
                ListenerId(0),
                Destination::Resolve {
                    host: "pbx.falcot.com".into(),
                    port: Some(5070)
                }
            ))
        );
        let u = SipUri::parse(b"sips:x@example.org").unwrap();
        assert_eq!(n.next_hop(&u), None, "no TLS listener");
        let u = SipUri::parse(b"sip:x@h;maddr=192.0.2.1").unwrap();
        assert_eq!(
            n.next_hop(&u).unwrap().1,
            Destination::Addr("192.0.2.1:5060".parse().unwrap())
        );
    }
}
