//! Storage records of the message archive (XEP-0313) and of push
//! registrations (XEP-0357), part of the [`super::storage`] contract.

use rtc_xmlstream::Element;

use super::jid::Jid;

/// An archive query with its filters and paging (XEP-0313 §4.1, XEP-0059).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    /// Only messages exchanged with this bare JID.
    pub with: Option<Jid>,
    /// Only messages archived at or after this Unix second.
    pub start: Option<u64>,
    /// Only messages archived at or before this Unix second.
    pub end: Option<u64>,
    /// Only messages after this archive id (RSM `<after/>`).
    pub after: Option<String>,
    /// Only messages before this archive id (RSM `<before>id</before>`).
    pub before: Option<String>,
    /// The last page (RSM empty `<before/>`).
    pub last_page: bool,
    /// Page size, already capped by the core.
    pub max: u32,
}

/// One archived message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// Archive id (the XEP-0359 stanza-id).
    pub id: String,
    /// When it was archived, in Unix seconds.
    pub stored_at: u64,
    /// The message as archived.
    pub message: Element,
}

/// One page of results, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivePage {
    /// The messages.
    pub messages: Vec<ArchivedMessage>,
    /// Messages matching the filters, without paging (RSM `<count/>`).
    pub count: u64,
    /// Nothing more in the query's direction (XEP-0313 `complete`).
    pub complete: bool,
}

/// A push registration (XEP-0357 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// The app server.
    pub service: Jid,
    /// Its node for this device.
    pub node: String,
    /// Publish options to send with each notification (a data form).
    pub options: Option<Element>,
}

/// Who may read a PEP node's items (XEP-0060 §4.5, as used by PEP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessModel {
    /// Anyone.
    Open,
    /// Contacts subscribed to the owner's presence (the PEP default).
    #[default]
    Presence,
    /// Only the owner (bookmarks, XEP-0402).
    Whitelist,
}

impl AccessModel {
    /// The `pubsub#access_model` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Presence => "presence",
            Self::Whitelist => "whitelist",
        }
    }

    /// Parse a `pubsub#access_model` value (`roster` is served as `presence`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "presence" | "roster" => Some(Self::Presence),
            "whitelist" => Some(Self::Whitelist),
            _ => None,
        }
    }
}

/// A PEP node's configuration (XEP-0163, XEP-0223 publish-options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PepNodeConfig {
    /// Node name (usually a namespace).
    pub node: String,
    /// Who may read it.
    pub access: AccessModel,
    /// Items kept.
    pub max_items: u32,
    /// Whether items are stored (`pubsub#persist_items`).
    pub persist: bool,
}

/// A PEP item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PepItem {
    /// Item id.
    pub id: String,
    /// The payload element.
    pub payload: Element,
}
