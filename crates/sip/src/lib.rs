//! `rtc-sip`: the SIP message layer of the suite (RFC 3261 §7, §18, §20, §25).
//!
//! What it does:
//! - parses datagrams, WebSocket messages and stream frames into a
//!   [`Message`] that borrows the received buffer, so unmodified bytes are
//!   forwarded exactly as they came;
//! - frames TCP/TLS streams by Content-Length and recognises RFC 5626 CRLF
//!   keepalives ([`Framer`]);
//! - offers typed, lazily parsed views of the header fields a proxy and
//!   registrar need (Via, From/To, Contact, Route/Record-Route/Path, CSeq,
//!   Digest credentials and challenges, ...) and URIs (sip, sips, tel, opaque);
//! - validates requests the way RFC 3261 §16.3 and RFC 4475 expect, and tells
//!   the caller whether to answer (with the salvaged Via/From/To/Call-ID/CSeq)
//!   or drop ([`ParseFailure`], [`Disposition`]);
//! - edits messages for proxying ([`Editor`]) and builds responses
//!   ([`ResponseBuilder`]).
//!
//! What it deliberately does not do: any I/O, timers, transactions, dialogs,
//! routing decisions, DNS, digest hashing or credential storage, and SDP.
//! Every size and count read from the network is bounded by [`Limits`].

#![deny(missing_docs)]

pub mod builder;
pub mod edit;
pub mod error;
pub mod framer;
#[doc(hidden)]
pub mod fuzz;
pub mod headers;
mod host;
pub mod limits;
pub mod message;
pub mod method;
pub mod reply;
mod scan;
pub mod uri;
mod view;

pub use builder::ResponseBuilder;
pub use edit::Editor;
pub use error::{Disposition, Error, ParseFailure};
pub use framer::{Frame, Framer};
pub use headers::addr::{Contact, NameAddr};
pub use headers::auth::{Algorithm, Challenge, Credentials, DigestChallenge, DigestCredentials};
pub use headers::cseq::CSeq;
pub use headers::scalar::MediaType;
pub use headers::via::{Rport, Transport, Via};
pub use headers::HeaderName;
pub use limits::Limits;
pub use message::{Header, Message, RequestLine, StartLine, StatusLine};
pub use method::Method;
pub use reply::ReplyContext;
pub use scan::{CommaSplit, Param, Params};
pub use uri::{Host, SipUri, TelUri, Uri};
