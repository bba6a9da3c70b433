//! The storage contract: what the core asks the shell to load or persist
//! ([`StorageRequest`]), what the shell answers ([`StorageAnswer`]) and the
//! records involved (credentials, roster items, offline messages).
//!
//! Elements (vCards, private XML, offline messages) are handed over as
//! [`Element`] trees; [`encode_element`] and [`decode_element`] turn them
//! into bytes for a database column and back.

use rtc_xmlstream::{Element, Event as XmlEvent, Limits, StreamReader};

use super::jid::Jid;
use super::scram::{ScramHash, ScramKeys};

/// An account's SCRAM credentials, one set per hash (either may be missing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredCredentials {
    /// SCRAM-SHA-1 keys (RFC 5802).
    pub sha1: Option<ScramKeys>,
    /// SCRAM-SHA-256 keys (RFC 7677).
    pub sha256: Option<ScramKeys>,
}

impl StoredCredentials {
    /// Derive both key sets from a password (for account creation and
    /// password changes; the password itself is never stored).
    pub fn derive(password: &str, salt_sha1: &[u8], salt_sha256: &[u8], iterations: u32) -> Self {
        Self {
            sha1: Some(ScramKeys::derive(ScramHash::Sha1, password, salt_sha1, iterations)),
            sha256: Some(ScramKeys::derive(ScramHash::Sha256, password, salt_sha256, iterations)),
        }
    }

    /// The keys for one hash.
    pub fn keys(&self, hash: ScramHash) -> Option<&ScramKeys> {
        match hash {
            ScramHash::Sha1 => self.sha1.as_ref(),
            ScramHash::Sha256 => self.sha256.as_ref(),
        }
    }
}

/// The subscription attribute of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subscription {
    /// Neither is subscribed to the other's presence.
    #[default]
    None,
    /// The user is subscribed to the contact's presence.
    To,
    /// The contact is subscribed to the user's presence.
    From,
    /// Both directions.
    Both,
}

impl Subscription {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::To => "to",
            Self::From => "from",
            Self::Both => "both",
        }
    }

    /// Parse the attribute value (for stored data).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "to" => Some(Self::To),
            "from" => Some(Self::From),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// Whether the user receives the contact's presence (`to` or `both`).
    pub fn has_to(self) -> bool {
        matches!(self, Self::To | Self::Both)
    }

    /// Whether the contact receives the user's presence (`from` or `both`).
    pub fn has_from(self) -> bool {
        matches!(self, Self::From | Self::Both)
    }

    pub(crate) fn from_flags(to: bool, from: bool) -> Self {
        match (to, from) {
            (false, false) => Self::None,
            (true, false) => Self::To,
            (false, true) => Self::From,
            (true, true) => Self::Both,
        }
    }
}

/// One roster entry as stored (RFC 6121 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's bare JID (RFC 6121 §2.1.2.3).
    pub jid: Jid,
    /// Handle chosen by the user (RFC 6121 §2.1.2.4).
    pub name: Option<String>,
    /// Groups (RFC 6121 §2.1.2.6).
    pub groups: Vec<String>,
    /// Subscription state (RFC 6121 §2.1.2.5).
    pub subscription: Subscription,
    /// The user asked to subscribe and the contact has not answered
    /// ("Pending Out", `ask='subscribe'`, RFC 6121 §2.1.2.2).
    pub ask: bool,
    /// The contact asked to subscribe and the user has not answered
    /// ("Pending In", RFC 6121 §3.1.3); redelivered at each login.
    pub pending_in: bool,
    /// The user pre-approved the contact's subscription (RFC 6121 §3.4).
    pub approved: bool,
    /// Whether the item is part of the user's roster. `false` for an entry
    /// that only records an inbound request from a contact the user never
    /// added (RFC 6121 Appendix A: such items are not pushed or listed).
    pub listed: bool,
}

impl RosterItem {
    /// A fresh listed item with no subscription.
    pub fn new(jid: Jid) -> Self {
        Self {
            jid,
            name: None,
            groups: Vec::new(),
            subscription: Subscription::None,
            ask: false,
            pending_in: false,
            approved: false,
            listed: true,
        }
    }
}

/// Everything the core keeps in memory for an account while it is in use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountData {
    /// All roster items, listed or not.
    pub roster: Vec<RosterItem>,
    /// Roster version counter (RFC 6121 §2.6); 0 for a new account.
    pub roster_version: u64,
    /// Blocked JIDs (XEP-0191).
    pub blocklist: Vec<Jid>,
    /// Number of stored offline messages (XEP-0160).
    pub offline_count: u32,
    /// SHA-1 of the vCard photo, hex (XEP-0153), as given in the last
    /// [`StorageRequest::SaveVcard`].
    pub avatar_hash: Option<String>,
}

/// A stored offline message with its storage key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Key chosen by the storage, echoed in [`StorageRequest::DeleteOffline`].
    pub key: u64,
    /// The message, with its `<delay/>` stamp (XEP-0203).
    pub message: Element,
}

/// A storage operation. `user` is always a bare JID of a hosted account.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StorageRequest {
    /// Answer with [`StorageAnswer::Credentials`] (`None`: no such account).
    LoadCredentials {
        /// The account.
        user: Jid,
    },
    /// Answer with [`StorageAnswer::Account`] (`None`: no such account).
    LoadAccount {
        /// The account.
        user: Jid,
    },
    /// Insert or replace the item for `item.jid` and store `version` as the
    /// roster version. Answer with [`StorageAnswer::Done`].
    SaveRosterItem {
        /// The account.
        user: Jid,
        /// The new state of the item.
        item: RosterItem,
        /// The new roster version.
        version: u64,
    },
    /// Delete the item for `contact` and store `version`. Answer `Done`.
    RemoveRosterItem {
        /// The account.
        user: Jid,
        /// The contact's bare JID.
        contact: Jid,
        /// The new roster version.
        version: u64,
    },
    /// Append an offline message. Answer `Done` only once it is durable.
    StoreOffline {
        /// The recipient account.
        user: Jid,
        /// The message, already stamped with `<delay/>`.
        message: Element,
    },
    /// Answer with [`StorageAnswer::Offline`], oldest first.
    LoadOffline {
        /// The account.
        user: Jid,
    },
    /// Delete delivered offline messages. Answer `Done`.
    DeleteOffline {
        /// The account.
        user: Jid,
        /// Keys from [`OfflineMessage::key`].
        keys: Vec<u64>,
    },
    /// Answer with [`StorageAnswer::Element`] (the `<vCard/>`, if any).
    LoadVcard {
        /// The account.
        user: Jid,
    },
    /// Replace the vCard and the avatar hash. Answer `Done`.
    SaveVcard {
        /// The account.
        user: Jid,
        /// The `<vCard xmlns='vcard-temp'/>` element.
        vcard: Element,
        /// Hex SHA-1 of the photo, to return in [`AccountData::avatar_hash`].
        avatar_hash: Option<String>,
    },
    /// Answer with [`StorageAnswer::Element`] (the stored element, if any).
    LoadPrivate {
        /// The account.
        user: Jid,
        /// Element name of the private data.
        name: String,
        /// Namespace of the private data.
        ns: String,
    },
    /// Replace the private XML stored under `(data.name(), data.ns())`
    /// (XEP-0049). Answer `Done`.
    SavePrivate {
        /// The account.
        user: Jid,
        /// The element.
        data: Element,
    },
    /// Replace the block list (XEP-0191). Answer `Done`.
    SaveBlocklist {
        /// The account.
        user: Jid,
        /// The complete new list.
        list: Vec<Jid>,
    },
}

/// The shell's answer to a [`StorageRequest`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StorageAnswer {
    /// For `LoadCredentials`.
    Credentials(Option<StoredCredentials>),
    /// For `LoadAccount`.
    Account(Option<AccountData>),
    /// For `LoadOffline`.
    Offline(Vec<OfflineMessage>),
    /// For `LoadVcard` and `LoadPrivate`.
    Element(Option<Element>),
    /// For every write.
    Done,
}

/// The storage could not perform the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database failed or is unreachable.
    #[error("storage unavailable")]
    Unavailable,
}

/// Serialise an element for storage (a self-contained XML fragment).
pub fn encode_element(e: &Element) -> Result<Vec<u8>, rtc_xmlstream::StreamError> {
    e.to_bytes()
}

/// Parse an element produced by [`encode_element`]. Stored data is checked
/// with the authenticated-stream limits, like anything read from a client.
pub fn decode_element(bytes: &[u8]) -> Result<Element, rtc_xmlstream::StreamError> {
    let mut reader = StreamReader::new(Limits::DEFAULT);
    reader.set_authenticated(true);
    reader.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    reader.feed(bytes);
    loop {
        match reader.poll_event()? {
            Some(XmlEvent::Stanza(e)) => return Ok(e),
            Some(_) => {}
            None => {
                return Err(rtc_xmlstream::StreamError::PolicyViolation(
                    rtc_xmlstream::Limit::StanzaBytes,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn elements_round_trip_through_storage_encoding() {
        let e = Element::new("vCard", "vcard-temp")
            .child(Element::new("FN", "vcard-temp").text("Juliet <Capulet> & co"));
        let bytes = encode_element(&e).unwrap();
        assert_eq!(decode_element(&bytes).unwrap(), e);
        assert!(decode_element(b"<a>").is_err());
        assert!(decode_element(b"<a><!-- x --></a>").is_err());
    }

    #[test]
    fn derived_credentials_hold_no_password() {
        let c = StoredCredentials::derive("secret", b"salt1", b"salt2", 64);
        let k = c.keys(ScramHash::Sha256).unwrap();
        assert_eq!(k.stored_key.len(), 32);
        assert!(k.matches_password(ScramHash::Sha256, "secret"));
        assert!(!format!("{c:?}").contains("secret"));
    }
}
