//! Memory held by an idle stream: a server keeps one reader per connection,
//! and most connections are idle between stanzas, so what a reader keeps
//! then is multiplied by the connection count.
//!
//! A counting global allocator measures live heap bytes; this file holds a
//! single test so nothing else allocates meanwhile.
#![allow(clippy::expect_used)]
// A global allocator cannot be written without `unsafe`; this one only
// forwards to `System` and is confined to this test binary.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use rtc_xmlstream::{Event, Limits, StreamReader};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

fn drain(r: &mut StreamReader) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = r.poll_event().expect("well-formed input") {
        out.push(e);
    }
    out
}

#[test]
fn idle_reader_between_stanzas_keeps_no_token_or_input_buffers() {
    let before = live();
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER);
    assert!(matches!(drain(&mut r).as_slice(), [Event::StreamOpen(_)]));
    let big_body = "x".repeat(6000);
    let stanza = format!(
        "<message to='a@example.com' id='m1'><body>{big_body}</body>\
         <x xmlns='urn:example'><y><z/></y></x></message>"
    );
    // Split mid-stanza, as TCP may deliver it.
    let (a, b) = stanza.as_bytes().split_at(100);
    r.feed(a);
    assert!(drain(&mut r).is_empty());
    r.feed(b);
    let events = drain(&mut r);
    assert!(matches!(events.as_slice(), [Event::Stanza(m)] if m.name() == "message"));
    drop(events);
    drop(big_body);
    drop(stanza);
    let idle = live() - before;
    // The tokenizer alone reserves max_token_bytes (8 KiB) while parsing.
    assert!(idle < 1024, "an idle reader holds {idle} bytes");
    assert_eq!(r.buffer_capacity(), 0);

    // It still parses what comes next, after a pause at any boundary.
    r.feed(b" <pres");
    assert_eq!(drain(&mut r), vec![Event::Keepalive]);
    r.feed(b"ence/></stream:stream>");
    let events = drain(&mut r);
    assert!(
        matches!(events.as_slice(), [Event::Stanza(p), Event::StreamClose] if p.name() == "presence")
    );
}
