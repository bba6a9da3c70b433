//! The crate's error taxonomy and what a server should do about each error.

use crate::headers::HeaderName;
use crate::reply::ReplyContext;

/// Everything that can be wrong with a SIP message, or with a value handed to a builder.
///
/// Each variant maps to a wire answer through [`Error::status`]; whether that answer
/// can actually be sent is decided by [`ParseFailure::disposition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing but keepalive CRLFs, or no bytes at all.
    #[error("empty message")]
    Empty,
    /// The message is larger than [`crate::Limits::max_message_bytes`].
    #[error("message larger than the configured limit")]
    MessageTooLarge,
    /// The start line and header section exceed [`crate::Limits::max_header_bytes`].
    #[error("header section larger than the configured limit")]
    HeaderSectionTooLarge,
    /// The body exceeds [`crate::Limits::max_body_bytes`].
    #[error("body larger than the configured limit")]
    BodyTooLarge,
    /// More header fields than [`crate::Limits::max_headers`].
    #[error("too many header fields")]
    TooManyHeaders,
    /// More list values than [`crate::Limits::max_list_values`].
    #[error("too many values in a list header field")]
    TooManyValues,
    /// The header section does not end with an empty line (RFC 3261 §7).
    #[error("header section not terminated by an empty line")]
    UnterminatedHeaders,
    /// A stream message without Content-Length (RFC 3261 §18.3).
    #[error("Content-Length missing on a stream transport")]
    MissingContentLength,
    /// Content-Length is not a non-negative decimal number (RFC 3261 §20.14).
    #[error("Content-Length is not a valid number")]
    InvalidContentLength,
    /// More than one Content-Length header field (RFC 4475 §3.3.9).
    #[error("more than one Content-Length header field")]
    MultipleContentLength,
    /// Content-Length announces more bytes than the datagram holds (RFC 3261 §18.3).
    #[error("Content-Length larger than the bytes received")]
    ContentLengthExceedsData,
    /// The Request-Line or Status-Line does not follow RFC 3261 §7.1/§7.2.
    #[error("malformed start line")]
    InvalidStartLine,
    /// The Request-URI is not a valid URI (RFC 3261 §19.1).
    #[error("malformed Request-URI")]
    InvalidRequestUri,
    /// A URI does not follow RFC 3261 §19.1 (sip/sips), RFC 3966 (tel) or RFC 3986 §3.1 (scheme).
    #[error("malformed URI")]
    InvalidUri,
    /// The SIP-Version is not SIP/2.0 (RFC 3261 §21.5.6, answered with 505).
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// The status code is not three digits from 100 to 699 (RFC 3261 §7.2).
    #[error("status code is not three digits from 100 to 699")]
    InvalidStatusCode,
    /// A header line has no valid name and colon, or a bare CR or LF (RFC 3261 §7.3).
    #[error("malformed header line")]
    InvalidHeaderLine,
    /// A header field value does not follow its grammar.
    #[error("malformed {0} header field")]
    InvalidHeader(HeaderName),
    /// A mandatory header field is missing (RFC 3261 §8.1.1).
    #[error("missing {0} header field")]
    MissingHeader(HeaderName),
    /// A single-valued header field appears more than once (RFC 4475 §3.3.8).
    #[error("{0} header field appears more than once")]
    DuplicateHeader(HeaderName),
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// The Request-URI carries a `?headers` component (RFC 3261 §19.1.5).
    #[error("Request-URI carries escaped headers")]
    RequestUriHasHeaders,
    /// A value given to the editor or builder would break the message framing.
    #[error("value contains characters not allowed in a header field")]
    InvalidValue,
    /// Two edits touch the same bytes.
    #[error("conflicting edits of the same bytes")]
    ConflictingEdits,
    /// Max-Forwards is already 0: the request must be answered 483 (RFC 3261 §16.3).
    #[error("Max-Forwards is zero")]
    TooManyHops,
    /// The edit needs a header field the message does not have.
    #[error("the message has no {0} header field to edit")]
    NothingToEdit(HeaderName),
}

impl Error {
    /// The SIP status code that answers a request failing with this error.
    pub fn status(self) -> u16 {
        match self {
            Error::UnsupportedVersion => 505,
            Error::MessageTooLarge | Error::HeaderSectionTooLarge | Error::BodyTooLarge => 513,
            _ => 400,
        }
    }

    /// A reason phrase suitable for the answer, naming the problem.
    pub fn reason_phrase(self) -> &'static str {
        match self {
            Error::UnsupportedVersion => "Version Not Supported",
            Error::MessageTooLarge | Error::HeaderSectionTooLarge | Error::BodyTooLarge => {
                "Message Too Large"
            }
            Error::MissingHeader(_) => "Bad Request (missing header field)",
            Error::DuplicateHeader(_) => "Bad Request (duplicated header field)",
            Error::CSeqMethodMismatch => "Bad Request (CSeq method mismatch)",
            Error::InvalidContentLength
            | Error::MultipleContentLength
            | Error::ContentLengthExceedsData => "Bad Request (Content-Length)",
            Error::InvalidRequestUri | Error::RequestUriHasHeaders => "Bad Request (Request-URI)",
            Error::InvalidHeader(_) => "Bad Request (malformed header field)",
            _ => "Bad Request",
        }
    }
}

/// What the server should do with a message that failed to parse or validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Answer with this status; [`ParseFailure::reply_context`] has what the answer copies.
    Reply(u16),
    /// Send nothing: a response, an ACK, or too little was readable to answer.
    Drop,
}

/// A message that could not be accepted, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ParseFailure<'a> {
    error: Error,
    status: u16,
    reply: Option<ReplyContext<'a>>,
}

impl<'a> ParseFailure<'a> {
    pub(crate) fn new(error: Error, status: u16, reply: Option<ReplyContext<'a>>) -> Self {
        ParseFailure {
            error,
            status,
            reply,
        }
    }

    /// The reason the message was refused.
    pub fn error(&self) -> Error {
        self.error
    }

    /// Whether to answer, and with which status, or to drop silently.
    pub fn disposition(&self) -> Disposition {
        match self.reply {
            Some(_) => Disposition::Reply(self.status),
            None => Disposition::Drop,
        }
    }

    /// The raw Via, From, To, Call-ID and CSeq of the refused request, when answerable.
    pub fn reply_context(&self) -> Option<&ReplyContext<'a>> {
        self.reply.as_ref()
    }
}
