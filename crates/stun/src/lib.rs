//! `rtc-stun`: a zero-copy codec for STUN and TURN messages.
//!
//! # What it does
//!
//! * Parses STUN messages (RFC 8489) into a [`Message`] that borrows the
//!   received buffer. Parsing walks the attributes once, bounds-checks
//!   every length and never allocates, so it can run on every packet of a
//!   relay's hot path. Misaligned or truncated attributes are errors, never
//!   panics, and an error that happens after the header was read still
//!   carries the transaction id, so a server can answer 400.
//! * Gives typed, borrowing views of the attributes of STUN (RFC 8489),
//!   TURN (RFC 8656), NAT behaviour discovery (RFC 5780) and TURN over TCP
//!   (RFC 6062) in [`attr`], and reports unknown comprehension-required
//!   attributes for a 420 answer.
//! * Verifies and computes MESSAGE-INTEGRITY (HMAC-SHA1),
//!   MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, optionally truncated) and
//!   FINGERPRINT (CRC-32), with the header-length adjustments the RFC
//!   prescribes and constant-time HMAC comparison.
//! * Encodes messages with [`MessageEncoder`] into a caller-owned `Vec<u8>`
//!   whose allocation can be reused; every output byte is written.
//! * Parses and encodes TURN [`ChannelData`] (RFC 8656 §12.4), classifies
//!   datagrams with [`classify`], and cuts frames out of TCP/TLS streams
//!   with [`StreamFramer`], which tells "need more bytes" apart from
//!   "this is not STUN".
//!
//! # What it deliberately does not do
//!
//! * No I/O, no clocks, no randomness: transaction ids and nonces come
//!   from the caller. Retransmission timers and allocation state belong to
//!   the server's sans-IO core, not to the codec.
//! * No credentials: it takes HMAC keys as bytes and never derives them
//!   from passwords (MD5/SHA-256 of `user:realm:password`), and it does no
//!   SASLprep or OpaqueString processing. The user database owns that.
//! * No policy: whether a request is authorised, which address families
//!   or transports are allowed, and how much PADDING to echo are the
//!   server's decisions.
//! * No ICE attributes (PRIORITY, USE-CANDIDATE, ...) and no RFC 3489
//!   (pre-magic-cookie) messages.
//!
//! # Example: answering a Binding request
//!
//! ```
//! use rtc_stun::{attr::XorMappedAddress, Class, Message, MessageEncoder};
//!
//! # let mut request = Vec::new();
//! # rtc_stun::MessageEncoder::new(&mut request,
//! #     rtc_stun::MessageType::new(rtc_stun::Method::BINDING, Class::Request),
//! #     rtc_stun::TransactionId::new([7; 12])).fingerprint()?;
//! let msg = Message::parse(&request)?;
//! assert_eq!(msg.class(), Class::Request);
//!
//! let mut out = Vec::with_capacity(1500); // reused across packets
//! out.clear();
//! let mut enc = MessageEncoder::new(&mut out, msg.message_type().with_class(Class::Success), msg.transaction_id());
//! enc.add(&XorMappedAddress("198.51.100.7:55432".parse().unwrap()))?;
//! enc.fingerprint()?;
//! let response = enc.finish();
//! assert!(Message::parse(response)?.verify_fingerprint().is_ok());
//! # Ok::<(), rtc_stun::Error>(())
//! ```
#![deny(missing_docs)]

pub mod attr;
mod channel_data;
mod encoder;
mod error;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod integrity;
mod message;
mod wire;

pub use attr::{AttrType, Attribute};
pub use channel_data::{ChannelData, ChannelNumber, CHANNEL_DATA_HEADER_LEN};
pub use encoder::MessageEncoder;
pub use error::Error;
pub use framing::{classify, Framing, PacketKind, StreamFramer};
pub use header::{
    Class, Header, MessageType, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE, MAX_BODY_LEN,
    MAX_MESSAGE_LEN,
};
pub use integrity::{
    FINGERPRINT_XOR, INTEGRITY_LEN, INTEGRITY_SHA256_LEN, INTEGRITY_SHA256_MIN_LEN,
};
pub use message::{Attributes, Message, RawAttribute};
