//! Proxy edits (RFC 3261 §16.6, §16.7, §18.2.1; RFC 3581 §4) producing a new
//! buffer in which every byte not edited is copied from the received message.

use std::ops::Range;

use crate::error::Error;
use crate::headers::via::Via;
use crate::headers::HeaderName;
use crate::message::{Header, Message};
use crate::scan;

#[derive(Debug, Clone)]
struct Splice {
    at: Range<usize>,
    insert: Range<usize>,
}

/// Collects edits to a received message; [`Editor::finish`] writes the result.
///
/// Positions refer to the received bytes, so edits do not shift each other;
/// two edits of the same bytes are reported as [`Error::ConflictingEdits`].
#[derive(Debug)]
pub struct Editor<'m, 'a> {
    msg: &'m Message<'a>,
    splices: Vec<Splice>,
    scratch: Vec<u8>,
    error: Option<Error>,
}

/// Offset of `inner` within `outer`, when `inner` is a subslice of it.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

fn value_ok(v: &[u8]) -> bool {
    !v.is_empty() && !v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

impl<'m, 'a> Editor<'m, 'a> {
    /// Start editing `msg`.
    pub fn new(msg: &'m Message<'a>) -> Self {
        Editor {
            msg,
            splices: Vec::with_capacity(6),
            scratch: Vec::with_capacity(256),
            error: None,
        }
    }

    fn fail(&mut self, e: Error) -> &mut Self {
        self.error.get_or_insert(e);
        self
    }

    fn splice(&mut self, at: Range<usize>, parts: &[&[u8]]) -> &mut Self {
        let start = self.scratch.len();
        for p in parts {
            self.scratch.extend_from_slice(p);
        }
        self.splices.push(Splice {
            at,
            insert: start..self.scratch.len(),
        });
        self
    }

    fn first(&self, kind: HeaderName) -> Option<Header<'a>> {
        self.msg.header(kind).copied()
    }

    /// Where a new header line goes: before the first `kind` line, else after the start line.
    fn insert_point(&self, kind: HeaderName) -> usize {
        self.first(kind)
            .map_or(self.msg.start_line_end() + 2, |h| h.line_range().start)
    }

    fn insert_line(&mut self, kind: HeaderName, value: &[u8]) -> &mut Self {
        if !value_ok(value) {
            return self.fail(Error::InvalidValue);
        }
        let at = self.insert_point(kind);
        self.splice(at..at, &[kind.as_str().as_bytes(), b": ", value, b"\r\n"])
    }

    /// Range of the first value of the first `kind` header, and the range to delete to remove it.
    fn first_value(&self, kind: HeaderName) -> Option<(Range<usize>, Range<usize>)> {
        let h = self.first(kind)?;
        let raw = self.msg.as_bytes();
        let mut values = h.values();
        let v = values.next()?;
        let start = offset_in(raw, v)?;
        let value = start..start + v.len();
        let delete = match values.next() {
            Some(next) => start..offset_in(raw, next)?,
            None => h.line_range(),
        };
        Some((value, delete))
    }

    /// Insert a Via line above the existing ones (RFC 3261 §16.6 step 8).
    pub fn prepend_via(&mut self, value: &[u8]) -> &mut Self {
        self.insert_line(HeaderName::Via, value)
    }

    /// Remove the topmost Via value (RFC 3261 §16.7 step 3, for responses).
    pub fn remove_top_via(&mut self) -> &mut Self {
        match self.first_value(HeaderName::Via) {
            Some((_, delete)) => self.splice(delete, &[]),
            None => self.fail(Error::NothingToEdit(HeaderName::Via)),
        }
    }

    /// Add a Record-Route value above the existing ones (RFC 3261 §16.6 step 4).
    pub fn add_record_route(&mut self, value: &[u8]) -> &mut Self {
        self.insert_line(HeaderName::RecordRoute, value)
    }

    /// Add a Path value above the existing ones (RFC 3327 §5.1).
    pub fn add_path(&mut self, value: &[u8]) -> &mut Self {
        self.insert_line(HeaderName::Path, value)
    }

    /// Remove the topmost Route value (RFC 3261 §16.4 loose routing).
    pub fn remove_top_route(&mut self) -> &mut Self {
        match self.first_value(HeaderName::Route) {
            Some((_, delete)) => self.splice(delete, &[]),
            None => self.fail(Error::NothingToEdit(HeaderName::Route)),
        }
    }

    /// Replace the topmost Route value.
    pub fn replace_top_route(&mut self, value: &[u8]) -> &mut Self {
        if !value_ok(value) {
            return self.fail(Error::InvalidValue);
        }
        match self.first_value(HeaderName::Route) {
            Some((range, _)) => self.splice(range, &[value]),
            None => self.fail(Error::NothingToEdit(HeaderName::Route)),
        }
    }

    /// Decrement Max-Forwards, or add `Max-Forwards: 70` when absent (RFC 3261 §16.6 step 3).
    /// A value of 0 (or an invalid one) is an error: the request must be answered instead.
    pub fn decrement_max_forwards(&mut self) -> &mut Self {
        let Some(h) = self.first(HeaderName::MaxForwards) else {
            let at = self.msg.start_line_end() + 2;
            return self.splice(at..at, &[b"Max-Forwards: 70\r\n"]);
        };
        let n = match crate::headers::scalar::parse_max_forwards(h.value()) {
            Ok(0) => return self.fail(Error::TooManyHops),
            Ok(n) => n - 1,
            Err(e) => return self.fail(e),
        };
        let Some(start) = offset_in(self.msg.as_bytes(), h.value()) else {
            return self.fail(Error::NothingToEdit(HeaderName::MaxForwards));
        };
        let mut digits = [0u8; 3];
        let text = format_u8(n, &mut digits);
        self.splice(start..start + h.value().len(), &[text])
    }

    /// Replace the Request-URI (RFC 3261 §16.6 step 2).
    pub fn set_request_uri(&mut self, uri: &[u8]) -> &mut Self {
        if !value_ok(uri) || uri.iter().any(|&b| b == b' ' || b == b'\t') {
            return self.fail(Error::InvalidValue);
        }
        let Some(current) = self.msg.request_uri() else {
            return self.fail(Error::InvalidValue);
        };
        match offset_in(self.msg.as_bytes(), current.as_bytes()) {
            Some(start) => self.splice(start..start + current.as_bytes().len(), &[uri]),
            None => self.fail(Error::InvalidValue),
        }
    }

    /// Add or replace a parameter of the topmost Via value, e.g. `received`
    /// (RFC 3261 §18.2.1) or `rport` (RFC 3581 §4). `None` writes a bare name.
    pub fn set_top_via_param(&mut self, name: &str, value: Option<&[u8]>) -> &mut Self {
        let good = scan::is_token_str(name.as_bytes())
            && value.is_none_or(|v| {
                v.iter()
                    .all(|&b| scan::is_token(b) || matches!(b, b'[' | b']' | b':'))
                    && !v.is_empty()
            });
        if !good {
            return self.fail(Error::InvalidValue);
        }
        let raw = self.msg.as_bytes();
        let Some(Ok(via)) = self.msg.vias().next() else {
            return self.fail(Error::NothingToEdit(HeaderName::Via));
        };
        let eq: &[u8] = if value.is_some() { b"=" } else { b"" };
        let val = value.unwrap_or_default();
        if let Some(p) = via.param(name) {
            let end_slice = p.value.unwrap_or(p.name);
            if let (Some(s), Some(e)) = (offset_in(raw, p.name), offset_in(raw, end_slice)) {
                return self.splice(s..e + end_slice.len(), &[name.as_bytes(), eq, val]);
            }
            return self.fail(Error::NothingToEdit(HeaderName::Via));
        }
        match offset_in(raw, via_end(&via)) {
            Some(s) => {
                let at = s + via_end(&via).len();
                self.splice(at..at, &[b";", name.as_bytes(), eq, val])
            }
            None => self.fail(Error::NothingToEdit(HeaderName::Via)),
        }
    }

    /// Remove every header field of one kind, e.g. credentials consumed by this
    /// proxy (RFC 3261 §22.3).
    pub fn remove_headers(&mut self, kind: HeaderName) -> &mut Self {
        let ranges: Vec<Range<usize>> = self
            .msg
            .headers_named(kind)
            .map(|h| h.line_range())
            .collect();
        for r in ranges {
            self.splice(r, &[]);
        }
        self
    }

    /// Append a header field at the end of the header section.
    pub fn add_header(&mut self, name: &str, value: &[u8]) -> &mut Self {
        if !scan::is_token_str(name.as_bytes()) || !value_ok(value) {
            return self.fail(Error::InvalidValue);
        }
        let at = self.msg.body_offset().saturating_sub(2);
        self.splice(at..at, &[name.as_bytes(), b": ", value, b"\r\n"])
    }

    /// Write the edited message.
    pub fn finish(mut self) -> Result<Vec<u8>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.splices.sort_by_key(|s| s.at.start);
        let raw = self.msg.as_bytes();
        let mut out = Vec::with_capacity(raw.len() + self.scratch.len());
        let mut pos = 0;
        for s in &self.splices {
            if s.at.start < pos {
                return Err(Error::ConflictingEdits);
            }
            out.extend_from_slice(raw.get(pos..s.at.start).ok_or(Error::ConflictingEdits)?);
            out.extend_from_slice(self.scratch.get(s.insert.clone()).unwrap_or_default());
            pos = s.at.end;
        }
        out.extend_from_slice(raw.get(pos..).unwrap_or_default());
        Ok(out)
    }
}

/// The last bytes of a Via value: its last parameter, or the sent-by.
fn via_end<'a>(via: &Via<'a>) -> &'a [u8] {
    via.as_bytes()
}

fn format_u8(n: u8, buf: &mut [u8; 3]) -> &[u8] {
    let mut i = 3;
    let mut v = n;
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + v % 10;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
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
    use crate::Limits;

    const REQ: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP  client.example.com:5060;branch=z9hG4bK1;rport, SIP/2.0/TCP other;branch=z9hG4bK0\r\n\
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Max-Forwards: 10\r\n\
From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
X-Odd:   spacing  kept\r\nContent-Length: 4\r\n\r\nbody";

    fn parse(b: &[u8]) -> Message<'_> {
        Message::parse_datagram(b, &Limits::DEFAULT).unwrap()
    }

    #[test]
    fn proxy_request_edits_keep_everything_else() {
        let m = parse(REQ);
        let mut e = Editor::new(&m);
        e.set_top_via_param("received", Some(b"192.0.2.7"))
            .set_top_via_param("rport", Some(b"40000"))
            .prepend_via(b"SIP/2.0/UDP proxy.example.net;branch=z9hG4bKp")
            .add_record_route(b"<sip:proxy.example.net;lr>")
            .remove_top_route()
            .decrement_max_forwards()
            .set_request_uri(b"sip:bob@192.0.2.99:5062");
        let out = e.finish().unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "INVITE sip:bob@192.0.2.99:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP proxy.example.net;branch=z9hG4bKp\r\n\
Record-Route: <sip:proxy.example.net;lr>\r\n\
Via: SIP/2.0/UDP  client.example.com:5060;branch=z9hG4bK1;rport=40000;received=192.0.2.7, SIP/2.0/TCP other;branch=z9hG4bK0\r\n\
Route: <sip:p2.example.com;lr>\r\n\
Max-Forwards: 9\r\n\
From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
X-Odd:   spacing  kept\r\nContent-Length: 4\r\n\r\nbody"
        );
        let again = parse(&out);
        assert_eq!(again.vias().count(), 3);
        assert!(again.validate(&Limits::DEFAULT).is_ok());
    }

    #[test]
    fn response_top_via_removal() {
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKp\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nContent-Length: 0\r\n\r\n";
        let m = parse(resp);
        let mut e = Editor::new(&m);
        e.remove_top_via();
        assert_eq!(
            e.finish().unwrap(),
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nContent-Length: 0\r\n\r\n"
        );
        let m = parse(REQ);
        let mut e = Editor::new(&m);
        e.remove_top_via().replace_top_route(b"<sip:new;lr>");
        let out = e.finish().unwrap();
        assert!(out.starts_with(b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP other;branch=z9hG4bK0\r\nRoute: <sip:new;lr>, <sip:p2.example.com;lr>\r\n"));
    }

    #[test]
    fn edit_errors() {
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 0\r\nl: 0\r\n\r\n");
        let mut e = Editor::new(&m);
        e.decrement_max_forwards();
        assert_eq!(e.finish(), Err(Error::TooManyHops));
        let mut e = Editor::new(&m);
        e.remove_top_via();
        assert_eq!(e.finish(), Err(Error::NothingToEdit(HeaderName::Via)));
        let mut e = Editor::new(&m);
        e.prepend_via(b"SIP/2.0/UDP x\r\nInjected: 1");
        assert_eq!(e.finish(), Err(Error::InvalidValue));
        let m = parse(REQ);
        let mut e = Editor::new(&m);
        e.remove_top_route().replace_top_route(b"<sip:x>");
        assert_eq!(e.finish(), Err(Error::ConflictingEdits));
        let mut e = Editor::new(&m);
        e.remove_headers(HeaderName::Route)
            .add_header("X-New", b"1");
        let out = e.finish().unwrap();
        assert!(!out.windows(6).any(|w| w == b"Route:"));
        assert!(out.ends_with(b"X-New: 1\r\n\r\nbody"));
    }

    #[test]
    fn max_forwards_added_when_absent() {
        let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
        let mut e = Editor::new(&m);
        e.decrement_max_forwards();
        assert_eq!(
            e.finish().unwrap(),
            b"OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n"
        );
        assert_eq!(format_u8(0, &mut [0; 3]), b"0");
        assert_eq!(format_u8(254, &mut [0; 3]), b"254");
    }
}
