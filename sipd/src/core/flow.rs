//! Flow tokens (RFC 5626 §5.2 style, repro's EnableFlowTokens) and
//! Record-Route signatures.
//!
//! A flow token is put in the user part of the Record-Route URI facing a
//! client that cannot be reached at its Contact (behind NAT, on a stream or
//! WebSocket connection). It names the flow (listener, transport, connection,
//! remote address) and carries an HMAC, so in-dialog requests towards that
//! client go down the flow, and nobody can forge a token to steer traffic.
//!
//! Every Record-Route the core writes also carries `;dlg=`, an HMAC of the
//! dialog's Call-ID. In-dialog requests are only relayed when their top Route
//! is ours and signed for their Call-ID, so a To tag and a copied Route do not
//! make the proxy an open relay.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::crypto::hmac_sha256;
use super::types::{ConnectionId, Flow, ListenerId, Transport};

const VERSION: u8 = 1;
const MAC_LEN: usize = 10;
const SIG_LEN: usize = 9;

/// Encodes and checks flow tokens and route signatures.
#[derive(Clone)]
pub(crate) struct Signer {
    flow_key: [u8; 32],
    route_key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    pub(crate) fn new(flow_key: [u8; 32], route_key: [u8; 32]) -> Signer {
        Signer {
            flow_key,
            route_key,
        }
    }

    /// The token naming `flow` (URL-safe base64, valid in a SIP user part).
    pub(crate) fn encode(&self, flow: &Flow) -> String {
        let mut p = Vec::with_capacity(48);
        p.push(VERSION);
        p.extend_from_slice(&flow.listener.0.to_be_bytes());
        p.push(flow.transport.code());
        p.extend_from_slice(&flow.connection.map_or(0, |c| c.0).to_be_bytes());
        match flow.remote.ip() {
            IpAddr::V4(a) => {
                p.push(4);
                p.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                p.push(6);
                p.extend_from_slice(&a.octets());
            }
        }
        p.extend_from_slice(&flow.remote.port().to_be_bytes());
        let mac = hmac_sha256(&self.flow_key, &[&p]);
        p.extend_from_slice(mac.get(..MAC_LEN).unwrap_or_default());
        URL_SAFE_NO_PAD.encode(p)
    }

    /// The flow named by a token, when it is ours and intact.
    pub(crate) fn decode(&self, token: &[u8]) -> Option<Flow> {
        if token.len() > 80 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        let split = raw.len().checked_sub(MAC_LEN)?;
        let (p, mac) = raw.split_at(split);
        let want = hmac_sha256(&self.flow_key, &[p]);
        if !bool::from(want.get(..MAC_LEN)?.ct_eq(mac)) {
            return None;
        }
        let (&version, p) = p.split_first()?;
        if version != VERSION {
            return None;
        }
        let listener = ListenerId(u16::from_be_bytes(p.get(..2)?.try_into().ok()?));
        let transport = Transport::from_code(*p.get(2)?)?;
        let conn = u64::from_be_bytes(p.get(3..11)?.try_into().ok()?);
        let (ip, rest) = match p.get(11)? {
            4 => (
                IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(p.get(12..16)?).ok()?)),
                p.get(16..)?,
            ),
            6 => (
                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(p.get(12..28)?).ok()?)),
                p.get(28..)?,
            ),
            _ => return None,
        };
        let port = u16::from_be_bytes(rest.try_into().ok()?);
        let connection = (transport.is_reliable()).then_some(ConnectionId(conn));
        Some(Flow {
            listener,
            transport,
            remote: SocketAddr::new(ip, port),
            connection,
        })
    }

    /// The `dlg` Record-Route parameter for a dialog's Call-ID.
    pub(crate) fn route_signature(&self, call_id: &[u8]) -> String {
        let mac = hmac_sha256(&self.route_key, &[b"rr", call_id]);
        URL_SAFE_NO_PAD.encode(mac.get(..SIG_LEN).unwrap_or_default())
    }

    pub(crate) fn route_signature_ok(&self, call_id: &[u8], sig: &[u8]) -> bool {
        let want = self.route_signature(call_id);
        want.len() == sig.len() && bool::from(want.as_bytes().ct_eq(sig))
    }
}

/// Whether two flows are the same (RFC 5626 §3: same local and remote endpoints and connection).
pub(crate) fn same_flow(a: &Flow, b: &Flow) -> bool {
    a.listener == b.listener && a.remote == b.remote && a.connection == b.connection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new([1; 32], [2; 32])
    }

    #[test]
    fn flow_token_round_trips_for_ws_and_udp_flows() {
        let s = signer();
        let ws = Flow {
            listener: ListenerId(3),
            transport: Transport::Wss,
            remote: "[2001:db8::7]:50123".parse().unwrap(),
            connection: Some(ConnectionId(0xdead_beef_0001)),
        };
        let udp = Flow {
            listener: ListenerId(0),
            transport: Transport::Udp,
            remote: "203.0.113.9:40000".parse().unwrap(),
            connection: None,
        };
        for f in [ws, udp] {
            let t = s.encode(&f);
            assert!(t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(s.decode(t.as_bytes()), Some(f));
        }
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let s = signer();
        let f = Flow {
            listener: ListenerId(0),
            transport: Transport::Tcp,
            remote: "192.0.2.1:5060".parse().unwrap(),
            connection: Some(ConnectionId(9)),
        };
        let mut t = s.encode(&f).into_bytes();
        let last = t.len() - 1;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.decode(&t), None);
        assert_eq!(
            Signer::new([9; 32], [2; 32]).decode(s.encode(&f).as_bytes()),
            None
        );
        assert_eq!(s.decode(b"alice"), None);
        assert_eq!(s.decode(b""), None);
    }

    #[test]
    fn route_signature_binds_the_call_id() {
        let s = signer();
        let sig = s.route_signature(b"call-1@host");
        assert!(s.route_signature_ok(b"call-1@host", sig.as_bytes()));
        assert!(!s.route_signature_ok(b"call-2@host", sig.as_bytes()));
        assert!(!s.route_signature_ok(b"call-1@host", b"x"));
    }
}
