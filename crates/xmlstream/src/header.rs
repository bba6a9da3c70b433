//! The stream header: the attributes of `<stream:stream>` (RFC 6120 §4.7).

use crate::ns;

/// The content namespace declared as the stream's default namespace
/// (RFC 6120 §4.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentNamespace {
    /// `jabber:client`: client-to-server streams (RFC 6120 §4.8.2).
    Client,
    /// `jabber:server`: server-to-server streams (RFC 6120 §4.8.2).
    Server,
    /// `jabber:component:accept`: external components (XEP-0114 §3).
    ComponentAccept,
}

impl ContentNamespace {
    /// The namespace name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => ns::CLIENT,
            Self::Server => ns::SERVER,
            Self::ComponentAccept => ns::COMPONENT_ACCEPT,
        }
    }

    /// The variant for a namespace name, if it is one of the three.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            ns::CLIENT => Some(Self::Client),
            ns::SERVER => Some(Self::Server),
            ns::COMPONENT_ACCEPT => Some(Self::ComponentAccept),
            _ => None,
        }
    }
}

/// The attributes and namespace declarations of a stream header.
///
/// The reader fills it from the peer's `<stream:stream>`; the writer
/// serialises it as the `stream`-prefixed open tag. The element itself is
/// always `stream` in the `http://etherx.jabber.org/streams` namespace
/// ([`ns::STREAMS`]); the reader refuses anything else. Unknown attributes
/// are ignored, as RFC 6120 §4.7 asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// The default namespace of the stream's content (RFC 6120 §4.8.2).
    pub content_ns: ContentNamespace,
    /// `to` (RFC 6120 §4.7.2).
    pub to: Option<String>,
    /// `from` (RFC 6120 §4.7.1).
    pub from: Option<String>,
    /// `id` (RFC 6120 §4.7.3).
    pub id: Option<String>,
    /// `version` (RFC 6120 §4.7.5).
    pub version: Option<String>,
    /// `xml:lang` (RFC 6120 §4.7.4).
    pub lang: Option<String>,
    /// Other prefixed namespace declarations on the header, as
    /// `(prefix, namespace)`, e.g. `("db", "jabber:server:dialback")`
    /// (XEP-0220 §2.1). The stream prefix itself is not listed.
    pub declarations: Vec<(String, String)>,
}

impl StreamHeader {
    /// A header with only the content namespace and `version='1.0'`.
    pub fn new(content_ns: ContentNamespace) -> Self {
        Self {
            content_ns,
            to: None,
            from: None,
            id: None,
            version: Some("1.0".to_owned()),
            lang: None,
            declarations: Vec::new(),
        }
    }

    /// The namespace bound to `prefix` by [`Self::declarations`].
    pub fn declaration(&self, prefix: &str) -> Option<&str> {
        self.declarations
            .iter()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_namespaces_round_trip_through_their_uri() {
        for c in [
            ContentNamespace::Client,
            ContentNamespace::Server,
            ContentNamespace::ComponentAccept,
        ] {
            assert_eq!(ContentNamespace::from_uri(c.as_str()), Some(c));
        }
        assert_eq!(ContentNamespace::from_uri("jabber:iq:roster"), None);
    }

    #[test]
    fn dialback_declaration_is_found_by_prefix() {
        let mut h = StreamHeader::new(ContentNamespace::Server);
        h.declarations.push(("db".into(), ns::DIALBACK.into()));
        assert_eq!(h.declaration("db"), Some(ns::DIALBACK));
        assert_eq!(h.declaration("stream"), None);
    }
}
