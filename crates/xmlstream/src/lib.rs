//! Incremental, namespace-aware XML stream reader and writer for XMPP
//! (RFC 6120 §4, §11), with limits on everything a peer controls.
//!
//! What it does:
//! - [`StreamReader`] takes arbitrary byte chunks ([`StreamReader::feed`])
//!   and yields [`Event`]s: the stream header, each complete top-level
//!   element as an owned [`Element`] tree, whitespace keepalives and the
//!   stream close. Namespaces are resolved; prefixes are not kept.
//! - It refuses what RFC 6120 §11.1 forbids (DTDs, entity declarations and
//!   references beyond the five predefined ones, comments, processing
//!   instructions) and enforces [`Limits`]: token length, nesting depth,
//!   child elements, attributes, attribute size and stanza bytes, with a
//!   stricter stanza size before authentication. A fatal [`StreamError`]
//!   names its stream error condition ([`StreamError::condition`]).
//! - It supports stream restarts after STARTTLS and SASL
//!   ([`StreamReader::reset`]).
//! - The [`writer`] functions serialise stream headers and element trees
//!   into a `Vec<u8>`, escaping text and attributes and declaring namespaces
//!   where needed.
//!
//! What it deliberately does not do: any I/O, timers or TLS; stanza
//! semantics (JID validation, stanza types, routing, stanza errors); stream
//! features and SASL negotiation; WebSocket (RFC 7395) and BOSH framing;
//! preserving prefixes, comments or the exact input bytes. It sits on top
//! of `rxml`, which tokenizes and checks well-formedness.

#![deny(missing_docs)]

mod element;
mod error;
mod header;
mod limits;
mod reader;
mod tree;
pub mod writer;

#[doc(hidden)]
pub mod fuzzing;

pub use element::{Attribute, Element, Node};
pub use error::{HeaderProblem, Limit, Restricted, StreamError};
pub use header::{ContentNamespace, StreamHeader};
pub use limits::{Limits, MAX_DEPTH_CEILING, MIN_TOKEN_BYTES};
pub use reader::{Event, StreamReader};
pub use writer::{
    strip_invalid_chars, write_element, write_stanza, write_stream_close, write_stream_open,
};

/// Namespace names used by XMPP streams.
pub mod ns {
    /// Stream element namespace (RFC 6120 §4.8.1).
    pub const STREAMS: &str = "http://etherx.jabber.org/streams";
    /// Client content namespace (RFC 6120 §4.8.2).
    pub const CLIENT: &str = "jabber:client";
    /// Server content namespace (RFC 6120 §4.8.2).
    pub const SERVER: &str = "jabber:server";
    /// External component content namespace (XEP-0114 §3).
    pub const COMPONENT_ACCEPT: &str = "jabber:component:accept";
    /// Server dialback (XEP-0220 §2.1).
    pub const DIALBACK: &str = "jabber:server:dialback";
    /// STARTTLS (RFC 6120 §5.4).
    pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
    /// SASL (RFC 6120 §6.4).
    pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    /// Resource binding (RFC 6120 §7.2).
    pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
    /// Stream error conditions (RFC 6120 §4.9.2).
    pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
    /// Stanza error conditions (RFC 6120 §8.3.2).
    pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
    /// The `xml:` prefix namespace (Namespaces in XML 1.0 §3).
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
    /// The `xmlns:` prefix namespace (Namespaces in XML 1.0 §3).
    pub const XMLNS: &str = "http://www.w3.org/2000/xmlns/";
}
