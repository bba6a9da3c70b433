//! The incremental stream reader: bytes in, stream events out.

use rxml::error::EndOrError;
use rxml::{Parse, RawParser, WithOptions};

use crate::element::Element;
use crate::error::{Limit, StreamError};
use crate::header::StreamHeader;
use crate::limits::Limits;
use crate::tree::TreeBuilder;

/// What the reader found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer's stream header was read completely (RFC 6120 §4.2, §4.7).
    StreamOpen(StreamHeader),
    /// One complete top-level element (RFC 6120 §4.1): a stanza, or a
    /// stream-level element such as `<stream:features/>`, `<starttls/>`,
    /// `<auth/>` or `<stream:error/>`.
    Stanza(Element),
    /// Whitespace between top-level elements: a whitespace keepalive
    /// (RFC 6120 §4.6.1). Reported (rather than swallowed) so that the server
    /// can reset its idle timer. Very long runs of whitespace may be reported
    /// as several keepalives.
    Keepalive,
    /// The peer sent `</stream:stream>` (RFC 6120 §4.4). Nothing after it is
    /// read.
    StreamClose,
}

#[derive(Debug)]
enum State {
    Reading,
    Closed,
    /// Boxed: rare, and every connection's reader pays for the slot.
    Failed(Box<StreamError>),
}

/// Incremental, namespace-aware reader for one direction of an XMPP stream.
///
/// Sans-IO: hand it whatever bytes arrived with [`Self::feed`], then call
/// [`Self::poll_event`] until it returns `Ok(None)`. Chunks may be split
/// anywhere, down to single bytes.
///
/// ```
/// use rtc_xmlstream::{Event, Limits, StreamReader};
/// let mut r = StreamReader::new(Limits::default());
/// r.feed(b"<stream:stream xmlns='jabber:client' \
///          xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>\
///          <presence/>");
/// assert!(matches!(r.poll_event(), Ok(Some(Event::StreamOpen(h))) if h.to.as_deref() == Some("example.com")));
/// assert!(matches!(r.poll_event(), Ok(Some(Event::Stanza(p))) if p.name() == "presence"));
/// assert_eq!(r.poll_event(), Ok(None));
/// ```
///
/// # Memory
///
/// Parsing stops after each event, so bytes that follow it stay in an
/// internal buffer until the next poll: feeding without polling makes that
/// buffer grow. A connection driver that must pause (say, while a
/// credential is checked) should stop reading its socket meanwhile;
/// [`Self::buffered_len`] shows what is pending. Everything else is bounded
/// by [`Limits`]: the tokenizer keeps at most one token, and the stanza
/// being built is cut off once it has used the stanza byte limit. Between
/// stanzas, once every fed byte is parsed, the reader gives its input
/// buffer and the tokenizer's scratch space back, so an idle stream holds
/// only its parser state.
///
/// # Restarts (RFC 6120 §5.3.7, §6.4.6)
///
/// After SASL success call [`Self::set_authenticated`] and [`Self::reset`];
/// bytes the client already pipelined (typically the new stream header)
/// are kept and parsed by the fresh parser. After STARTTLS, bytes that
/// arrived in plaintext after `<starttls/>` must not be read as part of
/// the encrypted stream (STARTTLS command injection): take them with
/// [`Self::take_unparsed`] and treat them as TLS records (or close the
/// connection if there are any), then call [`Self::reset`].
#[derive(Debug)]
pub struct StreamReader {
    limits: Limits,
    authenticated: bool,
    parser: RawParser,
    tree: TreeBuilder,
    buf: Vec<u8>,
    /// Start of the bytes in `buf` not yet handed to the parser.
    pos: usize,
    /// Input bytes since the last top-level boundary (stream header end,
    /// stanza end, keepalive).
    since_boundary: usize,
    state: State,
}

impl StreamReader {
    /// A reader expecting a stream header, with the pre-authentication
    /// stanza size limit in force.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            authenticated: false,
            parser: new_parser(&limits),
            tree: TreeBuilder::new(),
            buf: Vec::new(),
            pos: 0,
            since_boundary: 0,
            state: State::Reading,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Switch between the pre- and post-authentication stanza size limits.
    pub fn set_authenticated(&mut self, authenticated: bool) {
        self.authenticated = authenticated;
    }

    /// Whether the post-authentication stanza size limit is in force.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Append received bytes. Ignored once the stream has failed or closed.
    pub fn feed(&mut self, data: &[u8]) {
        if !matches!(self.state, State::Reading) || data.is_empty() {
            return;
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes fed but not yet parsed.
    pub fn buffered_len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Capacity of the internal input buffer, for memory accounting.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Remove and return the bytes fed but not yet parsed.
    pub fn take_unparsed(&mut self) -> Vec<u8> {
        let rest = self
            .buf
            .get(self.pos..)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        self.buf.clear();
        self.pos = 0;
        rest
    }

    /// Start a new stream on the same connection (RFC 6120 §4.3.3): forget
    /// all parser state and expect a fresh stream header (optionally after
    /// an XML declaration). Unparsed bytes and the authentication state are
    /// kept. Call it only after [`Self::poll_event`] returned the event
    /// that triggers the restart.
    pub fn reset(&mut self) {
        self.parser = new_parser(&self.limits);
        self.tree = TreeBuilder::new();
        self.since_boundary = 0;
        self.state = State::Reading;
    }

    /// The next event, `Ok(None)` when more input is needed (or the stream
    /// has closed), or the error that ends the stream. Errors are sticky.
    pub fn poll_event(&mut self) -> Result<Option<Event>, StreamError> {
        match &self.state {
            State::Reading => {}
            State::Closed => return Ok(None),
            State::Failed(e) => return Err(**e),
        }
        match self.advance() {
            Ok(Some(Event::StreamClose)) => {
                self.state = State::Closed;
                self.take_unparsed();
                Ok(Some(Event::StreamClose))
            }
            Ok(other) => Ok(other),
            Err(e) => {
                self.state = State::Failed(Box::new(e));
                // Release everything the dead stream held.
                self.buf = Vec::new();
                self.pos = 0;
                self.tree = TreeBuilder::new();
                Err(e)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<Event>, StreamError> {
        let limit = self.limits.stanza_bytes(self.authenticated);
        loop {
            let available = self.buf.get(self.pos..).unwrap_or(&[]);
            // Never let the parser see more than one byte beyond the budget,
            // so an endless stanza is cut off exactly at the limit.
            let budget = limit.saturating_sub(self.since_boundary).saturating_add(1);
            let mut window = available.get(..budget).unwrap_or(available);
            let offered = window.len();
            let result = self.parser.parse(&mut window, false);
            let consumed = offered - window.len();
            self.pos += consumed;
            self.since_boundary = self.since_boundary.saturating_add(consumed);
            if self.since_boundary > limit {
                return Err(StreamError::PolicyViolation(Limit::StanzaBytes));
            }
            match result {
                Ok(Some(raw)) => {
                    let len = raw.metrics().len();
                    match self.tree.handle(raw, &self.limits)? {
                        None => {}
                        Some(Event::Keepalive) => {
                            self.since_boundary = self.since_boundary.saturating_sub(len);
                            return Ok(Some(Event::Keepalive));
                        }
                        Some(event) => {
                            self.since_boundary = 0;
                            return Ok(Some(event));
                        }
                    }
                }
                // Only reachable with at_eof, which is never passed.
                Ok(None) => return Ok(None),
                Err(EndOrError::NeedMoreData) => {
                    if self.pos >= self.buf.len() {
                        self.buf.clear();
                        self.pos = 0;
                        if self.since_boundary == 0 {
                            self.release_idle_memory();
                        }
                        return Ok(None);
                    }
                    if consumed == 0 {
                        return Ok(None);
                    }
                }
                Err(EndOrError::Error(e)) => return Err(StreamError::from_xml(e)),
            }
        }
    }
}

impl StreamReader {
    /// Between top-level elements with nothing buffered: give back the
    /// input buffer and the tokenizer's scratch space (rxml reserves
    /// `max_token_bytes` up front), so an idle stream costs a few hundred
    /// bytes instead of several KiB. They are allocated again when the next
    /// bytes arrive.
    fn release_idle_memory(&mut self) {
        self.buf = Vec::new();
        self.parser.release_temporaries();
        self.tree.release_idle_memory();
    }
}

fn new_parser(limits: &Limits) -> RawParser {
    RawParser::with_options(rxml::Options {
        max_token_length: limits.effective_token_bytes(),
        ..rxml::Options::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection holds a reader for its whole life (xmppd keeps tens
    /// of thousands idle): rare state such as a failure stays boxed.
    #[test]
    fn stream_reader_stays_small() {
        let size = std::mem::size_of::<StreamReader>();
        assert!(size <= 624, "a StreamReader is {size} bytes");
        assert!(std::mem::size_of::<State>() <= 16);
    }
}
