//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rtc_xmlstream::{Event, StreamError, StreamReader};

/// A client-to-server stream header, as a client sends it (RFC 6120 §4.7).
pub const C2S_HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream \
    from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Feed `input` in pieces of `chunk` bytes, draining events after each piece.
/// Stops at the first error and returns the events seen so far with it.
pub fn read_chunked(
    reader: &mut StreamReader,
    input: &[u8],
    chunk: usize,
) -> (Vec<Event>, Option<StreamError>) {
    let mut events = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        reader.feed(piece);
        loop {
            match reader.poll_event() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

/// Feed everything at once and drain.
pub fn read_all(reader: &mut StreamReader, input: &[u8]) -> (Vec<Event>, Option<StreamError>) {
    read_chunked(reader, input, input.len())
}

/// The error `input` produces after a valid c2s header, fed in one piece
/// and byte by byte (both must agree).
pub fn error_after_header(input: &[u8]) -> StreamError {
    let mut whole = C2S_HEADER.to_vec();
    whole.extend_from_slice(input);
    let mut results = Vec::new();
    for chunk in [whole.len(), 1, 7] {
        let mut r = StreamReader::new(Default::default());
        let (_, err) = read_chunked(&mut r, &whole, chunk);
        results.push(err.expect("input must be refused"));
    }
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "chunking changed the error: {results:?}"
    );
    results[0]
}
