//! Entity capabilities of client resources (XEP-0115), for PEP's
//! `+notify` filtering: the `ver` from each resource's presence, and a
//! bounded cache of the `+notify` features per `ver`, filled by asking the
//! first resource seen with an unknown `ver` for its disco#info.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rtc_xmlstream::{ns, Element};
use sha1::{Digest, Sha1};

use crate::core::features::disco::{NS_CAPS, NS_INFO};
use crate::core::server::Server;
use crate::core::stanza::IqType;
use crate::core::types::SessionId;

/// Most disco#info queries outstanding at once.
const MAX_PENDING: usize = 256;
/// A query unanswered this long is forgotten.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server knows about resources' capabilities.
#[derive(Debug, Default)]
pub(crate) struct CapsState {
    /// `ver` announced by each resource.
    by_session: HashMap<SessionId, String>,
    /// `+notify` features per `ver`.
    cache: HashMap<String, Vec<String>>,
    /// Outstanding disco#info queries: IQ id → (`ver`, asked resource).
    pending: HashMap<String, (String, SessionId, Instant)>,
}

impl Server {
    /// An available presence carried `<c/>` (XEP-0115 §4).
    pub(crate) fn pep_caps_presence(&mut self, sid: SessionId, c: &Element) {
        if !self.config.pep.enabled || !c.is("c", NS_CAPS) {
            return;
        }
        let (Some(ver), Some(node)) = (c.attribute("ver"), c.attribute("node")) else {
            return;
        };
        // Only SHA-1 verification strings can be checked (XEP-0115 §5.4).
        if ver.is_empty()
            || ver.len() > 256
            || node.len() > 1024
            || c.attribute("hash") != Some("sha-1")
        {
            return;
        }
        let ver = ver.to_owned();
        let live = self.sessions.len();
        if self.caps.by_session.len() > 2 * live + 16 {
            let sessions = &self.sessions;
            self.caps.by_session.retain(|s, _| sessions.contains_key(s));
        }
        let changed = self.caps.by_session.insert(sid, ver.clone()).as_ref() != Some(&ver);
        if self.caps.cache.contains_key(&ver) {
            if changed {
                self.pep_send_last(sid);
            }
            return;
        }
        let now = self.now;
        let sessions = &self.sessions;
        self.caps.pending.retain(|_, (_, s, at)| {
            sessions.contains_key(s) && now.duration_since(*at) < QUERY_TIMEOUT
        });
        let asked = self.caps.pending.values().any(|(v, _, _)| v == &ver);
        if asked || self.caps.pending.len() >= MAX_PENDING {
            return;
        }
        let Some(jid) = self.sessions.get(&sid).map(|s| s.jid.clone()) else {
            return;
        };
        let id = format!("caps-{}", self.random_token(12));
        let iq = Element::new("iq", ns::CLIENT)
            .attr("type", "get")
            .attr("from", jid.domain())
            .attr("to", jid.to_string())
            .attr("id", id.as_str())
            .child(Element::new("query", NS_INFO).attr("node", format!("{node}#{ver}")));
        self.caps.pending.insert(id, (ver, sid, now));
        self.deliver(sid, iq);
    }

    /// An IQ answer addressed to the server: consumed if it answers one of
    /// our disco#info queries.
    pub(crate) fn pep_caps_answer(&mut self, e: &Element) -> bool {
        let Some((ver, _asked, _)) = e
            .attribute("id")
            .and_then(|id| self.caps.pending.remove(id))
        else {
            return false;
        };
        if IqType::of(e) != Some(IqType::Result) {
            return true;
        }
        let Some(query) = e.find_child("query", NS_INFO) else {
            return true;
        };
        if verification_string(query).as_deref() != Some(ver.as_str()) {
            // A wrong answer must not poison the cache shared by others.
            return true;
        }
        let features: Vec<String> = Some(query)
            .map(|q| {
                q.find_children("feature", NS_INFO)
                    .filter_map(|f| f.attribute("var"))
                    .filter(|v| v.ends_with("+notify") && v.len() <= 1024)
                    .take(256)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if self.caps.cache.len() >= self.config.pep.caps_cache_size.max(1) {
            self.caps.cache.clear();
        }
        self.caps.cache.insert(ver.clone(), features);
        let waiting: Vec<SessionId> = self
            .caps
            .by_session
            .iter()
            .filter(|(_, v)| **v == ver)
            .map(|(s, _)| *s)
            .collect();
        for sid in waiting {
            self.pep_send_last(sid);
        }
        true
    }

    /// Whether the resource announced `feature` (e.g. `NODE+notify`).
    pub(crate) fn caps_has(&self, sid: SessionId, feature: &str) -> bool {
        self.caps
            .by_session
            .get(&sid)
            .and_then(|v| self.caps.cache.get(v))
            .is_some_and(|f| f.iter().any(|x| x == feature))
    }
}

/// The XEP-0115 §5.1 SHA-1 verification string of a disco#info answer,
/// with extended forms (XEP-0128); `None` for answers §5.4 says to reject
/// (duplicate identities, features or forms).
pub(crate) fn verification_string(query: &Element) -> Option<String> {
    let mut identities: Vec<String> = query
        .find_children("identity", NS_INFO)
        .map(|i| {
            format!(
                "{}/{}/{}/{}",
                i.attribute("category").unwrap_or_default(),
                i.attribute("type").unwrap_or_default(),
                i.lang().unwrap_or_default(),
                i.attribute("name").unwrap_or_default()
            )
        })
        .collect();
    let mut features: Vec<&str> = query
        .find_children("feature", NS_INFO)
        .filter_map(|f| f.attribute("var"))
        .collect();
    let (ni, nf) = (identities.len(), features.len());
    identities.sort_unstable();
    identities.dedup();
    features.sort_unstable();
    features.dedup();
    if identities.len() != ni || features.len() != nf {
        return None;
    }
    let mut forms: Vec<(String, String)> = Vec::new();
    for x in query.find_children("x", DATA) {
        let value = |f: &Element| -> Vec<String> {
            let mut v: Vec<String> = f
                .find_children("value", DATA)
                .map(|v| v.text_content().into_owned())
                .collect();
            v.sort_unstable();
            v
        };
        let fields: Vec<&Element> = x.find_children("field", DATA).collect();
        let form_type = fields
            .iter()
            .find(|f| f.attribute("var") == Some("FORM_TYPE"))
            .map(|f| value(f));
        let Some(form_type) = form_type.and_then(|v| v.into_iter().next()) else {
            continue; // forms without FORM_TYPE are ignored (§5.4)
        };
        let mut rest: Vec<(&str, Vec<String>)> = fields
            .iter()
            .filter_map(|f| {
                f.attribute("var")
                    .filter(|v| *v != "FORM_TYPE")
                    .map(|v| (v, value(f)))
            })
            .collect();
        rest.sort_unstable();
        let mut s = format!("{form_type}<");
        for (var, values) in rest {
            s.push_str(var);
            s.push('<');
            for v in values {
                s.push_str(&v);
                s.push('<');
            }
        }
        forms.push((form_type, s));
    }
    let nforms = forms.len();
    forms.sort_unstable();
    forms.dedup_by(|a, b| a.0 == b.0);
    if forms.len() != nforms {
        return None;
    }
    let mut s = String::new();
    for i in identities {
        s.push_str(&i);
        s.push('<');
    }
    for f in features {
        s.push_str(f);
        s.push('<');
    }
    for (_, f) in forms {
        s.push_str(&f);
    }
    Some(B64.encode(Sha1::digest(s.as_bytes())))
}

/// XEP-0004 namespace.
const DATA: &str = "jabber:x:data";

#[cfg(test)]
mod tests {
    use super::*;

    /// XEP-0115 §5.3 complex generation example.
    #[test]
    fn the_xep_0115_complex_example_verifies() {
        let field = |var: &str, values: &[&str]| {
            let mut f = Element::new("field", DATA).attr("var", var);
            for v in values {
                f.push_child(Element::new("value", DATA).text(v));
            }
            f
        };
        let ident = |lang: &str, name: &str| {
            Element::new("identity", NS_INFO)
                .attr_ns("http://www.w3.org/XML/1998/namespace", "lang", lang)
                .attr("category", "client")
                .attr("type", "pc")
                .attr("name", name)
        };
        let mut q = Element::new("query", NS_INFO)
            .child(ident("en", "Psi 0.11"))
            .child(ident("el", "Ψ 0.11"));
        for f in [
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/muc",
        ] {
            q.push_child(Element::new("feature", NS_INFO).attr("var", f));
        }
        q.push_child(
            Element::new("x", DATA)
                .attr("type", "result")
                .child(field("FORM_TYPE", &["urn:xmpp:dataforms:softwareinfo"]))
                .child(field("ip_version", &["ipv4", "ipv6"]))
                .child(field("os", &["Mac"]))
                .child(field("os_version", &["10.5.1"]))
                .child(field("software", &["Psi"]))
                .child(field("software_version", &["0.11"])),
        );
        assert_eq!(
            verification_string(&q).as_deref(),
            Some("q07IKJEyjvHSyhy//CH0CxmKi8w=")
        );
        q.push_child(
            Element::new("feature", NS_INFO).attr("var", "http://jabber.org/protocol/muc"),
        );
        assert_eq!(
            verification_string(&q),
            None,
            "duplicate features are rejected"
        );
    }
}
