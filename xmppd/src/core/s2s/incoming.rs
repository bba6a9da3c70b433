//! Incoming server streams: header, features, STARTTLS, SASL EXTERNAL
//! (XEP-0178), dialback requests (XEP-0220 §2.1.1, §2.1.2) and the stanzas
//! of authenticated domains.

use std::net::SocketAddr;

use base64::Engine;
use rtc_xmlstream::{ns, ContentNamespace, Element, StreamHeader};

use super::config::S2sPolicy;
use super::dialback::{self, NS_DIALBACK_FEATURE};
use super::{names_cover, Direction, LinkStage, Verify, NS_BIDI, NS_BIDI_FEATURE};
use crate::core::error::StreamCondition;
use crate::core::jid::Jid;
use crate::core::server::Server;
use crate::core::session::negotiation::is_xml_whitespace;
use crate::core::types::{ConnId, Event, Refused};

impl Server {
    /// A server connected to an s2s listener; refused like clients when its
    /// address has too many connections or opens them too fast.
    pub(crate) fn s2s_opened(
        &mut self,
        peer: SocketAddr,
        direct_tls: bool,
    ) -> Result<ConnId, Refused> {
        let ip = peer.ip();
        let count = self.per_ip.get(&ip).copied().unwrap_or(0);
        if count >= self.config.limits.max_connections_per_ip {
            return Err(Refused::TooManyConnections);
        }
        if !self.conn_rate.check(&ip, self.now) {
            return Err(Refused::RateLimited);
        }
        self.per_ip.insert(ip, count + 1);
        let conn = self.new_link(Direction::In, Some(peer), "", "");
        if direct_tls {
            if let Some(l) = self.s2s.links.get_mut(&conn) {
                l.stage = LinkStage::TlsHandshake;
            }
        }
        Ok(conn)
    }

    /// The peer's stream header (RFC 6120 §4.7).
    pub(crate) fn s2s_in_header(&mut self, conn: ConnId, h: StreamHeader) {
        let to =
            h.to.as_deref()
                .and_then(|t| Jid::domain_only(t).ok())
                .map(|j| j.domain().to_owned());
        let hosted = to.as_ref().is_some_and(|d| self.is_local_domain(d));
        let from = h
            .from
            .as_deref()
            .and_then(|t| Jid::domain_only(t).ok())
            .map(|j| j.domain().to_owned());
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if let (true, Some(to)) = (hosted, to) {
            l.local = to;
        }
        if let Some(from) = from {
            l.remote = from;
        }
        let major = h
            .version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<u32>().ok());
        let problem = if h.content_ns != ContentNamespace::Server {
            Some(StreamCondition::InvalidNamespace)
        } else if !hosted || !self.config.s2s.enabled {
            Some(StreamCondition::HostUnknown)
        } else if major.is_none_or(|m| m < 1) {
            // Without version 1.0 there is no STARTTLS, and we require TLS.
            Some(StreamCondition::UnsupportedVersion)
        } else {
            None
        };
        if let Some(condition) = problem {
            self.s2s_stream_error(conn, condition);
            return;
        }
        l.stage = LinkStage::Open;
        self.s2s_send_header(conn);
        let features = self.s2s_in_features(conn);
        self.s2s_write(conn, &features);
        // After SASL the restarted stream is authenticated (XEP-0288 §3).
        let after_sasl = self
            .s2s
            .links
            .get(&conn)
            .filter(|l| l.sasl_done)
            .map(|l| l.remote.clone());
        if let Some(remote) = after_sasl {
            self.s2s_bidi_up(conn, &remote);
        }
    }

    /// `<stream:features/>` of an incoming stream (RFC 6120 §4.3.2).
    fn s2s_in_features(&self, conn: ConnId) -> Element {
        let mut f = Element::new("features", ns::STREAMS);
        let Some(l) = self.s2s.links.get(&conn) else {
            return f;
        };
        if l.tls.is_none() {
            f.push_child(
                Element::new("starttls", ns::TLS).child(Element::new("required", ns::TLS)),
            );
            return f;
        }
        if l.sasl_done {
            return f;
        }
        if l.tls.as_ref().is_some_and(|t| t.peer_names.is_some()) {
            let mechs = Element::new("mechanisms", ns::SASL)
                .child(Element::new("mechanism", ns::SASL).text("EXTERNAL"));
            f.push_child(mechs);
        }
        if self.config.s2s.bidi {
            f.push_child(Element::new("bidi", NS_BIDI_FEATURE));
        }
        if self.config.s2s.policy(&l.remote) == S2sPolicy::AllowDialback {
            f.push_child(
                Element::new("dialback", NS_DIALBACK_FEATURE)
                    .child(Element::new("errors", NS_DIALBACK_FEATURE)),
            );
        }
        f
    }

    /// A top-level element on an incoming stream.
    pub(crate) fn s2s_in_element(&mut self, conn: ConnId, e: Element) {
        match (e.ns(), e.name()) {
            (ns::TLS, "starttls") => self.s2s_in_starttls(conn),
            (NS_BIDI, "bidi") => {
                let enabled = self.config.s2s.bidi;
                if let Some(l) = self.s2s.links.get_mut(&conn) {
                    l.bidi = enabled && l.tls.is_some() && l.authed.is_empty();
                }
            }
            (ns::SASL, "auth") => self.s2s_in_auth(conn, &e),
            (ns::DIALBACK, "result") if e.attribute("type").is_none() => {
                self.s2s_in_db_result(conn, &e)
            }
            (ns::DIALBACK, "verify") if e.attribute("type").is_none() => {
                self.s2s_in_db_verify(conn, &e)
            }
            (ns::SERVER, "message" | "presence" | "iq") => self.s2s_inbound_stanza(conn, e),
            (ns::STREAMS, "error") => {
                self.transmit(conn, b"</stream:stream>");
                self.emit(Event::Close { conn });
                self.s2s_drop(
                    conn,
                    false,
                    crate::core::error::StanzaCondition::RemoteServerNotFound,
                );
            }
            _ => self.s2s_stream_error(conn, StreamCondition::UnsupportedStanzaType),
        }
    }

    /// RFC 6120 §5.4.2: `<proceed/>`, then the shell runs the handshake.
    fn s2s_in_starttls(&mut self, conn: ConnId) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if l.tls.is_some() || l.stage != LinkStage::Open {
            self.s2s_write(conn, &Element::new("failure", ns::TLS));
            self.transmit(conn, b"</stream:stream>");
            self.s2s_drop(
                conn,
                true,
                crate::core::error::StanzaCondition::RemoteServerNotFound,
            );
            return;
        }
        let injected = !is_xml_whitespace(&l.reader.take_unparsed());
        l.stage = LinkStage::TlsHandshake;
        self.s2s_write(conn, &Element::new("proceed", ns::TLS));
        if injected {
            self.s2s_drop(
                conn,
                true,
                crate::core::error::StanzaCondition::RemoteServerNotFound,
            );
            return;
        }
        self.emit(Event::StartTls { conn });
    }

    /// XEP-0178 §2: SASL EXTERNAL with the certificate the peer presented.
    fn s2s_in_auth(&mut self, conn: ConnId, e: &Element) {
        let Some(l) = self.s2s.links.get(&conn) else {
            return;
        };
        let text = e.text_content();
        let text = text.trim();
        let authzid = if text.is_empty() || text == "=" {
            Some(l.remote.clone())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        };
        let claimed = authzid.filter(|a| !a.is_empty() && (l.remote.is_empty() || *a == l.remote));
        let ok = e.attribute("mechanism") == Some("EXTERNAL")
            && l.tls.is_some()
            && !l.sasl_done
            && claimed
                .as_deref()
                .is_some_and(|c| names_cover(l.tls.as_ref(), c));
        let Some(claimed) = claimed.filter(|_| ok) else {
            let failure =
                Element::new("failure", ns::SASL).child(Element::new("not-authorized", ns::SASL));
            self.s2s_write(conn, &failure);
            return;
        };
        self.s2s_write(conn, &Element::new("success", ns::SASL));
        self.emit(Event::S2sAuthenticated {
            conn,
            domain: claimed.clone(),
            method: "EXTERNAL",
        });
        if let Some(l) = self.s2s.links.get_mut(&conn) {
            l.sasl_done = true;
            l.remote = claimed.clone();
            l.authed.insert(claimed);
            l.reader.reset();
            l.reader.set_authenticated(true);
            l.header_sent = false;
            l.stage = LinkStage::ExpectHeader;
        }
        self.arm_link(conn);
    }

    /// XEP-0220 §2.1.1: the peer claims `from`; verify with its authoritative
    /// server unless its certificate already proves it (XEP-0344 §2.4).
    fn s2s_in_db_result(&mut self, conn: ConnId, e: &Element) {
        let local = e.attribute("to").unwrap_or_default().to_owned();
        let remote = e
            .attribute("from")
            .and_then(|f| Jid::domain_only(f).ok())
            .map(|j| j.domain().to_owned())
            .unwrap_or_default();
        let key = e.text_content().trim().to_owned();
        let Some(l) = self.s2s.links.get(&conn) else {
            return;
        };
        if !self.is_local_domain(&local) {
            self.s2s_stream_error(conn, StreamCondition::HostUnknown);
            return;
        }
        if remote.is_empty() || key.is_empty() {
            self.s2s_stream_error(conn, StreamCondition::InvalidFrom);
            return;
        }
        let cert_ok = names_cover(l.tls.as_ref(), &remote);
        let policy = self.config.s2s.policy(&remote);
        let id = l.stream_id.clone();
        if l.tls.is_none() || (policy == S2sPolicy::RequireValidCertificates && !cert_ok) {
            // XEP-0220 §2.4: refuse with an error the peer can report.
            let err = Element::new("error", ns::CLIENT)
                .attr("type", "cancel")
                .child(Element::new("policy-violation", ns::STANZA_ERRORS));
            let mut reply = dialback::element("result", &local, &remote, Some("error"), None, None);
            reply.push_child(err);
            self.s2s_write(conn, &reply);
            self.emit(Event::S2sAuthFailed {
                conn,
                domain: remote,
            });
            return;
        }
        let v = Verify {
            in_conn: conn,
            local: local.clone(),
            remote: remote.clone(),
            id,
            key,
            sent: false,
        };
        if cert_ok {
            self.emit(Event::S2sAuthenticated {
                conn,
                domain: remote,
                method: "certificate+dialback",
            });
            self.s2s_verified(&v, true);
            self.arm_link(conn);
            return;
        }
        let max = self.config.s2s.max_pending_verifications;
        match self.s2s.links.get_mut(&conn) {
            Some(l) if l.pending_db < max => l.pending_db += 1,
            _ => {
                self.emit(Event::S2sAuthFailed {
                    conn,
                    domain: remote,
                });
                self.s2s_stream_error(conn, StreamCondition::PolicyViolation);
                return;
            }
        }
        let out = self.s2s_verify_link(&local, &remote);
        let Some(o) = self.s2s.links.get_mut(&out) else {
            return;
        };
        if o.verifies.len() >= max {
            self.s2s_verified(&v, false);
            return;
        }
        o.verifies.push(v);
        self.s2s_send_verifies(out);
    }

    /// XEP-0220 §2.1.3: we are the authoritative server; check the key.
    fn s2s_in_db_verify(&mut self, conn: ConnId, e: &Element) {
        let receiving = e.attribute("from").unwrap_or_default().to_owned();
        let originating = e.attribute("to").unwrap_or_default().to_owned();
        let id = e.attribute("id").unwrap_or_default().to_owned();
        let key = e.text_content();
        let valid = self.is_local_domain(&originating)
            && dialback::check(&self.secret, &receiving, &originating, &id, &key);
        let kind = if valid { "valid" } else { "invalid" };
        let reply = dialback::element(
            "verify",
            &originating,
            &receiving,
            Some(kind),
            Some(&id),
            None,
        );
        self.s2s_write(conn, &reply);
    }
}
