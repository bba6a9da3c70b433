//! Measures how many REGISTER requests per second one core can parse,
//! validate, inspect and answer with a 401 challenge.
//!
//! Run with `cargo run --release -p rtc-sip --example register_throughput`.

use std::time::Instant;

use rtc_sip::{Algorithm, Challenge, Credentials, Limits, Message, ResponseBuilder};

const REGISTER: &[u8] = b"REGISTER sip:sip.test SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0;rport\r\n\
From: <sip:u0001@sip.test>;tag=12345SIPpTag001\r\n\
To: <sip:u0001@sip.test>\r\n\
Call-ID: 1-12345@127.0.0.1\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:u0001@127.0.0.1:5061;transport=udp>;expires=3600\r\n\
Max-Forwards: 70\r\n\
Authorization: Digest username=\"u0001\", realm=\"sip.test\", nonce=\"4f8a9c1e2b3d\", uri=\"sip:sip.test\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5\r\n\
Expires: 3600\r\n\
User-Agent: SIPp\r\n\
Content-Length: 0\r\n\r\n";

fn main() {
    let limits = Limits::DEFAULT;
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let challenge = Challenge {
        realm: "sip.test",
        nonce: "4f8a9c1e2b3d",
        opaque: None,
        algorithm: Algorithm::Md5,
        qop_auth: true,
        stale: false,
    };
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..n {
        let Ok(m) = Message::parse_datagram(REGISTER, &limits) else {
            return;
        };
        if m.validate(&limits).is_err() {
            return;
        }
        let user_ok = matches!(m.authorizations().next(), Some(Ok(Credentials::Digest(d))) if d.username == b"u0001");
        let contacts = m.contacts().filter(Result::is_ok).count();
        let via_ok = m.top_via().is_ok_and(|v| v.branch().is_some());
        if !(user_ok && via_ok && contacts == 1) {
            return;
        }
        let Ok(out) = ResponseBuilder::new(&m, 401, "Unauthorized")
            .and_then(|b| b.to_tag("abc").challenge(false, &challenge).build())
        else {
            return;
        };
        bytes += out.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} REGISTER parsed+validated+answered in {secs:.3}s: {:.0}/s ({bytes} bytes out)",
        f64::from(n) / secs
    );
}
