//! Entity capabilities of client resources (XEP-0115), for PEP's
//! `+notify` filtering: the `ver` from each resource's presence, and a
//! bounded cache of the `+notify` features per `ver`, filled by asking the
//! first resource seen with an unknown `ver` for its disco#info.

use std::collections::HashMap;

use rtc_xmlstream::{ns, Element};

use crate::core::features::disco::{NS_CAPS, NS_INFO};
use crate::core::server::Server;
use crate::core::stanza::IqType;
use crate::core::types::SessionId;

/// Most disco#info queries outstanding at once.
const MAX_PENDING: usize = 256;

/// What the server knows about resources' capabilities.
#[derive(Debug, Default)]
pub(crate) struct CapsState {
    /// `ver` announced by each resource.
    by_session: HashMap<SessionId, String>,
    /// `+notify` features per `ver`.
    cache: HashMap<String, Vec<String>>,
    /// Outstanding disco#info queries: IQ id → (`ver`, asked resource).
    pending: HashMap<String, (String, SessionId)>,
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
        if ver.is_empty() || ver.len() > 256 || node.len() > 1024 {
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
        let asked = self.caps.pending.values().any(|(v, _)| v == &ver);
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
        self.caps.pending.insert(id, (ver, sid));
        self.deliver(sid, iq);
    }

    /// An IQ answer addressed to the server: consumed if it answers one of
    /// our disco#info queries.
    pub(crate) fn pep_caps_answer(&mut self, e: &Element) -> bool {
        let Some((ver, _asked)) = e
            .attribute("id")
            .and_then(|id| self.caps.pending.remove(id))
        else {
            return false;
        };
        if IqType::of(e) != Some(IqType::Result) {
            return true;
        }
        let features: Vec<String> = e
            .find_child("query", NS_INFO)
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
