//! Fuzz the STUN/TURN codec: parse, re-encode, parse again and compare;
//! also run the stream framer and the ChannelData parser on the input.
//! The body lives in `rtc_stun::fuzzing` so stable unit tests run it too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rtc_stun::fuzzing::fuzz_roundtrip(data);
});
