//! Generating responses (RFC 3261 §8.2.6): copies Via, From, To, Call-ID and
//! CSeq from the request and adds a To tag; used for 100 Trying, 401/407
//! challenges, 200 OK to REGISTER with the bound Contacts, and error answers.

use crate::error::Error;
use crate::headers::addr::NameAddr;
use crate::headers::auth::Challenge;
use crate::headers::HeaderName;
use crate::limits::Limits;
use crate::message::Message;
use crate::reply::ReplyContext;
use crate::scan;

/// Builds a response to a request, or to a refused request's [`ReplyContext`].
#[derive(Debug, Clone)]
pub struct ResponseBuilder<'a> {
    ctx: ReplyContext<'a>,
    status: u16,
    reason: &'a str,
    to_tag: Option<&'a str>,
    extra: Vec<u8>,
    body: Option<(&'a str, &'a [u8])>,
    error: Option<Error>,
}

fn value_ok(v: &[u8]) -> bool {
    !v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

impl<'a> ResponseBuilder<'a> {
    /// Start a response to a parsed request. Fails when the request lacks
    /// Via or CSeq, or is a response or an ACK.
    pub fn new(request: &Message<'a>, status: u16, reason: &'a str) -> Result<Self, Error> {
        let ctx = request
            .reply_context(&Limits::DEFAULT)
            .ok_or(Error::MissingHeader(HeaderName::Via))?;
        Ok(Self::from_context(ctx, status, reason))
    }

    /// Start a response from a salvaged context (see [`crate::ParseFailure::reply_context`]).
    pub fn from_context(ctx: ReplyContext<'a>, status: u16, reason: &'a str) -> Self {
        let copied_ok = ctx.vias().iter().all(|v| folded_ok(v))
            && [ctx.from(), ctx.to(), ctx.call_id(), Some(ctx.cseq())]
                .iter()
                .flatten()
                .all(|v| folded_ok(v));
        let error = (!(100..=699).contains(&status) || !value_ok(reason.as_bytes()) || !copied_ok)
            .then_some(Error::InvalidValue);
        ResponseBuilder {
            ctx,
            status,
            reason,
            to_tag: None,
            extra: Vec::new(),
            body: None,
            error,
        }
    }

    /// The To tag to add when the request's To has none (RFC 3261 §8.2.6.2).
    /// Ignored for 100 Trying, which must not create a dialog.
    pub fn to_tag(mut self, tag: &'a str) -> Self {
        if !scan::is_token_str(tag.as_bytes()) {
            self.error.get_or_insert(Error::InvalidValue);
        }
        self.to_tag = Some(tag);
        self
    }

    /// Add a header field.
    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        if !scan::is_token_str(name.as_bytes()) || !value_ok(value) {
            self.error.get_or_insert(Error::InvalidValue);
            return self;
        }
        self.extra.extend_from_slice(name.as_bytes());
        self.extra.extend_from_slice(b": ");
        self.extra.extend_from_slice(value);
        self.extra.extend_from_slice(b"\r\n");
        self
    }

    /// Add a WWW-Authenticate (401) or, with `proxy`, Proxy-Authenticate (407) challenge.
    pub fn challenge(mut self, proxy: bool, challenge: &Challenge<'_>) -> Self {
        let name = if proxy {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        let mut value = Vec::with_capacity(128);
        if let Err(e) = challenge.write(&mut value) {
            self.error.get_or_insert(e);
            return self;
        }
        self.header(name.as_str(), &value)
    }

    /// Add a Contact binding with its remaining lifetime (RFC 3261 §10.3 step 8).
    pub fn contact(self, uri: &[u8], expires: u32) -> Self {
        let mut v = Vec::with_capacity(uri.len() + 24);
        v.push(b'<');
        v.extend_from_slice(uri);
        v.extend_from_slice(b">;expires=");
        v.extend_from_slice(expires.to_string().as_bytes());
        let bad = uri.iter().any(|&b| matches!(b, b'<' | b'>' | b' '));
        let mut s = self.header("Contact", &v);
        if bad {
            s.error.get_or_insert(Error::InvalidValue);
        }
        s
    }

    /// Set the body and its Content-Type.
    pub fn body(mut self, content_type: &'a str, body: &'a [u8]) -> Self {
        if !value_ok(content_type.as_bytes()) {
            self.error.get_or_insert(Error::InvalidValue);
        }
        self.body = Some((content_type, body));
        self
    }

    /// Serialise the response.
    pub fn build(self) -> Result<Vec<u8>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let body = self.body.map_or(&[][..], |(_, b)| b);
        let mut out = Vec::with_capacity(256 + self.extra.len() + body.len());
        out.extend_from_slice(b"SIP/2.0 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for via in self.ctx.vias() {
            line(&mut out, "Via", via);
        }
        if let Some(from) = self.ctx.from() {
            line(&mut out, "From", from);
        }
        if let Some(to) = self.ctx.to() {
            line(&mut out, "To", to);
            if let Some(tag) = self.to_tag.filter(|_| self.status != 100) {
                if !NameAddr::parse(to).is_ok_and(|a| a.tag().is_some()) {
                    out.truncate(out.len() - 2);
                    out.extend_from_slice(b";tag=");
                    out.extend_from_slice(tag.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        if let Some(call_id) = self.ctx.call_id() {
            line(&mut out, "Call-ID", call_id);
        }
        line(&mut out, "CSeq", self.ctx.cseq());
        out.extend_from_slice(&self.extra);
        if let Some((ct, _)) = self.body {
            line(&mut out, "Content-Type", ct.as_bytes());
        }
        line(
            &mut out,
            "Content-Length",
            body.len().to_string().as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Ok(out)
    }
}

/// A copied value may keep its line folding, but no other CR or LF.
fn folded_ok(v: &[u8]) -> bool {
    v.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => v.get(i + 1) == Some(&b'\n') && matches!(v.get(i + 2), Some(b' ' | b'\t')),
        b'\n' => i > 0 && v.get(i - 1) == Some(&b'\r'),
        _ => true,
    })
}

fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
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
    use crate::headers::auth::Algorithm;

    const REGISTER: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\r\n\
f: <sip:u@example.com>;tag=ft\r\nt: <sip:u@example.com>\r\ni: cid@h\r\nCSeq: 7 REGISTER\r\n\
Contact: <sip:u@192.0.2.1:5060>\r\nl: 0\r\n\r\n";

    #[test]
    fn challenge_401_copies_request_fields() {
        let req = Message::parse_datagram(REGISTER, &Limits::DEFAULT).unwrap();
        let c = Challenge {
            realm: "example.com",
            nonce: "n1",
            opaque: None,
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale: false,
        };
        let out = ResponseBuilder::new(&req, 401, "Unauthorized")
            .unwrap()
            .to_tag("srv1")
            .challenge(false, &c)
            .build()
            .unwrap();
        let resp = Message::parse_datagram(&out, &Limits::DEFAULT).unwrap();
        assert!(resp.validate(&Limits::DEFAULT).is_ok());
        assert_eq!(resp.status(), Some(401));
        assert_eq!(resp.vias().count(), 2);
        assert_eq!(resp.top_via().unwrap().branch(), Some(&b"z9hG4bKa"[..]));
        assert_eq!(resp.to().unwrap().tag(), Some(&b"srv1"[..]));
        assert_eq!(resp.from().unwrap().tag(), Some(&b"ft"[..]));
        assert_eq!(resp.call_id(), Some(&b"cid@h"[..]));
        assert_eq!(resp.cseq().unwrap().number, 7);
        let ch = resp.www_authenticates().next().unwrap().unwrap();
        assert_eq!(ch.realm, b"example.com");
        assert_eq!(resp.content_length(), Some(0));
    }

    #[test]
    fn ok_with_contacts_and_trying_without_tag() {
        let req = Message::parse_datagram(REGISTER, &Limits::DEFAULT).unwrap();
        let out = ResponseBuilder::new(&req, 200, "OK")
            .unwrap()
            .to_tag("t")
            .contact(b"sip:u@192.0.2.1:5060", 3600)
            .build()
            .unwrap();
        let resp = Message::parse_datagram(&out, &Limits::DEFAULT).unwrap();
        let c: Vec<_> = resp.contacts().collect();
        assert_eq!(c.len(), 1);
        let crate::headers::addr::Contact::Addr(a) = c[0].unwrap() else {
            panic!()
        };
        assert_eq!(a.expires(), Some(3600));
        let trying = ResponseBuilder::new(&req, 100, "Trying")
            .unwrap()
            .to_tag("t")
            .build()
            .unwrap();
        let t = Message::parse_datagram(&trying, &Limits::DEFAULT).unwrap();
        assert_eq!(t.to().unwrap().tag(), None);
        assert!(ResponseBuilder::new(&req, 200, "OK")
            .unwrap()
            .header("X", b"a\r\nb")
            .build()
            .is_err());
        assert!(ResponseBuilder::new(&req, 700, "Nope")
            .unwrap()
            .build()
            .is_err());
    }

    #[test]
    fn body_sets_type_and_length() {
        let req = Message::parse_datagram(REGISTER, &Limits::DEFAULT).unwrap();
        let out = ResponseBuilder::new(&req, 488, "Not Acceptable Here")
            .unwrap()
            .body("text/plain", b"hi")
            .build()
            .unwrap();
        let resp = Message::parse_datagram(&out, &Limits::DEFAULT).unwrap();
        assert_eq!(resp.body(), b"hi");
        assert!(resp.content_type().unwrap().unwrap().is("text", "plain"));
    }
}
