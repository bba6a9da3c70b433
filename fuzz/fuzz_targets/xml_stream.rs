//! Feeds the input to the XMPP stream reader in chunks sized by its first
//! byte; every stream header and stanza read is serialised and read back,
//! and must compare equal (see `rtc_xmlstream::fuzzing::stream_roundtrip`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rtc_xmlstream::fuzzing::stream_roundtrip(data);
});
