//! Outgoing server streams: header, STARTTLS (RFC 6120 §5), SASL EXTERNAL
//! (XEP-0178) or dialback (XEP-0220 §2.1.1), then the queued stanzas; and
//! the `<db:verify/>` questions we ask as a receiving server.

use base64::Engine;
use rtc_xmlstream::{ns, ContentNamespace, Element, StreamHeader};

use super::config::S2sPolicy;
use super::dialback::{self, NS_DIALBACK_FEATURE};
use super::{names_cover, LinkStage, NS_BIDI, NS_BIDI_FEATURE};
use crate::core::error::{StanzaCondition, StreamCondition};
use crate::core::server::Server;
use crate::core::types::{ConnId, Event};

impl Server {
    /// The shell connected an outgoing link (and, for direct TLS, already
    /// reported the handshake): open the stream.
    pub fn handle_s2s_connected(&mut self, conn: ConnId, now: std::time::Instant) {
        self.now = now;
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if l.stage != LinkStage::Connecting {
            return;
        }
        l.stage = LinkStage::ExpectHeader;
        l.last_rx = now;
        self.s2s_send_header(conn);
    }

    pub(crate) fn s2s_out_header(&mut self, conn: ConnId, h: StreamHeader) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if h.content_ns != ContentNamespace::Server {
            self.s2s_stream_error(conn, StreamCondition::InvalidNamespace);
            return;
        }
        l.dialback_offered = h.declaration("db") == Some(ns::DIALBACK);
        l.stream_id = h.id.unwrap_or_default();
        l.stage = LinkStage::Open;
    }

    pub(crate) fn s2s_out_element(&mut self, conn: ConnId, e: Element) {
        let Some(l) = self.s2s.links.get(&conn) else {
            return;
        };
        let stage = l.stage;
        match (stage, e.ns(), e.name()) {
            (LinkStage::Open, ns::STREAMS, "features") => self.s2s_out_features(conn, &e),
            (LinkStage::StartTlsSent, ns::TLS, "proceed") => {
                if let Some(l) = self.s2s.links.get_mut(&conn) {
                    l.stage = LinkStage::TlsHandshake;
                }
                self.emit(Event::StartTls { conn });
            }
            (LinkStage::AuthSent, ns::SASL, "success") => {
                let domain = l.remote.clone();
                self.emit(Event::S2sAuthenticated {
                    conn,
                    domain,
                    method: "EXTERNAL",
                });
                if let Some(l) = self.s2s.links.get_mut(&conn) {
                    l.sasl_done = true;
                    l.reader.reset();
                    l.header_sent = false;
                    l.stage = LinkStage::ExpectHeader;
                }
                self.s2s_send_header(conn);
            }
            (LinkStage::AuthSent, ns::SASL, "failure") => {
                if self.may_dialback(conn) {
                    self.s2s_out_dialback(conn);
                } else {
                    self.s2s_out_fail(conn);
                }
            }
            (LinkStage::DialbackSent, ns::DIALBACK, "result") => {
                if e.attribute("type") == Some("valid") {
                    let domain = l.remote.clone();
                    self.emit(Event::S2sAuthenticated {
                        conn,
                        domain,
                        method: "dialback",
                    });
                    self.s2s_ready(conn);
                } else {
                    self.s2s_out_fail(conn);
                }
            }
            (_, ns::DIALBACK, "verify") => self.s2s_out_verify_answer(conn, &e),
            (_, ns::STREAMS, "error") | (_, ns::TLS, "failure") => {
                self.transmit(conn, b"</stream:stream>");
                self.emit(Event::Close { conn });
                self.s2s_drop(conn, false, StanzaCondition::RemoteServerNotFound);
            }
            // XEP-0288: the peer's stanzas on our stream, once authenticated.
            (LinkStage::Ready, ns::SERVER, "message" | "presence" | "iq") if l.bidi => {
                self.s2s_inbound_stanza(conn, e)
            }
            (_, ns::SERVER, _) => self.s2s_stream_error(conn, StreamCondition::NotAuthorized),
            _ => self.s2s_stream_error(conn, StreamCondition::UnsupportedStanzaType),
        }
    }

    /// Whether this link may authenticate with dialback: offered, and the
    /// policy allows it or the certificate is valid anyway.
    fn may_dialback(&self, conn: ConnId) -> bool {
        self.s2s.links.get(&conn).is_some_and(|l| {
            l.dialback_offered
                && (self.config.s2s.policy(&l.remote) == S2sPolicy::AllowDialback
                    || names_cover(l.tls.as_ref(), &l.remote))
        })
    }

    fn s2s_out_features(&mut self, conn: ConnId, f: &Element) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if l.tls.is_none() {
            if f.find_child("starttls", ns::TLS).is_some() {
                l.stage = LinkStage::StartTlsSent;
                self.s2s_write(conn, &Element::new("starttls", ns::TLS));
            } else {
                // We never federate without TLS (RFC 7590).
                let domain = l.remote.clone();
                self.emit(Event::S2sAuthFailed { conn, domain });
                self.s2s_stream_error(conn, StreamCondition::PolicyViolation);
            }
            return;
        }
        l.can_verify = true;
        if f.find_child("dialback", NS_DIALBACK_FEATURE).is_some() {
            l.dialback_offered = true;
        }
        if l.sasl_done {
            self.s2s_send_verifies(conn);
            self.s2s_ready(conn);
            return;
        }
        let cert_ok = names_cover(l.tls.as_ref(), &l.remote);
        let policy = self.config.s2s.policy(&l.remote);
        let external = f.find_child("mechanisms", ns::SASL).is_some_and(|m| {
            m.children()
                .any(|c| c.name() == "mechanism" && c.text_content().trim() == "EXTERNAL")
        });
        if policy == S2sPolicy::RequireValidCertificates && !cert_ok {
            let domain = l.remote.clone();
            self.emit(Event::S2sAuthFailed { conn, domain });
            self.s2s_stream_error(conn, StreamCondition::PolicyViolation);
            return;
        }
        if self.config.s2s.bidi && f.find_child("bidi", NS_BIDI_FEATURE).is_some() {
            // XEP-0288 §2: asked for before authenticating.
            if let Some(l) = self.s2s.links.get_mut(&conn) {
                l.bidi = true;
            }
            self.s2s_write(conn, &Element::new("bidi", NS_BIDI));
        }
        self.s2s_send_verifies(conn);
        if external {
            let Some(l) = self.s2s.links.get_mut(&conn) else {
                return;
            };
            l.stage = LinkStage::AuthSent;
            let authzid = base64::engine::general_purpose::STANDARD.encode(l.local.as_bytes());
            let auth = Element::new("auth", ns::SASL)
                .attr("mechanism", "EXTERNAL")
                .text(authzid);
            self.s2s_write(conn, &auth);
        } else if self.may_dialback(conn) {
            self.s2s_out_dialback(conn);
        } else {
            self.s2s_out_fail(conn);
        }
    }

    /// XEP-0220 §2.1.1: send our key for the peer to verify.
    fn s2s_out_dialback(&mut self, conn: ConnId) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        l.stage = LinkStage::DialbackSent;
        let key = dialback::key(&self.secret, &l.remote, &l.local, &l.stream_id);
        let e = dialback::element("result", &l.local, &l.remote, None, None, Some(&key));
        self.s2s_write(conn, &e);
    }

    fn s2s_out_fail(&mut self, conn: ConnId) {
        if let Some(l) = self.s2s.links.get(&conn) {
            let domain = l.remote.clone();
            self.emit(Event::S2sAuthFailed { conn, domain });
        }
        self.s2s_stream_error(conn, StreamCondition::NotAuthorized);
    }

    /// Write the `<db:verify/>` questions not sent yet (XEP-0220 §2.1.2).
    pub(crate) fn s2s_send_verifies(&mut self, conn: ConnId) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if !l.can_verify {
            return;
        }
        let mut out = Vec::new();
        for v in l.verifies.iter_mut().filter(|v| !v.sent) {
            v.sent = true;
            out.push(dialback::element(
                "verify",
                &v.local,
                &v.remote,
                None,
                Some(&v.id),
                Some(&v.key),
            ));
        }
        for e in out {
            self.s2s_write(conn, &e);
        }
    }

    /// The authoritative server answered a `<db:verify/>`.
    fn s2s_out_verify_answer(&mut self, conn: ConnId, e: &Element) {
        let id = e.attribute("id").unwrap_or_default();
        let from = e.attribute("from").unwrap_or_default();
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        let Some(i) = l
            .verifies
            .iter()
            .position(|v| v.sent && v.id == id && v.remote == from)
        else {
            return;
        };
        let v = l.verifies.remove(i);
        let valid = e.attribute("type") == Some("valid");
        if valid {
            self.emit(Event::S2sAuthenticated {
                conn: v.in_conn,
                domain: v.remote.clone(),
                method: "dialback",
            });
        } else {
            self.emit(Event::S2sAuthFailed {
                conn: v.in_conn,
                domain: v.remote.clone(),
            });
        }
        self.s2s_verified(&v, valid);
        let in_conn = v.in_conn;
        self.arm_link(in_conn);
    }
}
