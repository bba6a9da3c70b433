//! Body of the `xml_stream` fuzz target, public so that a stable unit test
//! can run it on generated input. Not part of the API.
//!
//! Panics (deliberately) when it finds a bug: a stanza the reader accepted
//! that the writer cannot serialise, or that does not read back identical.

#![allow(clippy::panic)]

use crate::reader::{Event, StreamReader};
use crate::writer::{write_stanza, write_stream_open};
use crate::{Element, Limits, StreamHeader};

/// Feed `data[1..]` in chunks of `(data[0] & 0x3f) + 1` bytes; bit 0x40 of
/// `data[0]` starts authenticated, bit 0x80 restarts the stream after each
/// close. Every header and stanza read is written and read back.
pub fn stream_roundtrip(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(control & 0x3f) + 1;
    let limits = Limits::default();
    let mut reader = StreamReader::new(limits);
    reader.set_authenticated(control & 0x40 != 0);
    let mut header: Option<StreamHeader> = None;
    for piece in input.chunks(chunk) {
        reader.feed(piece);
        loop {
            match reader.poll_event() {
                Ok(Some(Event::StreamOpen(h))) => {
                    check_roundtrip(&limits, &h, None);
                    header = Some(h);
                }
                Ok(Some(Event::Stanza(el))) => match &header {
                    Some(h) => check_roundtrip(&limits, h, Some(&el)),
                    None => panic!("stanza before stream header: {el:?}"),
                },
                Ok(Some(Event::Keepalive)) => {}
                Ok(Some(Event::StreamClose)) => {
                    if control & 0x80 != 0 {
                        reader.reset();
                        header = None;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if reader.poll_event() != Err(e) {
                        panic!("error {e:?} is not sticky");
                    }
                    return;
                }
            }
        }
    }
}

/// Write `header` (and `stanza`) and read it back with a fresh reader.
fn check_roundtrip(limits: &Limits, header: &StreamHeader, stanza: Option<&Element>) {
    let mut bytes = Vec::new();
    if let Err(e) = write_stream_open(&mut bytes, header) {
        panic!("cannot write header {header:?}: {e}");
    }
    if let Some(el) = stanza {
        if let Err(e) = write_stanza(&mut bytes, el, header.content_ns) {
            panic!("cannot write stanza {el:?}: {e}");
        }
    }
    // Serialising may add namespace declarations and escapes, so only the
    // structural limits stay as they were.
    let relaxed = Limits {
        max_attributes: usize::MAX,
        max_attribute_value_bytes: usize::MAX,
        max_stanza_bytes: usize::MAX,
        max_stanza_bytes_unauthenticated: usize::MAX,
        ..*limits
    };
    let mut again = StreamReader::new(relaxed);
    again.feed(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    match again.poll_event() {
        Ok(Some(Event::StreamOpen(h))) if h == *header => {}
        other => panic!("header {header:?} read back as {other:?} from {text}"),
    }
    if let Some(el) = stanza {
        match again.poll_event() {
            Ok(Some(Event::Stanza(back))) if back == *el => {}
            other => panic!("stanza {el:?} read back as {other:?} from {text}"),
        }
    }
    match again.poll_event() {
        Ok(None) => {}
        other => panic!("trailing event {other:?} from {text}"),
    }
}
