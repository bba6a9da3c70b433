//! Entity time (XEP-0202), always in UTC.

use rtc_xmlstream::Element;

/// XEP-0202 namespace.
pub(crate) const NS: &str = "urn:xmpp:time";

/// `<time xmlns='urn:xmpp:time'><tzo>+00:00</tzo><utc>...</utc></time>`.
pub(crate) fn answer(utc: &str) -> Element {
    Element::new("time", NS)
        .child(Element::new("tzo", NS).text("+00:00"))
        .child(Element::new("utc", NS).text(utc))
}
