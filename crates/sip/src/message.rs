//! The zero-copy message parser (RFC 3261 §7): start line, header fields with
//! line folding and compact names, and body delimitation by Content-Length.

use std::ops::Range;

use crate::error::{Error, ParseFailure};
use crate::headers::HeaderName;
use crate::limits::Limits;
use crate::method::Method;
use crate::reply::ReplyContext;
use crate::scan::{self, CommaSplit};
use crate::uri::Uri;

/// The Request-Line (RFC 3261 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method.
    pub method: Method<'a>,
    /// The Request-URI.
    pub uri: Uri<'a>,
}

/// The Status-Line (RFC 3261 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// The three-digit status code, 100 to 699.
    pub code: u16,
    /// The reason phrase as received (may be empty or UTF-8).
    pub reason: &'a [u8],
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// A request.
    Request(RequestLine<'a>),
    /// A response.
    Response(StatusLine<'a>),
}

/// One header field (RFC 3261 §7.3), borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    name: &'a [u8],
    kind: HeaderName,
    value: &'a [u8],
    start: u32,
    end: u32,
}

impl<'a> Header<'a> {
    /// The name as received (possibly compact, any case).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }
    /// The recognised name.
    pub fn kind(&self) -> HeaderName {
        self.kind
    }
    /// The value, trimmed; folded lines keep their CRLF and indentation.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }
    /// The comma-separated values of a list header field (RFC 3261 §7.3.1).
    pub fn values(&self) -> CommaSplit<'a> {
        CommaSplit::new(self.value)
    }
    /// Byte range of the whole header line(s), CRLF included, within the message.
    pub fn line_range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A parsed SIP message: a view over the received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    raw: &'a [u8],
    start: StartLine<'a>,
    start_line_end: usize,
    headers: Vec<Header<'a>>,
    body_start: usize,
    content_length: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Datagram,
    Stream,
}

impl<'a> Message<'a> {
    /// Parse one UDP datagram or WebSocket message (RFC 3261 §18.3, RFC 7118 §5):
    /// Content-Length may be absent (the body is the rest); bytes beyond
    /// Content-Length are ignored; a Content-Length larger than the data is an error.
    pub fn parse_datagram(buf: &'a [u8], limits: &Limits) -> Result<Message<'a>, ParseFailure<'a>> {
        Self::parse_mode(buf, limits, Mode::Datagram)
    }

    /// Parse a message delimited by [`crate::Framer`] on a stream: Content-Length is required.
    pub fn parse_framed(buf: &'a [u8], limits: &Limits) -> Result<Message<'a>, ParseFailure<'a>> {
        Self::parse_mode(buf, limits, Mode::Stream)
    }

    fn parse_mode(
        buf: &'a [u8],
        limits: &Limits,
        mode: Mode,
    ) -> Result<Message<'a>, ParseFailure<'a>> {
        let skip = leading_crlfs(buf);
        let buf = buf.get(skip..).unwrap_or_default();
        Self::parse_inner(buf, limits, mode).map_err(|e| failure(buf, limits, e))
    }

    fn parse_inner(buf: &'a [u8], limits: &Limits, mode: Mode) -> Result<Message<'a>, Error> {
        if buf.is_empty() {
            return Err(Error::Empty);
        }
        if buf.len() > limits.max_message_bytes && mode == Mode::Datagram {
            return Err(Error::MessageTooLarge);
        }
        let window = buf
            .get(..buf.len().min(limits.max_header_bytes))
            .unwrap_or_default();
        let (head_end, body_start) = match scan::find(window, b"\r\n\r\n") {
            Some(p) => (p + 2, p + 4),
            None if buf.len() > limits.max_header_bytes => {
                return Err(Error::HeaderSectionTooLarge)
            }
            // A datagram is delimited by the transport: accept a missing empty line.
            None if mode == Mode::Datagram && buf.ends_with(b"\r\n") => (buf.len(), buf.len()),
            None => return Err(Error::UnterminatedHeaders),
        };
        let first_end = line_end(buf, 0, head_end)?;
        let start = parse_start_line(buf.get(..first_end).unwrap_or_default())?;
        let mut headers: Vec<Header<'a>> = Vec::with_capacity(24);
        let mut content_length = None;
        let mut pos = first_end + 2;
        let mut value_start = 0;
        while pos < head_end {
            let end = line_end(buf, pos, head_end)?;
            let line = buf.get(pos..end).unwrap_or_default();
            if matches!(line.first(), Some(b' ' | b'\t')) {
                // Line folding (RFC 3261 §7.3.1): extend the previous header field.
                let h = headers.last_mut().ok_or(Error::InvalidHeaderLine)?;
                h.value = scan::trim(buf.get(value_start..end).unwrap_or_default());
                h.end = u32::try_from(end + 2).map_err(|_| Error::MessageTooLarge)?;
            } else {
                if let Some(prev) = headers.last() {
                    note_content_length(prev, &mut content_length)?;
                }
                if headers.len() >= limits.max_headers {
                    return Err(Error::TooManyHeaders);
                }
                let colon = line
                    .iter()
                    .position(|&b| b == b':')
                    .ok_or(Error::InvalidHeaderLine)?;
                let name = scan::trim_end(line.get(..colon).unwrap_or_default());
                if !scan::is_token_str(name) || name.len() != scan::trim_start(name).len() {
                    return Err(Error::InvalidHeaderLine);
                }
                value_start = pos + colon + 1;
                headers.push(Header {
                    name,
                    kind: HeaderName::from_bytes(name),
                    value: scan::trim(buf.get(value_start..end).unwrap_or_default()),
                    start: u32::try_from(pos).map_err(|_| Error::MessageTooLarge)?,
                    end: u32::try_from(end + 2).map_err(|_| Error::MessageTooLarge)?,
                });
            }
            pos = end + 2;
        }
        if let Some(prev) = headers.last() {
            note_content_length(prev, &mut content_length)?;
        }
        let available = buf.len() - body_start.min(buf.len());
        let body_len = match (content_length, mode) {
            (Some(n), _) if n > available => return Err(Error::ContentLengthExceedsData),
            (Some(n), _) => n,
            (None, Mode::Stream) => return Err(Error::MissingContentLength),
            (None, Mode::Datagram) => available,
        };
        if body_len > limits.max_body_bytes {
            return Err(Error::BodyTooLarge);
        }
        let total = body_start.min(buf.len()) + body_len;
        if total > limits.max_message_bytes {
            return Err(Error::MessageTooLarge);
        }
        Ok(Message {
            raw: buf.get(..total).unwrap_or_default(),
            start,
            start_line_end: first_end,
            headers,
            body_start: body_start.min(buf.len()),
            content_length,
        })
    }

    /// The message bytes exactly as received (leading keepalive CRLFs and
    /// bytes after the body excluded).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }
    /// The start line bytes, without CRLF.
    pub fn start_line_bytes(&self) -> &'a [u8] {
        self.raw.get(..self.start_line_end).unwrap_or_default()
    }
    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }
    /// The request method, for requests.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request(r) => Some(r.method),
            StartLine::Response(_) => None,
        }
    }
    /// The Request-URI, for requests.
    pub fn request_uri(&self) -> Option<Uri<'a>> {
        match self.start {
            StartLine::Request(r) => Some(r.uri),
            StartLine::Response(_) => None,
        }
    }
    /// The status code, for responses.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response(s) => Some(s.code),
            StartLine::Request(_) => None,
        }
    }
    /// The reason phrase, for responses.
    pub fn reason(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Response(s) => Some(s.reason),
            StartLine::Request(_) => None,
        }
    }
    /// All header fields in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }
    /// Header fields of one kind, in order.
    pub fn headers_named(&self, kind: HeaderName) -> impl Iterator<Item = &Header<'a>> + '_ {
        self.headers.iter().filter(move |h| h.kind == kind)
    }
    /// The first header field of one kind.
    pub fn header(&self, kind: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.kind == kind)
    }
    /// Header fields with an unrecognised name, matched case-insensitively.
    pub fn header_by_name(&self, name: &str) -> Option<&Header<'a>> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
    }
    /// All comma-separated values of one list header family, across repeated fields.
    pub fn values(&self, kind: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.headers_named(kind).flat_map(|h| h.values())
    }
    /// The Content-Length, when the header field is present.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }
    /// The body.
    pub fn body(&self) -> &'a [u8] {
        self.raw.get(self.body_start..).unwrap_or_default()
    }
    /// Offset where the body starts (just after the empty line).
    pub fn body_offset(&self) -> usize {
        self.body_start
    }
    /// Offset of the end of the start line (where the first header line begins, minus CRLF).
    pub(crate) fn start_line_end(&self) -> usize {
        self.start_line_end
    }
}

/// Number of bytes taken by leading CRLF pairs (RFC 3261 §7.5).
pub(crate) fn leading_crlfs(buf: &[u8]) -> usize {
    buf.chunks_exact(2).take_while(|c| *c == b"\r\n").count() * 2
}

/// Position of the CRLF ending the line at `from`; bare CR or LF is an error.
fn line_end(buf: &[u8], from: usize, limit: usize) -> Result<usize, Error> {
    let mut i = from;
    while i < limit {
        match buf.get(i) {
            Some(b'\r') if buf.get(i + 1) == Some(&b'\n') => return Ok(i),
            Some(b'\r' | b'\n') | None => return Err(Error::InvalidHeaderLine),
            Some(_) => i += 1,
        }
    }
    Err(Error::InvalidHeaderLine)
}

fn note_content_length(h: &Header<'_>, cl: &mut Option<usize>) -> Result<(), Error> {
    if h.kind != HeaderName::ContentLength {
        return Ok(());
    }
    if cl.is_some() {
        return Err(Error::MultipleContentLength);
    }
    let n = scan::parse_decimal(h.value, u64::from(u32::MAX)).ok_or(Error::InvalidContentLength)?;
    *cl = Some(usize::try_from(n).map_err(|_| Error::InvalidContentLength)?);
    Ok(())
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, Error> {
    if let Some(rest) = line.strip_prefix(b"SIP/") {
        let mut parts = rest.splitn(3, |&b| b == b' ');
        let version = parts.next().unwrap_or_default();
        check_version(version)?;
        let code = parts.next().ok_or(Error::InvalidStartLine)?;
        if code.len() != 3 {
            return Err(Error::InvalidStatusCode);
        }
        let code = scan::parse_decimal(code, 699)
            .filter(|c| *c >= 100)
            .and_then(|c| u16::try_from(c).ok())
            .ok_or(Error::InvalidStatusCode)?;
        let reason = parts.next().unwrap_or_default();
        return Ok(StartLine::Response(StatusLine { code, reason }));
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::InvalidStartLine);
    };
    if !scan::is_token_str(method) || uri.is_empty() {
        return Err(Error::InvalidStartLine);
    }
    let version = version
        .strip_prefix(b"SIP/")
        .ok_or(Error::InvalidStartLine)?;
    check_version(version)?;
    let uri = Uri::parse(uri).map_err(|_| Error::InvalidRequestUri)?;
    Ok(StartLine::Request(RequestLine {
        method: Method::from_bytes(method),
        uri,
    }))
}

/// `2.0` is supported; any other `digits.digits` is a version we do not speak.
fn check_version(v: &[u8]) -> Result<(), Error> {
    if v == b"2.0" {
        return Ok(());
    }
    let mut it = v.splitn(2, |&b| b == b'.');
    let well_formed = it
        .next()
        .is_some_and(|m| !m.is_empty() && m.iter().all(u8::is_ascii_digit))
        && it
            .next()
            .is_some_and(|m| !m.is_empty() && m.iter().all(u8::is_ascii_digit));
    Err(if well_formed {
        Error::UnsupportedVersion
    } else {
        Error::InvalidStartLine
    })
}

/// Build the failure value: salvage what a 400 needs when the message is a request.
pub(crate) fn failure<'a>(buf: &'a [u8], limits: &Limits, error: Error) -> ParseFailure<'a> {
    ParseFailure::new(error, error.status(), ReplyContext::salvage(buf, limits))
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

    const L: Limits = Limits::DEFAULT;

    #[test]
    fn folded_header_keeps_raw_bytes() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n two\r\nl: 0\r\n\r\n";
        let msg = Message::parse_datagram(m, &L).unwrap();
        let h = msg.header(HeaderName::Subject).unwrap();
        assert_eq!(h.value(), b"one\r\n two");
        assert_eq!(&m[h.line_range()], b"Subject: one\r\n two\r\n");
        assert_eq!(msg.content_length(), Some(0));
    }

    #[test]
    fn status_line_variants() {
        fn ok(s: &[u8]) -> Result<Option<u16>, Error> {
            Message::parse_datagram(s, &L)
                .map(|m| m.status())
                .map_err(|f| f.error())
        }
        assert_eq!(ok(b"SIP/2.0 100 \r\n\r\n").unwrap(), Some(100));
        assert_eq!(ok(b"SIP/2.0 180\r\n\r\n").unwrap(), Some(180));
        assert_eq!(
            ok(b"SIP/2.0 700 X\r\n\r\n").unwrap_err(),
            Error::InvalidStatusCode
        );
        assert_eq!(
            ok(b"SIP/2.0 99 X\r\n\r\n").unwrap_err(),
            Error::InvalidStatusCode
        );
        assert_eq!(
            ok(b"SIP/3.0 200 OK\r\n\r\n").unwrap_err(),
            Error::UnsupportedVersion
        );
    }

    #[test]
    fn stream_mode_needs_content_length() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
        assert_eq!(
            Message::parse_framed(m, &L).unwrap_err().error(),
            Error::MissingContentLength
        );
        assert!(Message::parse_datagram(m, &L).is_ok());
    }

    #[test]
    fn bare_lf_and_header_without_colon_are_rejected() {
        for m in [
            &b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\ny\r\n\r\n"[..],
            b"OPTIONS sip:a@b SIP/2.0\r\nNoColon\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\n continuation\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(Message::parse_datagram(m, &L).is_err());
        }
    }

    #[test]
    fn limits_are_enforced() {
        let tight = Limits {
            max_headers: 2,
            ..L
        };
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            Message::parse_datagram(m, &tight).unwrap_err().error(),
            Error::TooManyHeaders
        );
        let tight = Limits {
            max_body_bytes: 3,
            ..L
        };
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody";
        assert_eq!(
            Message::parse_datagram(m, &tight).unwrap_err().error(),
            Error::BodyTooLarge
        );
    }
}
