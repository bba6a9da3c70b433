//! Software version (XEP-0092). Only name and version are given; the
//! operating system is deliberately not revealed. Can be turned off with
//! `advertise_version: false`.

use rtc_xmlstream::Element;

/// XEP-0092 namespace.
pub(crate) const NS: &str = "jabber:iq:version";

/// `<query xmlns='jabber:iq:version'>` with name and version.
pub(crate) fn answer() -> Element {
    Element::new("query", NS)
        .child(Element::new("name", NS).text("xmppd"))
        .child(Element::new("version", NS).text(env!("CARGO_PKG_VERSION")))
}
