//! Stanza classification and reply builders (RFC 6120 §8, RFC 6121 §4.7, §5.2).

use rtc_xmlstream::{ns, Element};

use super::error::StanzaError;
use super::jid::Jid;

/// The three stanza kinds (RFC 6120 §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// RFC 6120 §8.2.1
    Message,
    /// RFC 6120 §8.2.2
    Presence,
    /// RFC 6120 §8.2.3
    Iq,
}

impl Kind {
    pub(crate) fn of(e: &Element) -> Option<Self> {
        if e.ns() != ns::CLIENT {
            return None;
        }
        match e.name() {
            "message" => Some(Self::Message),
            "presence" => Some(Self::Presence),
            "iq" => Some(Self::Iq),
            _ => None,
        }
    }
}

/// Message types (RFC 6121 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageType {
    /// RFC 6121 §5.2.2 `chat`
    Chat,
    /// RFC 6121 §5.2.2 `error`
    Error,
    /// RFC 6121 §5.2.2 `groupchat`
    Groupchat,
    /// RFC 6121 §5.2.2 `headline`
    Headline,
    /// RFC 6121 §5.2.2 `normal`; also for a missing or unknown type.
    Normal,
}

impl MessageType {
    pub(crate) fn of(e: &Element) -> Self {
        match e.attribute("type") {
            Some("chat") => Self::Chat,
            Some("error") => Self::Error,
            Some("groupchat") => Self::Groupchat,
            Some("headline") => Self::Headline,
            _ => Self::Normal,
        }
    }
}

/// Presence types (RFC 6121 §4.7.1); `Available` is the absent type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PresenceType {
    /// No type: available (RFC 6121 §4.7.1).
    Available,
    /// RFC 6121 §4.7.1 `error`
    Error,
    /// RFC 6121 §4.7.1 `probe`
    Probe,
    /// RFC 6121 §4.7.1 `subscribe`
    Subscribe,
    /// RFC 6121 §4.7.1 `subscribed`
    Subscribed,
    /// RFC 6121 §4.7.1 `unavailable`
    Unavailable,
    /// RFC 6121 §4.7.1 `unsubscribe`
    Unsubscribe,
    /// RFC 6121 §4.7.1 `unsubscribed`
    Unsubscribed,
}

impl PresenceType {
    /// `None` for an unknown type (a `bad-request`).
    pub(crate) fn of(e: &Element) -> Option<Self> {
        Some(match e.attribute("type") {
            None => Self::Available,
            Some("error") => Self::Error,
            Some("probe") => Self::Probe,
            Some("subscribe") => Self::Subscribe,
            Some("subscribed") => Self::Subscribed,
            Some("unavailable") => Self::Unavailable,
            Some("unsubscribe") => Self::Unsubscribe,
            Some("unsubscribed") => Self::Unsubscribed,
            Some(_) => return None,
        })
    }

    pub(crate) fn is_subscription(self) -> bool {
        matches!(
            self,
            Self::Subscribe | Self::Subscribed | Self::Unsubscribe | Self::Unsubscribed
        )
    }

    pub(crate) fn as_attr(self) -> Option<&'static str> {
        match self {
            Self::Available => None,
            Self::Error => Some("error"),
            Self::Probe => Some("probe"),
            Self::Subscribe => Some("subscribe"),
            Self::Subscribed => Some("subscribed"),
            Self::Unavailable => Some("unavailable"),
            Self::Unsubscribe => Some("unsubscribe"),
            Self::Unsubscribed => Some("unsubscribed"),
        }
    }
}

/// IQ types (RFC 6120 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IqType {
    /// RFC 6120 §8.2.3 `get`
    Get,
    /// RFC 6120 §8.2.3 `set`
    Set,
    /// RFC 6120 §8.2.3 `result`
    Result,
    /// RFC 6120 §8.2.3 `error`
    Error,
}

impl IqType {
    pub(crate) fn of(e: &Element) -> Option<Self> {
        match e.attribute("type") {
            Some("get") => Some(Self::Get),
            Some("set") => Some(Self::Set),
            Some("result") => Some(Self::Result),
            Some("error") => Some(Self::Error),
            _ => None,
        }
    }

    pub(crate) fn is_request(self) -> bool {
        matches!(self, Self::Get | Self::Set)
    }
}

/// Whether the stanza is itself an error (never answered with an error,
/// RFC 6120 §8.3.1).
pub(crate) fn is_error(e: &Element) -> bool {
    e.attribute("type") == Some("error")
}

/// The parsed `from` of a stanza the core built or stamped.
pub(crate) fn from_jid(e: &Element) -> Option<Jid> {
    e.attribute("from").and_then(|f| Jid::parse(f).ok())
}

/// The parsed `to` of a stanza.
pub(crate) fn to_jid(e: &Element) -> Option<Jid> {
    e.attribute("to").and_then(|f| Jid::parse(f).ok())
}

/// An empty `<iq type='result'/>` answering `req` (RFC 6120 §8.2.3).
pub(crate) fn iq_result(req: &Element) -> Element {
    let mut e = Element::new("iq", ns::CLIENT).attr("type", "result");
    copy_reply_addressing(req, &mut e);
    e
}

/// `<iq type='result'>` carrying `payload`.
pub(crate) fn iq_result_with(req: &Element, payload: Element) -> Element {
    iq_result(req).child(payload)
}

/// The error reply to `req`, or `None` if `req` is an error itself
/// (RFC 6120 §8.3.1).
pub(crate) fn error_reply(req: &Element, err: &StanzaError) -> Option<Element> {
    if is_error(req) {
        return None;
    }
    let mut e = Element::new(req.name(), ns::CLIENT).attr("type", "error");
    copy_reply_addressing(req, &mut e);
    e.push_child(err.to_element());
    Some(e)
}

/// Swap `from`/`to` and keep the `id`.
fn copy_reply_addressing(req: &Element, reply: &mut Element) {
    if let Some(id) = req.attribute("id") {
        reply.set_attr("id", id);
    }
    if let Some(from) = req.attribute("from") {
        reply.set_attr("to", from);
    }
    if let Some(to) = req.attribute("to") {
        reply.set_attr("from", to);
    }
}

/// The single payload child of an IQ request (RFC 6120 §8.2.3: exactly one).
pub(crate) fn iq_payload(iq: &Element) -> Option<&Element> {
    let mut children = iq.children();
    let first = children.next()?;
    children.next().is_none().then_some(first)
}

/// A `<presence/>` with the given type, from and to.
pub(crate) fn presence(kind: PresenceType, from: &Jid, to: &Jid) -> Element {
    let mut e = Element::new("presence", ns::CLIENT)
        .attr("from", from.to_string())
        .attr("to", to.to_string());
    if let Some(t) = kind.as_attr() {
        e.set_attr("type", t);
    }
    e
}

/// The `<priority/>` of an available presence (RFC 6121 §4.7.2.3), or
/// `Err` when it is not an integer in -128..=127.
pub(crate) fn priority(p: &Element) -> Result<i8, ()> {
    match p.child_text("priority", ns::CLIENT) {
        None => Ok(0),
        Some(t) => t.trim().parse::<i8>().map_err(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_swap_addresses_and_never_answer_errors() {
        let req = Element::new("iq", ns::CLIENT)
            .attr("type", "get")
            .attr("id", "q1")
            .attr("from", "a@x/r")
            .attr("to", "b@x");
        let err = StanzaError::new(super::super::error::StanzaCondition::ServiceUnavailable);
        let reply = error_reply(&req, &err);
        let reply = reply.as_ref();
        assert_eq!(reply.and_then(|r| r.attribute("to")), Some("a@x/r"));
        assert_eq!(reply.and_then(|r| r.attribute("from")), Some("b@x"));
        assert_eq!(reply.and_then(|r| r.attribute("id")), Some("q1"));
        let Some(reply) = reply else { return };
        assert!(error_reply(reply, &err).is_none());
    }

    #[test]
    fn priority_must_be_a_small_integer() {
        let p = |t: &str| {
            Element::new("presence", ns::CLIENT)
                .child(Element::new("priority", ns::CLIENT).text(t))
        };
        assert_eq!(priority(&p("5")), Ok(5));
        assert_eq!(priority(&p("-128")), Ok(-128));
        assert!(priority(&p("128")).is_err());
        assert!(priority(&p("x")).is_err());
        assert_eq!(priority(&Element::new("presence", ns::CLIENT)), Ok(0));
    }
}
