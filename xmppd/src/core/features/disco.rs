//! Service discovery (XEP-0030) for the server and for accounts, and the
//! server's entity capabilities (XEP-0115), advertised in stream features.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rtc_xmlstream::Element;
use sha1::{Digest, Sha1};

use crate::core::error::{StanzaCondition, StanzaError};

/// XEP-0030 info namespace.
pub(crate) const NS_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030 items namespace.
pub(crate) const NS_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0115 namespace.
pub(crate) const NS_CAPS: &str = "http://jabber.org/protocol/caps";
/// XEP-0115 node naming this software.
pub(crate) const CAPS_NODE: &str = "https://example.invalid/rtc-suite/xmppd";

/// The server's identity (XEP-0030 §3.1, registry category `server/im`).
const IDENTITY: (&str, &str, &str) = ("server", "im", "xmppd");

/// Features the server announces, one per supported protocol.
fn server_features(version: bool) -> Vec<&'static str> {
    let mut f = vec![
        NS_INFO,
        NS_ITEMS,
        "jabber:iq:private",
        "jabber:iq:roster",
        "msgoffline",
        "urn:xmpp:blocking",
        "urn:xmpp:carbons:2",
        "urn:xmpp:ping",
        "urn:xmpp:time",
        "vcard-temp",
    ];
    if version {
        f.push("jabber:iq:version");
    }
    f.sort_unstable();
    f
}

/// XEP-0115 §5.1 verification string over identity and features.
pub(crate) fn caps_ver(version: bool) -> String {
    let (category, kind, name) = IDENTITY;
    let mut s = format!("{category}/{kind}//{name}<");
    for f in server_features(version) {
        s.push_str(f);
        s.push('<');
    }
    B64.encode(Sha1::digest(s.as_bytes()))
}

/// `<c xmlns='http://jabber.org/protocol/caps'/>` for stream features.
pub(crate) fn caps_element(ver: &str) -> Element {
    Element::new("c", NS_CAPS)
        .attr("hash", "sha-1")
        .attr("node", CAPS_NODE)
        .attr("ver", ver)
}

/// The server's disco#info, for no node or its caps node (XEP-0115 §6.2).
pub(crate) fn server_info(
    node: Option<&str>,
    ver: &str,
    version: bool,
) -> Result<Element, StanzaError> {
    let mut q = Element::new("query", NS_INFO);
    if let Some(n) = node {
        if n != format!("{CAPS_NODE}#{ver}") {
            return Err(StanzaError::new(StanzaCondition::ItemNotFound));
        }
        q.set_attr("node", n);
    }
    let (category, kind, name) = IDENTITY;
    q.push_child(
        Element::new("identity", NS_INFO)
            .attr("category", category)
            .attr("type", kind)
            .attr("name", name),
    );
    for f in server_features(version) {
        q.push_child(Element::new("feature", NS_INFO).attr("var", f));
    }
    Ok(q)
}

/// disco#info of an account, answered by the server (XEP-0030 §3.1,
/// `account/registered`).
pub(crate) fn account_info(node: Option<&str>, extra: &[&str]) -> Element {
    let mut q = Element::new("query", NS_INFO);
    if let Some(n) = node {
        q.set_attr("node", n);
    }
    let mut q = q
        .child(
            Element::new("identity", NS_INFO)
                .attr("category", "account")
                .attr("type", "registered"),
        )
        .child(Element::new("feature", NS_INFO).attr("var", NS_INFO));
    if extra.contains(&"http://jabber.org/protocol/pubsub#publish") {
        // XEP-0163 §1: the account is a PEP service.
        q.push_child(Element::new("identity", NS_INFO).attr("category", "pubsub").attr("type", "pep"));
    }
    for f in extra {
        q.push_child(Element::new("feature", NS_INFO).attr("var", *f));
    }
    q
}

impl crate::core::server::Server {
    /// Features of accounts' bare JIDs (XEP-0313 §6.1, XEP-0357 §4).
    pub(crate) fn account_features(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.config.archive.enabled {
            f.push(super::mam::NS);
        }
        if self.config.push.enabled {
            f.push(super::push::NS);
        }
        if self.config.pep.enabled {
            f.extend(crate::core::pep::FEATURES);
        }
        f
    }
}

/// An empty disco#items answer, echoing the node.
pub(crate) fn empty_items(request: &Element) -> Element {
    let mut q = Element::new("query", NS_ITEMS);
    if let Some(n) = request.attribute("node") {
        q.set_attr("node", n);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_ver_covers_the_features_listed() {
        assert_ne!(caps_ver(true), caps_ver(false));
        let info = server_info(None, &caps_ver(true), true);
        let n = info.map(|q| q.find_children("feature", NS_INFO).count());
        assert_eq!(n, Ok(server_features(true).len()));
        assert!(server_info(Some("other#x"), &caps_ver(true), true).is_err());
        let node = format!("{CAPS_NODE}#{}", caps_ver(true));
        assert!(server_info(Some(&node), &caps_ver(true), true).is_ok());
    }
}
