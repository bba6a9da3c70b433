//! Client state indication (XEP-0352): while a client says it is inactive,
//! presence updates are held (only the latest per sender is kept) and
//! flushed when it becomes active or when something important (a message,
//! an IQ, a subscription request) must be delivered anyway.

use rtc_xmlstream::Element;

use crate::core::server::Server;
use crate::core::stanza::{Kind, PresenceType};
use crate::core::types::SessionId;

/// XEP-0352 namespace.
pub(crate) const NS_CSI: &str = "urn:xmpp:csi:0";

/// Presence notifications can wait; everything else cannot.
pub(crate) fn can_hold(e: &Element) -> bool {
    Kind::of(e) == Some(Kind::Presence)
        && matches!(
            PresenceType::of(e),
            Some(PresenceType::Available | PresenceType::Unavailable)
        )
}

/// Queue a presence, replacing an older one from the same sender.
pub(crate) fn hold(queue: &mut Vec<Element>, e: Element) {
    let from = e.attribute("from").map(str::to_owned);
    queue.retain(|q| q.attribute("from").map(str::to_owned) != from);
    queue.push(e);
}

impl Server {
    /// `<active/>` / `<inactive/>`.
    pub(crate) fn csi_set(&mut self, sid: SessionId, inactive: bool) {
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.inactive = inactive;
        }
        if !inactive {
            self.csi_flush(sid);
        }
    }

    /// Deliver everything held for the session, in order.
    pub(crate) fn csi_flush(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let held = std::mem::take(&mut s.csi_queue);
        for e in held {
            self.push_stanza(sid, e, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_xmlstream::ns;

    #[test]
    fn only_the_latest_presence_per_sender_is_held() {
        let p = |from: &str, show: &str| {
            Element::new("presence", ns::CLIENT)
                .attr("from", from)
                .child(Element::new("show", ns::CLIENT).text(show))
        };
        let mut q = Vec::new();
        hold(&mut q, p("a@x/1", "away"));
        hold(&mut q, p("b@x/1", "dnd"));
        hold(&mut q, p("a@x/1", "xa"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.last().and_then(|e| e.child_text("show", ns::CLIENT)).as_deref(), Some("xa"));
        let sub = Element::new("presence", ns::CLIENT).attr("type", "subscribe");
        assert!(!can_hold(&sub));
        assert!(can_hold(&p("a@x/1", "away")));
    }
}
