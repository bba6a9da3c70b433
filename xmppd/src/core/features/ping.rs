//! XMPP ping (XEP-0199): the server pings clients that have been silent for
//! `ping_interval_seconds`; any traffic counts as an answer, and silence for
//! `ping_timeout_seconds` more closes the stream with `<connection-timeout/>`
//! (see `conn.rs`). Client pings are answered in `iq.rs`.

use rtc_xmlstream::{ns, Element};

use crate::core::conn::Stage;
use crate::core::server::Server;
use crate::core::types::ConnId;

/// XEP-0199 namespace.
pub(crate) const NS: &str = "urn:xmpp:ping";

impl Server {
    /// Send `<iq type='get'><ping/></iq>` to the session on `conn`.
    pub(crate) fn send_server_ping(&mut self, conn: ConnId) {
        let Some(Stage::Bound(sid)) = self.conns.get(&conn).map(|c| &c.stage) else {
            return;
        };
        let sid = *sid;
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let id = format!("ping-{}", self.next_id);
        self.next_id += 1;
        let ping = Element::new("iq", ns::CLIENT)
            .attr("type", "get")
            .attr("id", id)
            .attr("from", s.jid.domain())
            .attr("to", s.jid.to_string())
            .child(Element::new("ping", NS));
        self.push_stanza(sid, ping, None);
    }
}
