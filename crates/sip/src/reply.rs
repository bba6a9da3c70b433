//! What a server needs to answer a request it refuses: the raw Via, From, To,
//! Call-ID and CSeq (RFC 3261 §8.2.6.2), salvaged even from a broken message.

use crate::headers::HeaderName;
use crate::limits::Limits;
use crate::scan;

/// The header field values a response must copy from its request, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyContext<'a> {
    vias: Vec<&'a [u8]>,
    from: &'a [u8],
    to: &'a [u8],
    call_id: &'a [u8],
    cseq: &'a [u8],
}

impl<'a> ReplyContext<'a> {
    /// Scan a possibly malformed request tolerantly. Returns `None` for
    /// responses, ACKs (never answered, RFC 3261 §17.2.1) and messages without
    /// Via or CSeq, which the client needs to match the answer (RFC 3261 §17.1.3).
    /// A missing From, To or Call-ID is left out of the answer (RFC 4475 §3.3.1).
    pub(crate) fn salvage(buf: &'a [u8], limits: &Limits) -> Option<ReplyContext<'a>> {
        let buf = buf
            .get(..buf.len().min(limits.max_header_bytes))
            .unwrap_or(buf);
        let mut lines = Lines { rest: buf };
        let first = lines.next()?;
        let method = first.split(|&b| b == b' ').next()?;
        if first.starts_with(b"SIP/") || !scan::is_token_str(method) || method == b"ACK" {
            return None;
        }
        let mut ctx = ReplyContext::default();
        for line in lines.take(limits.max_headers) {
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = scan::trim(line.get(..colon).unwrap_or_default());
            let value = scan::trim(line.get(colon + 1..).unwrap_or_default());
            ctx.note(HeaderName::from_bytes(name), value, limits);
        }
        let complete = !ctx.vias.is_empty() && !ctx.cseq.is_empty();
        complete.then_some(ctx)
    }

    /// The same values from a parsed request: `None` for responses, ACKs and
    /// requests without Via or CSeq. Folded values keep their folding.
    pub(crate) fn of_message(msg: &crate::Message<'a>, limits: &Limits) -> Option<ReplyContext<'a>> {
        if matches!(msg.method(), None | Some(crate::Method::Ack)) {
            return None;
        }
        let mut ctx = ReplyContext::default();
        for h in msg.headers() {
            ctx.note(h.kind(), h.value(), limits);
        }
        let complete = !ctx.vias.is_empty() && !ctx.cseq.is_empty();
        complete.then_some(ctx)
    }

    /// Keep `value` if a response copies it: every Via (up to the limit),
    /// the first non-empty From, To, Call-ID and CSeq.
    fn note(&mut self, kind: HeaderName, value: &'a [u8], limits: &Limits) {
        if value.is_empty() {
            return;
        }
        let slot = match kind {
            HeaderName::Via => {
                if self.vias.len() < limits.max_list_values {
                    self.vias.push(value);
                }
                return;
            }
            HeaderName::From => &mut self.from,
            HeaderName::To => &mut self.to,
            HeaderName::CallId => &mut self.call_id,
            HeaderName::CSeq => &mut self.cseq,
            _ => return,
        };
        if slot.is_empty() {
            *slot = value;
        }
    }

    /// Every Via value of the request, top first, as received.
    pub fn vias(&self) -> &[&'a [u8]] {
        &self.vias
    }
    /// The From value as received, when present.
    pub fn from(&self) -> Option<&'a [u8]> {
        (!self.from.is_empty()).then_some(self.from)
    }
    /// The To value as received, when present.
    pub fn to(&self) -> Option<&'a [u8]> {
        (!self.to.is_empty()).then_some(self.to)
    }
    /// The Call-ID value as received, when present.
    pub fn call_id(&self) -> Option<&'a [u8]> {
        (!self.call_id.is_empty()).then_some(self.call_id)
    }
    /// The CSeq value as received.
    pub fn cseq(&self) -> &'a [u8] {
        self.cseq
    }
}

/// Logical header lines (folded continuation lines joined), without CRLF.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            match scan::find(self.rest.get(end..).unwrap_or_default(), b"\r\n") {
                Some(p) => {
                    end += p;
                    // Continue past folding, but never join across the empty line.
                    if end > 0 && matches!(self.rest.get(end + 2), Some(b' ' | b'\t')) {
                        end += 2;
                        continue;
                    }
                    let line = self.rest.get(..end).unwrap_or_default();
                    self.rest = self.rest.get(end + 2..).unwrap_or_default();
                    return Some(line);
                }
                None => {
                    let line = self.rest;
                    self.rest = &[];
                    return Some(line);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Taking the context from the parsed header fields gives what scanning
    /// the bytes gives, for every request of the RFC 4475 corpus that parses
    /// (folded lines aside: the parse keeps a folded value whole).
    #[test]
    fn context_of_a_parsed_request_equals_the_salvaged_one() {
        let limits = Limits::DEFAULT;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc4475");
        let mut compared = 0;
        let mut extra: Vec<Vec<u8>> = vec![
            b"REGISTER sip:x SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b\r\nf: <sip:a@x>;tag=1\r\nt: <sip:a@x>\r\ni: c1\r\nCSeq: 2 REGISTER\r\nCall-ID: second\r\n\r\n".to_vec(),
            b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nCSeq: 1 ACK\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\nCSeq: 1 INVITE\r\n\r\n".to_vec(),
            b"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n".to_vec(),
        ];
        for entry in std::fs::read_dir(dir).unwrap() {
            extra.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
        for data in &extra {
            let Ok(msg) = crate::Message::parse_datagram(data, &limits) else { continue };
            let parsed = ReplyContext::of_message(&msg, &limits);
            let folded = data.windows(3).any(|w| w == b"\r\n " || w == b"\r\n\t");
            if folded {
                assert_eq!(parsed.is_some(), ReplyContext::salvage(msg.as_bytes(), &limits).is_some());
            } else {
                assert_eq!(parsed, ReplyContext::salvage(msg.as_bytes(), &limits), "{}", String::from_utf8_lossy(data));
            }
            compared += 1;
        }
        assert!(compared > 20, "only {compared} messages compared");
    }
}
