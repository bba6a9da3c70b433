//! Message framing on stream transports (TCP, TLS): RFC 3261 §18.3
//! Content-Length delimitation and RFC 5626 §3.5.1 CRLF keepalives.

use crate::error::Error;
use crate::limits::Limits;
use crate::scan;

/// What [`Framer::poll`] found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed; nothing to consume yet.
    Incomplete,
    /// A `CRLFCRLF` keepalive ping (RFC 5626 §3.5.1): consume the bytes and answer `CRLF`.
    Ping {
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
    /// A single `CRLF`: a keepalive pong, or padding before a message (RFC 3261 §7.5).
    Pong {
        /// Bytes to drop from the front of the buffer.
        consumed: usize,
    },
    /// A complete message occupies `buf[..len]`; parse it with
    /// [`crate::Message::parse_framed`], then drop `len` bytes.
    Message {
        /// Length of the message, header section and body.
        len: usize,
    },
    /// The stream cannot be framed any further; close the connection.
    Invalid(Error),
}

/// Incremental stream framer. Feed it the unconsumed bytes of a connection;
/// after any result other than [`Frame::Incomplete`] drop the consumed bytes
/// before polling again. It remembers how far it has scanned, so a peer
/// dribbling bytes cannot make framing quadratic.
#[derive(Debug, Clone)]
pub struct Framer {
    limits: Limits,
    scanned: usize,
    total: Option<usize>,
}

impl Framer {
    /// A framer enforcing `limits`.
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            scanned: 0,
            total: None,
        }
    }

    /// Examine the unconsumed bytes of the stream.
    pub fn poll(&mut self, buf: &[u8]) -> Frame {
        let frame = self.poll_inner(buf);
        if frame != Frame::Incomplete {
            self.scanned = 0;
            self.total = None;
        }
        frame
    }

    fn poll_inner(&mut self, buf: &[u8]) -> Frame {
        if let Some(total) = self.total {
            return if buf.len() >= total {
                Frame::Message { len: total }
            } else {
                Frame::Incomplete
            };
        }
        match buf {
            [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Frame::Incomplete,
            [b'\r', b'\n', b'\r', b'\n', ..] => return Frame::Ping { consumed: 4 },
            [b'\r', b'\n', ..] => return Frame::Pong { consumed: 2 },
            _ => {}
        }
        let window = buf
            .get(..buf.len().min(self.limits.max_header_bytes))
            .unwrap_or_default();
        let from = self.scanned.saturating_sub(3).min(window.len());
        let Some(pos) =
            scan::find(window.get(from..).unwrap_or_default(), b"\r\n\r\n").map(|p| p + from)
        else {
            self.scanned = window.len();
            return if buf.len() >= self.limits.max_header_bytes {
                Frame::Invalid(Error::HeaderSectionTooLarge)
            } else {
                Frame::Incomplete
            };
        };
        let head = buf.get(..pos + 2).unwrap_or_default();
        let body = match content_length(head) {
            Ok(Some(n)) => n,
            Ok(None) => return Frame::Invalid(Error::MissingContentLength),
            Err(e) => return Frame::Invalid(e),
        };
        if body > self.limits.max_body_bytes {
            return Frame::Invalid(Error::BodyTooLarge);
        }
        let total = pos + 4 + body;
        if total > self.limits.max_message_bytes {
            return Frame::Invalid(Error::MessageTooLarge);
        }
        self.total = Some(total);
        if buf.len() >= total {
            Frame::Message { len: total }
        } else {
            Frame::Incomplete
        }
    }
}

/// Find the single Content-Length (or `l`) in a header section, folding included.
fn content_length(head: &[u8]) -> Result<Option<usize>, Error> {
    let mut found: Option<usize> = None;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip(1)
        .peekable();
    while let Some(line) = lines.next() {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = scan::trim_end(line.get(..colon).unwrap_or_default());
        if !(name.eq_ignore_ascii_case(b"Content-Length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = scan::trim(line.get(colon + 1..).unwrap_or_default());
        while let Some(next) = lines.next_if(|l| matches!(l.first(), Some(b' ' | b'\t'))) {
            if value.is_empty() {
                value = scan::trim(next);
            } else if !scan::trim(next).is_empty() {
                return Err(Error::InvalidContentLength);
            }
        }
        if found.is_some() {
            return Err(Error::MultipleContentLength);
        }
        let n =
            scan::parse_decimal(value, u64::from(u32::MAX)).ok_or(Error::InvalidContentLength)?;
        found = Some(usize::try_from(n).map_err(|_| Error::InvalidContentLength)?);
    }
    Ok(found)
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

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody";

    #[test]
    fn keepalives_and_incomplete() {
        let mut f = Framer::new(Limits::DEFAULT);
        assert_eq!(f.poll(b""), Frame::Incomplete);
        assert_eq!(f.poll(b"\r\n"), Frame::Incomplete);
        assert_eq!(f.poll(b"\r\n\r\n"), Frame::Ping { consumed: 4 });
        assert_eq!(f.poll(b"\r\nOPTIONS"), Frame::Pong { consumed: 2 });
        assert_eq!(f.poll(&MSG[..10]), Frame::Incomplete);
        assert_eq!(f.poll(&MSG[..MSG.len() - 1]), Frame::Incomplete);
        assert_eq!(f.poll(MSG), Frame::Message { len: MSG.len() });
    }

    #[test]
    fn framing_errors_are_distinct_from_incomplete() {
        let mut f = Framer::new(Limits::DEFAULT);
        let cases: [(&[u8], Error); 5] = [
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n",
                Error::MissingContentLength,
            ),
            (
                b"INVITE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n",
                Error::InvalidContentLength,
            ),
            (
                b"INVITE sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx",
                Error::MultipleContentLength,
            ),
            (
                b"INVITE sip:a@b SIP/2.0\r\nl: 99999999\r\n\r\n",
                Error::BodyTooLarge,
            ),
            (
                b"INVITE sip:a@b SIP/2.0\r\nl: 4x\r\n\r\n",
                Error::InvalidContentLength,
            ),
        ];
        for (input, err) in cases {
            assert_eq!(f.poll(input), Frame::Invalid(err));
        }
        let mut small = Framer::new(Limits {
            max_header_bytes: 64,
            ..Limits::DEFAULT
        });
        assert_eq!(small.poll(&[b'A'; 63]), Frame::Incomplete);
        assert_eq!(
            small.poll(&[b'A'; 64]),
            Frame::Invalid(Error::HeaderSectionTooLarge)
        );
    }

    #[test]
    fn folded_content_length() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 2\r\n\r\nok";
        assert_eq!(
            Framer::new(Limits::DEFAULT).poll(m),
            Frame::Message { len: m.len() }
        );
    }
}
