//! Messages the proxy writes itself: CANCEL (RFC 3261 §9.1), the ACK for a
//! non-2xx final response (§17.1.1.3), responses relayed upstream (§16.7),
//! and small helpers over parsed messages.

use rtc_sip::uri::percent_decode;
use rtc_sip::{Editor, HeaderName, Message, Uri};

fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Request-URI, top Via, Route set, From, Call-ID and CSeq number of a request we sent.
fn hop_by_hop(req: &Message<'_>, method: &str, to: &[u8]) -> Option<Vec<u8>> {
    let ruri = req.request_uri()?;
    let via = req.top_via().ok()?;
    let cseq = req.cseq().ok()?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(ruri.as_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    line(&mut out, "Via", via.as_bytes());
    for r in req.headers_named(HeaderName::Route) {
        line(&mut out, "Route", r.value());
    }
    line(&mut out, "Max-Forwards", b"70");
    line(&mut out, "From", req.header(HeaderName::From)?.value());
    line(&mut out, "To", to);
    line(&mut out, "Call-ID", req.call_id()?);
    line(
        &mut out,
        "CSeq",
        format!("{} {method}", cseq.number).as_bytes(),
    );
    line(&mut out, "Content-Length", b"0");
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// The CANCEL for a request we forwarded (§9.1): same Request-URI, Call-ID,
/// To, From, CSeq number, Route set and the single top Via.
pub(crate) fn build_cancel(req: &Message<'_>) -> Option<Vec<u8>> {
    hop_by_hop(req, "CANCEL", req.header(HeaderName::To)?.value())
}

/// The ACK for a non-2xx final response to an INVITE we forwarded
/// (§17.1.1.3): the To comes from the response, with its tag.
pub(crate) fn build_ack(req: &Message<'_>, resp: &Message<'_>) -> Option<Vec<u8>> {
    hop_by_hop(req, "ACK", resp.header(HeaderName::To)?.value())
}

/// A received response made ready to go upstream (§16.7 step 3): our Via
/// removed, extra header fields appended, optionally a new status line.
pub(crate) fn relay_response(
    resp: &Message<'_>,
    extra: &[(&str, &[u8])],
    status: Option<(u16, &str)>,
) -> Option<Vec<u8>> {
    let mut e = Editor::new(resp);
    e.remove_top_via();
    for (n, v) in extra {
        e.add_header(n, v);
    }
    let out = e.finish().ok()?;
    Some(match status {
        Some((code, reason)) => replace_status_line(&out, code, reason),
        None => out,
    })
}

fn replace_status_line(bytes: &[u8], code: u16, reason: &str) -> Vec<u8> {
    let rest = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .and_then(|p| bytes.get(p..))
        .unwrap_or_default();
    let mut out = format!("SIP/2.0 {code} {reason}").into_bytes();
    out.extend_from_slice(rest);
    out
}

/// The percent-decoded user part of a SIP URI, when it is UTF-8.
pub(crate) fn uri_user(uri: &Uri<'_>) -> Option<String> {
    let u = uri.as_sip()?.user()?;
    String::from_utf8(percent_decode(u).into_owned()).ok()
}

/// A 32-bit FNV-1a hash over the fields a loop leaves unchanged and a spiral
/// changes (RFC 3261 §16.6 step 8, §16.3 step 4).
pub(crate) fn loop_hash(msg: &Message<'_>) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |b: &[u8]| {
        for &x in b.iter().chain(b"\x00") {
            h ^= u32::from(x);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(msg.request_uri().map(|u| u.as_bytes()).unwrap_or_default());
    feed(msg.call_id().unwrap_or_default());
    feed(msg.from().ok().and_then(|a| a.tag()).unwrap_or_default());
    feed(msg.to().ok().and_then(|a| a.tag()).unwrap_or_default());
    feed(
        msg.cseq()
            .map(|c| c.number.to_be_bytes())
            .unwrap_or_default()
            .as_slice(),
    );
    feed(msg.values(HeaderName::Route).next().unwrap_or_default());
    for t in msg.tokens(HeaderName::ProxyRequire) {
        feed(t);
    }
    h
}

/// Whether a token list header field names `tag` (case-insensitive).
pub(crate) fn has_token(msg: &Message<'_>, kind: HeaderName, tag: &str) -> bool {
    msg.tokens(kind)
        .any(|t| t.eq_ignore_ascii_case(tag.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_sip::Limits;

    const INVITE: &[u8] = b"INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP proxy:5060;branch=z9hG4bKsdX;rport\r\nVia: SIP/2.0/UDP alice:5060;branch=z9hG4bKa\r\n\
Route: <sip:edge;lr>\r\nMax-Forwards: 69\r\nFrom: <sip:alice@x>;tag=1\r\nTo: <sip:bob@x>\r\n\
Call-ID: c@h\r\nCSeq: 4 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0";

    #[test]
    fn cancel_copies_branch_via_route_and_cseq_number() {
        let m = Message::parse_datagram(INVITE, &Limits::DEFAULT).unwrap();
        let c = build_cancel(&m).unwrap();
        let p = Message::parse_datagram(&c, &Limits::DEFAULT).unwrap();
        p.validate(&Limits::DEFAULT).unwrap();
        assert_eq!(p.request_uri().unwrap().as_bytes(), b"sip:bob@192.0.2.4");
        assert_eq!(p.vias().count(), 1);
        assert_eq!(p.top_via().unwrap().branch(), Some(&b"z9hG4bKsdX"[..]));
        assert_eq!(p.cseq().unwrap().number, 4);
        assert_eq!(
            p.values(HeaderName::Route).next(),
            Some(&b"<sip:edge;lr>"[..])
        );
        assert!(p.body().is_empty());
    }

    #[test]
    fn ack_takes_to_tag_from_response_and_relay_strips_our_via() {
        let m = Message::parse_datagram(INVITE, &Limits::DEFAULT).unwrap();
        let r = b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP proxy:5060;branch=z9hG4bKsdX;rport\r\n\
Via: SIP/2.0/UDP alice:5060;branch=z9hG4bKa\r\nFrom: <sip:alice@x>;tag=1\r\nTo: <sip:bob@x>;tag=b\r\nCall-ID: c@h\r\nCSeq: 4 INVITE\r\nContent-Length: 0\r\n\r\n";
        let resp = Message::parse_datagram(r, &Limits::DEFAULT).unwrap();
        let ack = Message::parse_datagram(&build_ack(&m, &resp).unwrap(), &Limits::DEFAULT)
            .unwrap()
            .to()
            .unwrap()
            .tag()
            .map(<[u8]>::to_vec);
        assert_eq!(ack, Some(b"b".to_vec()));
        let up = relay_response(
            &resp,
            &[("X-A", b"1")],
            Some((500, "Server Internal Error")),
        )
        .unwrap();
        let p = Message::parse_datagram(&up, &Limits::DEFAULT).unwrap();
        assert_eq!(p.status(), Some(500));
        assert_eq!(p.vias().count(), 1);
        assert_eq!(p.top_via().unwrap().branch(), Some(&b"z9hG4bKa"[..]));
        assert!(p.header_by_name("X-A").is_some());
    }

    #[test]
    fn loop_hash_changes_with_request_uri() {
        let m = Message::parse_datagram(INVITE, &Limits::DEFAULT).unwrap();
        let other = String::from_utf8(INVITE.to_vec()).unwrap().replacen(
            "sip:bob@192.0.2.4",
            "sip:bob@192.0.2.5",
            1,
        );
        let n = Message::parse_datagram(other.as_bytes(), &Limits::DEFAULT).unwrap();
        assert_ne!(loop_hash(&m), loop_hash(&n));
        assert_eq!(loop_hash(&m), loop_hash(&m.clone()));
    }
}
