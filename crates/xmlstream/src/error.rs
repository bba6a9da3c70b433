//! The crate's error taxonomy and the XMPP stream error condition for each error.

/// The limit from [`crate::Limits`] that a peer exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`crate::Limits::max_token_bytes`]: an element name, attribute name,
    /// attribute value or entity reference is longer than the tokenizer accepts.
    TokenBytes,
    /// [`crate::Limits::max_depth`]: elements nested too deeply inside one stanza.
    Depth,
    /// [`crate::Limits::max_child_elements`]: too many elements below one stanza.
    ChildElements,
    /// [`crate::Limits::max_attributes`]: too many attributes (namespace
    /// declarations included) on one element.
    Attributes,
    /// [`crate::Limits::max_attribute_value_bytes`]: one attribute value is too long.
    AttributeValueBytes,
    /// [`crate::Limits::max_stanza_bytes`] (after authentication) or
    /// [`crate::Limits::max_stanza_bytes_unauthenticated`] (before): the
    /// stream header or one stanza used more bytes of input than allowed.
    StanzaBytes,
}

/// The construct forbidden by RFC 6120 §11.1 that a peer sent.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Restricted {
    /// `<!-- ... -->` (RFC 6120 §11.1).
    Comment,
    /// `<?target ...?>` other than the XML declaration (RFC 6120 §11.1).
    ProcessingInstruction,
    /// `<!DOCTYPE`, `<!ENTITY` or any other markup declaration (RFC 6120 §11.1).
    DocumentTypeDeclaration,
    /// `&name;` other than the five predefined entities (RFC 6120 §11.1).
    EntityReference,
    /// Another restriction enforced by the XML tokenizer (an XML declaration
    /// with a version other than 1.0 or with `standalone='no'`).
    Other(rxml::Error),
}

/// Why a stream header was refused (RFC 6120 §4.7, §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The root element is not in the `http://etherx.jabber.org/streams`
    /// namespace (RFC 6120 §4.9.3.10).
    StreamNamespace,
    /// The root element is in the streams namespace but is not called `stream`.
    StreamName,
    /// The root element carries no prefix, or the `stream` prefix is bound
    /// to another namespace (RFC 6120 §4.8.5, §4.9.3.2).
    StreamPrefix,
    /// No default namespace, or one that is not `jabber:client`,
    /// `jabber:server` or `jabber:component:accept` (RFC 6120 §4.8.2).
    ContentNamespace,
}

/// Everything that can go wrong reading or writing an XMPP XML stream.
///
/// Every read error is fatal for the stream: the reader keeps returning the
/// same error. [`StreamError::condition`] names the stream error condition
/// (RFC 6120 §4.9.3) to send before closing the stream. Write errors
/// ([`StreamError::InvalidName`], [`StreamError::InvalidChar`]) are local
/// bugs or unsanitised local data, not the peer's fault.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Character data directly inside the stream element, other than
    /// whitespace (RFC 6120 §4.9.3.1 `bad-format`).
    #[error("character data at stream level")]
    TextAtStreamLevel,
    /// The stream header is malformed (RFC 6120 §4.9.3.1, §4.9.3.2, §4.9.3.10).
    #[error("invalid stream header: {0:?}")]
    InvalidHeader(HeaderProblem),
    /// The XML is not well-formed or not namespace-well-formed, including
    /// undeclared prefixes and duplicate attributes (RFC 6120 §4.9.3.13, §11.2).
    #[error("not well-formed: {0}")]
    NotWellFormed(rxml::Error),
    /// A configured limit was exceeded (RFC 6120 §4.9.3.12 `policy-violation`).
    #[error("limit exceeded: {0:?}")]
    PolicyViolation(Limit),
    /// A construct forbidden in XMPP was sent (RFC 6120 §11.1, §4.9.3.18).
    #[error("restricted XML: {0:?}")]
    RestrictedXml(Restricted),
    /// The XML declaration names an encoding other than UTF-8 (RFC 6120 §11.6,
    /// §4.9.3.22).
    #[error("encoding other than UTF-8")]
    UnsupportedEncoding,
    /// Writer: an element, attribute or namespace prefix name is not a valid
    /// XML name, or an attribute cannot be expressed (e.g. `xmlns` in no
    /// namespace).
    #[error("cannot serialise: invalid XML name")]
    InvalidName,
    /// Writer: text or an attribute value contains a character that XML 1.0
    /// cannot carry (control characters other than tab, LF and CR;
    /// U+FFFE; U+FFFF). See [`crate::strip_invalid_chars`].
    #[error("cannot serialise: character U+{0:04X} is not allowed in XML 1.0")]
    InvalidChar(u32),
}

impl StreamError {
    /// The XMPP stream error condition element name (RFC 6120 §4.9.3) to send
    /// in `<stream:error>` before closing the stream.
    pub fn condition(&self) -> &'static str {
        match self {
            Self::TextAtStreamLevel => "bad-format",
            Self::InvalidHeader(HeaderProblem::StreamName) => "bad-format",
            Self::InvalidHeader(HeaderProblem::StreamPrefix) => "bad-namespace-prefix",
            Self::InvalidHeader(
                HeaderProblem::StreamNamespace | HeaderProblem::ContentNamespace,
            ) => "invalid-namespace",
            Self::NotWellFormed(_) => "not-well-formed",
            Self::PolicyViolation(_) => "policy-violation",
            Self::RestrictedXml(_) => "restricted-xml",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::InvalidName | Self::InvalidChar(_) => "internal-server-error",
        }
    }

    /// Classify an error from the XML tokenizer.
    pub(crate) fn from_xml(e: rxml::Error) -> Self {
        use rxml::Error as X;
        match e {
            X::RestrictedXml("comments") => Self::RestrictedXml(Restricted::Comment),
            X::RestrictedXml("processing instructions") => {
                Self::RestrictedXml(Restricted::ProcessingInstruction)
            }
            X::RestrictedXml("long name or reference" | "event too long") => {
                Self::PolicyViolation(Limit::TokenBytes)
            }
            X::RestrictedXml("only utf-8 encoding is allowed") => Self::UnsupportedEncoding,
            X::RestrictedXml(_) => Self::RestrictedXml(Restricted::Other(e)),
            X::UndeclaredEntity => Self::RestrictedXml(Restricted::EntityReference),
            // rxml reports `<!` followed by anything but `--` or `[CDATA[`
            // with this message; that is `<!DOCTYPE`, `<!ENTITY` and friends.
            X::InvalidSyntax("malformed cdata or comment section start") => {
                Self::RestrictedXml(Restricted::DocumentTypeDeclaration)
            }
            other => Self::NotWellFormed(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_is_an_rfc6120_stream_error_condition() {
        // RFC 6120 §4.9.3 defined conditions.
        const DEFINED: &[&str] = &[
            "bad-format",
            "bad-namespace-prefix",
            "conflict",
            "connection-timeout",
            "host-gone",
            "host-unknown",
            "improper-addressing",
            "internal-server-error",
            "invalid-from",
            "invalid-namespace",
            "invalid-xml",
            "not-authorized",
            "not-well-formed",
            "policy-violation",
            "remote-connection-failed",
            "reset",
            "resource-constraint",
            "restricted-xml",
            "see-other-host",
            "system-shutdown",
            "undefined-condition",
            "unsupported-encoding",
            "unsupported-feature",
            "unsupported-stanza-type",
            "unsupported-version",
        ];
        let all = [
            StreamError::TextAtStreamLevel,
            StreamError::InvalidHeader(HeaderProblem::StreamNamespace),
            StreamError::InvalidHeader(HeaderProblem::StreamName),
            StreamError::InvalidHeader(HeaderProblem::StreamPrefix),
            StreamError::InvalidHeader(HeaderProblem::ContentNamespace),
            StreamError::NotWellFormed(rxml::Error::DuplicateAttribute),
            StreamError::PolicyViolation(Limit::Depth),
            StreamError::RestrictedXml(Restricted::Comment),
            StreamError::UnsupportedEncoding,
            StreamError::InvalidName,
            StreamError::InvalidChar(1),
        ];
        for e in all {
            assert!(
                DEFINED.contains(&e.condition()),
                "{e:?} -> {}",
                e.condition()
            );
        }
    }

    #[test]
    fn tokenizer_errors_map_to_xmpp_conditions() {
        let cases = [
            (rxml::Error::RestrictedXml("comments"), "restricted-xml"),
            (
                rxml::Error::RestrictedXml("processing instructions"),
                "restricted-xml",
            ),
            (
                rxml::Error::RestrictedXml("long name or reference"),
                "policy-violation",
            ),
            (
                rxml::Error::RestrictedXml("only utf-8 encoding is allowed"),
                "unsupported-encoding",
            ),
            (rxml::Error::UndeclaredEntity, "restricted-xml"),
            (rxml::Error::ElementMismatch, "not-well-formed"),
            (rxml::Error::InvalidUtf8Byte(0xff), "not-well-formed"),
        ];
        for (input, want) in cases {
            assert_eq!(StreamError::from_xml(input).condition(), want, "{input:?}");
        }
    }
}
