//! Parsing and verifying are on the relay's hot path: they must not allocate.
//!
//! This file is its own test binary with a single test, so the counting
//! allocator sees no other test's allocations.
#![allow(clippy::unwrap_used)]
// A global allocator cannot be written without `unsafe`; this one only
// forwards to `System` and is confined to this test binary.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rtc_stun::attr::{Software, Username, XorMappedAddress};
use rtc_stun::{classify, ChannelData, Message, StreamFramer};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn parsing_verifying_and_decoding_do_not_allocate() {
    let request = include_bytes!("data/rfc5769-2.1-request.bin");
    let response = include_bytes!("data/rfc5769-2.2-ipv4-response.bin");
    let channel = b"\x40\x01\x00\x05hello\0\0\0";

    COUNTING.store(true, Ordering::SeqCst);
    let msg = Message::parse(request).unwrap();
    msg.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt").unwrap();
    msg.verify_fingerprint().unwrap();
    let user = msg.attr::<Username>().unwrap().unwrap();
    let software = msg.attr::<Software>().unwrap().unwrap();
    let unknown = msg.unknown_comprehension_required().count();
    let mapped = Message::parse(response)
        .unwrap()
        .attr::<XorMappedAddress>()
        .unwrap()
        .unwrap();
    let data = ChannelData::parse(channel).unwrap();
    let kind = classify(channel);
    let frame = StreamFramer::default().next_frame(channel);
    COUNTING.store(false, Ordering::SeqCst);

    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
    // Use the results so nothing is optimised away.
    assert_eq!(
        (user.as_str(), software.as_str(), unknown),
        ("evtj:h6vY", "STUN test client", 1)
    );
    assert_eq!(mapped.0.port(), 32853);
    assert_eq!(
        (data.data(), kind),
        (&b"hello"[..], rtc_stun::PacketKind::ChannelData)
    );
    assert!(matches!(frame, rtc_stun::Framing::Complete { len: 12, .. }));
}
