//! Request methods (RFC 3261 §7.1 and the extension RFCs named on each variant).

use core::fmt;

/// A SIP request method. Methods are case-sensitive (RFC 3261 §7.1);
/// anything unrecognised is kept as [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    /// INVITE (RFC 3261 §13).
    Invite,
    /// ACK (RFC 3261 §17.1.1.3).
    Ack,
    /// OPTIONS (RFC 3261 §11).
    Options,
    /// BYE (RFC 3261 §15.1).
    Bye,
    /// CANCEL (RFC 3261 §9).
    Cancel,
    /// REGISTER (RFC 3261 §10).
    Register,
    /// PRACK (RFC 3262 §7.1).
    Prack,
    /// SUBSCRIBE (RFC 6665 §8.1.1).
    Subscribe,
    /// NOTIFY (RFC 6665 §8.1.2).
    Notify,
    /// PUBLISH (RFC 3903 §11.1).
    Publish,
    /// INFO (RFC 6086 §4).
    Info,
    /// REFER (RFC 3515 §2.4).
    Refer,
    /// MESSAGE (RFC 3428 §4).
    Message,
    /// UPDATE (RFC 3311 §6).
    Update,
    /// An extension method token this crate does not know.
    Other(&'a [u8]),
}

const KNOWN: &[(&str, Method<'static>)] = &[
    ("INVITE", Method::Invite),
    ("ACK", Method::Ack),
    ("OPTIONS", Method::Options),
    ("BYE", Method::Bye),
    ("CANCEL", Method::Cancel),
    ("REGISTER", Method::Register),
    ("PRACK", Method::Prack),
    ("SUBSCRIBE", Method::Subscribe),
    ("NOTIFY", Method::Notify),
    ("PUBLISH", Method::Publish),
    ("INFO", Method::Info),
    ("REFER", Method::Refer),
    ("MESSAGE", Method::Message),
    ("UPDATE", Method::Update),
];

impl<'a> Method<'a> {
    /// Classify a method token (case-sensitive, as RFC 3261 §7.1 requires).
    pub fn from_bytes(s: &'a [u8]) -> Method<'a> {
        KNOWN
            .iter()
            .find(|(name, _)| name.as_bytes() == s)
            .map_or(Method::Other(s), |(_, m)| *m)
    }

    /// The method token.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Method::Other(s) => s,
            known => KNOWN
                .iter()
                .find(|(_, m)| m == known)
                .map_or(&[][..], |(name, _)| name.as_bytes()),
        }
    }

    /// Whether this is one of the methods this crate knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Method::Other(_))
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}
