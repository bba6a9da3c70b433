//! Error taxonomy: the crate's error enum, and the XMPP stream and stanza
//! error conditions it maps to on the wire (RFC 6120 §4.9, §8.3).

use rtc_xmlstream::{ns, Element};

/// Stream error conditions, in RFC 6120 §4.9.3 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamCondition {
    /// RFC 6120 §4.9.3.1
    BadFormat,
    /// RFC 6120 §4.9.3.2
    BadNamespacePrefix,
    /// RFC 6120 §4.9.3.3
    Conflict,
    /// RFC 6120 §4.9.3.4
    ConnectionTimeout,
    /// RFC 6120 §4.9.3.5
    HostGone,
    /// RFC 6120 §4.9.3.6
    HostUnknown,
    /// RFC 6120 §4.9.3.7
    ImproperAddressing,
    /// RFC 6120 §4.9.3.8
    InternalServerError,
    /// RFC 6120 §4.9.3.9
    InvalidFrom,
    /// RFC 6120 §4.9.3.10
    InvalidNamespace,
    /// RFC 6120 §4.9.3.11
    InvalidXml,
    /// RFC 6120 §4.9.3.12
    NotAuthorized,
    /// RFC 6120 §4.9.3.13
    NotWellFormed,
    /// RFC 6120 §4.9.3.14
    PolicyViolation,
    /// RFC 6120 §4.9.3.15
    RemoteConnectionFailed,
    /// RFC 6120 §4.9.3.16
    Reset,
    /// RFC 6120 §4.9.3.17
    ResourceConstraint,
    /// RFC 6120 §4.9.3.18
    RestrictedXml,
    /// RFC 6120 §4.9.3.20
    SystemShutdown,
    /// RFC 6120 §4.9.3.21
    UndefinedCondition,
    /// RFC 6120 §4.9.3.22
    UnsupportedEncoding,
    /// RFC 6120 §4.9.3.23
    UnsupportedFeature,
    /// RFC 6120 §4.9.3.24
    UnsupportedStanzaType,
    /// RFC 6120 §4.9.3.25
    UnsupportedVersion,
}

impl StreamCondition {
    /// The condition element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFormat => "bad-format",
            Self::BadNamespacePrefix => "bad-namespace-prefix",
            Self::Conflict => "conflict",
            Self::ConnectionTimeout => "connection-timeout",
            Self::HostGone => "host-gone",
            Self::HostUnknown => "host-unknown",
            Self::ImproperAddressing => "improper-addressing",
            Self::InternalServerError => "internal-server-error",
            Self::InvalidFrom => "invalid-from",
            Self::InvalidNamespace => "invalid-namespace",
            Self::InvalidXml => "invalid-xml",
            Self::NotAuthorized => "not-authorized",
            Self::NotWellFormed => "not-well-formed",
            Self::PolicyViolation => "policy-violation",
            Self::RemoteConnectionFailed => "remote-connection-failed",
            Self::Reset => "reset",
            Self::ResourceConstraint => "resource-constraint",
            Self::RestrictedXml => "restricted-xml",
            Self::SystemShutdown => "system-shutdown",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::UnsupportedFeature => "unsupported-feature",
            Self::UnsupportedStanzaType => "unsupported-stanza-type",
            Self::UnsupportedVersion => "unsupported-version",
        }
    }

    /// The condition for a reader error's name (from
    /// [`rtc_xmlstream::StreamError::condition`]).
    pub fn from_reader(name: &str) -> Self {
        match name {
            "bad-format" => Self::BadFormat,
            "bad-namespace-prefix" => Self::BadNamespacePrefix,
            "invalid-namespace" => Self::InvalidNamespace,
            "not-well-formed" => Self::NotWellFormed,
            "policy-violation" => Self::PolicyViolation,
            "restricted-xml" => Self::RestrictedXml,
            "unsupported-encoding" => Self::UnsupportedEncoding,
            _ => Self::UndefinedCondition,
        }
    }

    /// `<stream:error><condition/></stream:error>` (RFC 6120 §4.9.2).
    pub fn to_element(self) -> Element {
        Element::new("error", ns::STREAMS).child(Element::new(self.as_str(), ns::STREAM_ERRORS))
    }
}

/// Stanza error types (RFC 6120 §8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials (RFC 6120 §8.3.2).
    Auth,
    /// Do not retry (RFC 6120 §8.3.2).
    Cancel,
    /// Proceed; the condition was only a warning (RFC 6120 §8.3.2).
    Continue,
    /// Retry after changing the data sent (RFC 6120 §8.3.2).
    Modify,
    /// Retry after waiting (RFC 6120 §8.3.2).
    Wait,
}

impl ErrorType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Cancel => "cancel",
            Self::Continue => "continue",
            Self::Modify => "modify",
            Self::Wait => "wait",
        }
    }
}

/// Stanza error conditions, in RFC 6120 §8.3.3 order (`gone` and `redirect`,
/// which need a URI, are not produced by this server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StanzaCondition {
    /// RFC 6120 §8.3.3.1
    BadRequest,
    /// RFC 6120 §8.3.3.2
    Conflict,
    /// RFC 6120 §8.3.3.3
    FeatureNotImplemented,
    /// RFC 6120 §8.3.3.4
    Forbidden,
    /// RFC 6120 §8.3.3.6
    InternalServerError,
    /// RFC 6120 §8.3.3.7
    ItemNotFound,
    /// RFC 6120 §8.3.3.8
    JidMalformed,
    /// RFC 6120 §8.3.3.9
    NotAcceptable,
    /// RFC 6120 §8.3.3.10
    NotAllowed,
    /// RFC 6120 §8.3.3.11
    NotAuthorized,
    /// RFC 6120 §8.3.3.12
    PolicyViolation,
    /// RFC 6120 §8.3.3.13
    RecipientUnavailable,
    /// RFC 6120 §8.3.3.16
    RemoteServerNotFound,
    /// RFC 6120 §8.3.3.17
    RemoteServerTimeout,
    /// RFC 6120 §8.3.3.18
    ResourceConstraint,
    /// RFC 6120 §8.3.3.19
    ServiceUnavailable,
    /// RFC 6120 §8.3.3.20
    SubscriptionRequired,
    /// RFC 6120 §8.3.3.21
    UndefinedCondition,
    /// RFC 6120 §8.3.3.22
    UnexpectedRequest,
}

impl StanzaCondition {
    /// The condition element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Conflict => "conflict",
            Self::FeatureNotImplemented => "feature-not-implemented",
            Self::Forbidden => "forbidden",
            Self::InternalServerError => "internal-server-error",
            Self::ItemNotFound => "item-not-found",
            Self::JidMalformed => "jid-malformed",
            Self::NotAcceptable => "not-acceptable",
            Self::NotAllowed => "not-allowed",
            Self::NotAuthorized => "not-authorized",
            Self::PolicyViolation => "policy-violation",
            Self::RecipientUnavailable => "recipient-unavailable",
            Self::RemoteServerNotFound => "remote-server-not-found",
            Self::RemoteServerTimeout => "remote-server-timeout",
            Self::ResourceConstraint => "resource-constraint",
            Self::ServiceUnavailable => "service-unavailable",
            Self::SubscriptionRequired => "subscription-required",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnexpectedRequest => "unexpected-request",
        }
    }

    /// The error type RFC 6120 §8.3.3 gives as the usual one for this condition.
    pub fn default_type(self) -> ErrorType {
        match self {
            Self::BadRequest
            | Self::JidMalformed
            | Self::NotAcceptable
            | Self::PolicyViolation => ErrorType::Modify,
            Self::Forbidden | Self::NotAuthorized | Self::SubscriptionRequired => ErrorType::Auth,
            Self::InternalServerError
            | Self::RecipientUnavailable
            | Self::RemoteServerTimeout
            | Self::ResourceConstraint => ErrorType::Wait,
            Self::Conflict
            | Self::FeatureNotImplemented
            | Self::ItemNotFound
            | Self::NotAllowed
            | Self::RemoteServerNotFound
            | Self::ServiceUnavailable
            | Self::UndefinedCondition
            | Self::UnexpectedRequest => ErrorType::Cancel,
        }
    }
}

/// A stanza error to return to the sender (RFC 6120 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// The defined condition.
    pub condition: StanzaCondition,
    /// The error type.
    pub kind: ErrorType,
    /// An application-specific condition element (e.g. XEP-0191's `<blocked/>`).
    pub app: Option<Element>,
}

impl StanzaError {
    /// The condition with its usual type.
    pub fn new(condition: StanzaCondition) -> Self {
        Self {
            condition,
            kind: condition.default_type(),
            app: None,
        }
    }

    /// The same condition with another type.
    pub fn with_type(mut self, kind: ErrorType) -> Self {
        self.kind = kind;
        self
    }

    /// Attach an application-specific condition.
    pub fn with_app(mut self, app: Element) -> Self {
        self.app = Some(app);
        self
    }

    /// `<error type='...'><condition/></error>` (RFC 6120 §8.3.2).
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("error", ns::CLIENT)
            .attr("type", self.kind.as_str())
            .child(Element::new(self.condition.as_str(), ns::STANZA_ERRORS));
        if let Some(app) = &self.app {
            e.push_child(app.clone());
        }
        e
    }
}

impl From<StanzaCondition> for StanzaError {
    fn from(c: StanzaCondition) -> Self {
        Self::new(c)
    }
}

/// The error enum of the `xmppd` crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The core configuration is inconsistent; the string names the key.
    #[error("invalid configuration: {key}: {problem}")]
    Config {
        /// Dotted path of the offending key.
        key: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A JID in the configuration or in an API call is malformed.
    #[error("malformed JID {jid:?}: {source}")]
    Jid {
        /// The offending text.
        jid: String,
        /// Why it was refused.
        source: crate::core::jid::JidError,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stanza_error_serialises_condition_and_type() {
        let e = StanzaError::new(StanzaCondition::ServiceUnavailable).to_element();
        let xml = String::from_utf8(e.to_bytes().unwrap()).unwrap();
        assert_eq!(
            xml,
            "<error xmlns='jabber:client' type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        );
    }

    #[test]
    fn reader_conditions_map_back() {
        for c in [
            StreamCondition::NotWellFormed,
            StreamCondition::PolicyViolation,
            StreamCondition::RestrictedXml,
        ] {
            assert_eq!(StreamCondition::from_reader(c.as_str()), c);
        }
    }
}
