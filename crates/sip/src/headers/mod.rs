//! Header field names (with compact forms) and the typed, lazily parsed views
//! of the header fields a proxy or registrar needs.

pub mod addr;
pub mod auth;
pub mod cseq;
pub mod scalar;
pub mod via;

use core::fmt;

/// A header field name, recognised case-insensitively in long or compact form
/// (RFC 3261 §7.3.3 and the IANA SIP header registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    /// Accept (RFC 3261 §20.1).
    Accept,
    /// Accept-Contact, compact `a` (RFC 3841 §9.2).
    AcceptContact,
    /// Allow (RFC 3261 §20.5).
    Allow,
    /// Allow-Events, compact `u` (RFC 6665 §8.2.2).
    AllowEvents,
    /// Authorization (RFC 3261 §20.7).
    Authorization,
    /// Call-ID, compact `i` (RFC 3261 §20.8).
    CallId,
    /// Contact, compact `m` (RFC 3261 §20.10).
    Contact,
    /// Content-Encoding, compact `e` (RFC 3261 §20.12).
    ContentEncoding,
    /// Content-Length, compact `l` (RFC 3261 §20.14).
    ContentLength,
    /// Content-Type, compact `c` (RFC 3261 §20.15).
    ContentType,
    /// CSeq (RFC 3261 §20.16).
    CSeq,
    /// Date (RFC 3261 §20.17).
    Date,
    /// Event, compact `o` (RFC 6665 §8.2.1).
    Event,
    /// Expires (RFC 3261 §20.19).
    Expires,
    /// From, compact `f` (RFC 3261 §20.20).
    From,
    /// Identity, compact `y` (RFC 8224 §4).
    Identity,
    /// Max-Forwards (RFC 3261 §20.22).
    MaxForwards,
    /// Min-Expires (RFC 3261 §20.23).
    MinExpires,
    /// Path (RFC 3327 §4).
    Path,
    /// Proxy-Authenticate (RFC 3261 §20.27).
    ProxyAuthenticate,
    /// Proxy-Authorization (RFC 3261 §20.28).
    ProxyAuthorization,
    /// Proxy-Require (RFC 3261 §20.29).
    ProxyRequire,
    /// Record-Route (RFC 3261 §20.30).
    RecordRoute,
    /// Refer-To, compact `r` (RFC 3515 §2.1).
    ReferTo,
    /// Referred-By, compact `b` (RFC 3892 §3).
    ReferredBy,
    /// Reject-Contact, compact `j` (RFC 3841 §9.3).
    RejectContact,
    /// Request-Disposition, compact `d` (RFC 3841 §9.1).
    RequestDisposition,
    /// Require (RFC 3261 §20.32).
    Require,
    /// Route (RFC 3261 §20.34).
    Route,
    /// Session-Expires, compact `x` (RFC 4028 §4).
    SessionExpires,
    /// Subject, compact `s` (RFC 3261 §20.36).
    Subject,
    /// Supported, compact `k` (RFC 3261 §20.37).
    Supported,
    /// To, compact `t` (RFC 3261 §20.39).
    To,
    /// Unsupported (RFC 3261 §20.40).
    Unsupported,
    /// User-Agent (RFC 3261 §20.41).
    UserAgent,
    /// Via, compact `v` (RFC 3261 §20.42).
    Via,
    /// WWW-Authenticate (RFC 3261 §20.44).
    WwwAuthenticate,
    /// Any other header field; its raw name is kept on the [`crate::Header`].
    Other,
}

/// Long name, compact letter (0 when none), variant.
const TABLE: &[(&str, u8, HeaderName)] = &[
    ("Via", b'v', HeaderName::Via),
    ("From", b'f', HeaderName::From),
    ("To", b't', HeaderName::To),
    ("Call-ID", b'i', HeaderName::CallId),
    ("CSeq", 0, HeaderName::CSeq),
    ("Contact", b'm', HeaderName::Contact),
    ("Max-Forwards", 0, HeaderName::MaxForwards),
    ("Content-Length", b'l', HeaderName::ContentLength),
    ("Content-Type", b'c', HeaderName::ContentType),
    ("Route", 0, HeaderName::Route),
    ("Record-Route", 0, HeaderName::RecordRoute),
    ("Expires", 0, HeaderName::Expires),
    ("Authorization", 0, HeaderName::Authorization),
    ("Proxy-Authorization", 0, HeaderName::ProxyAuthorization),
    ("WWW-Authenticate", 0, HeaderName::WwwAuthenticate),
    ("Proxy-Authenticate", 0, HeaderName::ProxyAuthenticate),
    ("Supported", b'k', HeaderName::Supported),
    ("Require", 0, HeaderName::Require),
    ("Proxy-Require", 0, HeaderName::ProxyRequire),
    ("Unsupported", 0, HeaderName::Unsupported),
    ("Allow", 0, HeaderName::Allow),
    ("User-Agent", 0, HeaderName::UserAgent),
    ("Path", 0, HeaderName::Path),
    ("Min-Expires", 0, HeaderName::MinExpires),
    ("Accept", 0, HeaderName::Accept),
    ("Accept-Contact", b'a', HeaderName::AcceptContact),
    ("Allow-Events", b'u', HeaderName::AllowEvents),
    ("Content-Encoding", b'e', HeaderName::ContentEncoding),
    ("Date", 0, HeaderName::Date),
    ("Event", b'o', HeaderName::Event),
    ("Identity", b'y', HeaderName::Identity),
    ("Refer-To", b'r', HeaderName::ReferTo),
    ("Referred-By", b'b', HeaderName::ReferredBy),
    ("Reject-Contact", b'j', HeaderName::RejectContact),
    ("Request-Disposition", b'd', HeaderName::RequestDisposition),
    ("Session-Expires", b'x', HeaderName::SessionExpires),
    ("Subject", b's', HeaderName::Subject),
];

impl HeaderName {
    /// Classify a raw header name (long or compact form, any case).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if let [c] = name {
            let c = c.to_ascii_lowercase();
            return TABLE
                .iter()
                .find(|(_, compact, _)| *compact == c)
                .map_or(HeaderName::Other, |(_, _, h)| *h);
        }
        TABLE
            .iter()
            .find(|(long, _, _)| {
                long.len() == name.len() && long.as_bytes().eq_ignore_ascii_case(name)
            })
            .map_or(HeaderName::Other, |(_, _, h)| *h)
    }

    /// The canonical long name, as this crate writes it.
    pub fn as_str(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, _, h)| *h == self)
            .map_or("X-Unknown", |(long, _, _)| long)
    }

    /// Whether RFC 3261 §7.3.1 comma splitting applies to this header field's values.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Path
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Allow
                | HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AllowEvents
                | HeaderName::ContentEncoding
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_names() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"V"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"vIA"), HeaderName::Via);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"q"), HeaderName::Other);
        for c in b"vftmilckseouaxyrbjd" {
            assert_ne!(
                HeaderName::from_bytes(&[*c]),
                HeaderName::Other,
                "{}",
                *c as char
            );
        }
    }
}
