#![no_main]
//! Parse a SIP message; when it parses, validate, edit and re-parse it and
//! build a response; answer refusals; and run the stream framer over the bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rtc_sip::fuzz::fuzz_message(data);
});
