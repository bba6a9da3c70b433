//! Stream negotiation (RFC 6120 §4.3): stream headers, stream features,
//! STARTTLS (§5), and what is allowed before a resource is bound.

use rtc_xmlstream::{ns, ContentNamespace, Element, StreamHeader};

use crate::core::conn::Stage;
use crate::core::error::StreamCondition;
use crate::core::features::disco;
use crate::core::scram::ScramHash;
use crate::core::server::Server;
use crate::core::sm::NS_SM;
use crate::core::types::{ConnId, Event};

/// XEP-0440 channel-binding type advertisement.
pub(crate) const NS_SASL_CB: &str = "urn:xmpp:sasl-cb:0";
/// Legacy session establishment (RFC 3921 §3, kept optional per RFC 6121 Appendix E).
pub(crate) const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Roster versioning stream feature (RFC 6121 §2.6.1).
const NS_ROSTERVER: &str = "urn:xmpp:features:rosterver";
/// Subscription pre-approval stream feature (RFC 6121 §3.4.1).
const NS_PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
/// Client state indication stream feature (XEP-0352 §2).
const NS_CSI: &str = "urn:xmpp:csi:0";

/// A SASL mechanism this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// SCRAM-SHA-* (RFC 5802, RFC 7677), optionally with channel binding.
    Scram {
        /// The hash.
        hash: ScramHash,
        /// `-PLUS`: channel binding required.
        plus: bool,
    },
    /// PLAIN (RFC 4616), only over TLS.
    Plain,
}

impl Mechanism {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Scram { hash, plus } => hash.mechanism(plus),
            Self::Plain => "PLAIN",
        }
    }
}

impl Server {
    /// The mechanisms offered on `conn`, strongest first.
    pub(crate) fn mechanisms(&self, conn: ConnId) -> Vec<Mechanism> {
        let Some(c) = self.conns.get(&conn) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let has_cb = c
            .tls
            .as_ref()
            .is_some_and(|t| t.server_end_point.is_some() || t.exporter.is_some());
        for plus in [true, false] {
            if plus && !has_cb {
                continue;
            }
            for hash in [ScramHash::Sha256, ScramHash::Sha1] {
                out.push(Mechanism::Scram { hash, plus });
            }
        }
        if c.tls.is_some() && self.config.allow_plain {
            out.push(Mechanism::Plain);
        }
        out
    }

    /// Channel binding types available on `conn` (XEP-0440), with their data.
    pub(crate) fn channel_bindings(&self, conn: ConnId) -> Vec<(&'static str, Vec<u8>)> {
        let Some(tls) = self.conns.get(&conn).and_then(|c| c.tls.as_ref()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(d) = &tls.exporter {
            out.push(("tls-exporter", d.clone()));
        }
        if let Some(d) = &tls.server_end_point {
            out.push(("tls-server-end-point", d.clone()));
        }
        out
    }

    /// Write our stream header if it has not been written yet.
    pub(crate) fn ensure_header(&mut self, conn: ConnId) {
        let id = self.random_token(16);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.header_sent {
            return;
        }
        c.header_sent = true;
        let mut header = StreamHeader::new(ContentNamespace::Client);
        header.from = c.domain.clone();
        header.id = Some(id);
        header.lang = Some("en".into());
        let mut buf = Vec::new();
        if rtc_xmlstream::write_stream_open(&mut buf, &header).is_ok() {
            self.transmit(conn, &buf);
        }
    }

    /// The client's stream header (RFC 6120 §4.7): check it, answer with
    /// ours and the stream features.
    pub(crate) fn stream_open(&mut self, conn: ConnId, header: StreamHeader) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let to = header
            .to
            .as_deref()
            .and_then(|t| crate::core::jid::Jid::domain_only(t).ok())
            .map(|j| j.domain().to_owned());
        let hosted = to.as_ref().is_some_and(|d| self.hosts.contains(d));
        if hosted {
            c.domain = to.clone();
        }
        let problem = if header.content_ns != ContentNamespace::Client {
            Some(StreamCondition::InvalidNamespace)
        } else if !hosted {
            Some(StreamCondition::HostUnknown)
        } else if c.user.as_ref().is_some_and(|u| Some(u.domain()) != to.as_deref()) {
            // After SASL the stream must stay on the account's domain.
            Some(StreamCondition::HostUnknown)
        } else if header
            .version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|major| major.parse::<u32>().ok())
            .is_none_or(|major| major < 1)
        {
            Some(StreamCondition::UnsupportedVersion)
        } else {
            None
        };
        if let Some(condition) = problem {
            self.stream_error(conn, condition);
            return;
        }
        c.stage = Stage::Open;
        self.ensure_header(conn);
        let features = self.features(conn);
        self.write_element(conn, &features);
    }

    /// `<stream:features/>` for the connection's current state (RFC 6120 §4.3.2).
    fn features(&self, conn: ConnId) -> Element {
        let mut f = Element::new("features", ns::STREAMS);
        let Some(c) = self.conns.get(&conn) else {
            return f;
        };
        let tls = c.tls.is_some();
        if c.user.is_some() {
            f.push_child(Element::new("bind", ns::BIND));
            f.push_child(
                Element::new("session", NS_SESSION).child(Element::new("optional", NS_SESSION)),
            );
            f.push_child(Element::new("sm", NS_SM));
            f.push_child(Element::new("csi", NS_CSI));
            f.push_child(Element::new("ver", NS_ROSTERVER));
            f.push_child(Element::new("sub", NS_PRE_APPROVAL));
            f.push_child(disco::caps_element(&self.caps_ver));
            return f;
        }
        if !tls {
            let mut starttls = Element::new("starttls", ns::TLS);
            if self.config.require_encryption {
                starttls.push_child(Element::new("required", ns::TLS));
                f.push_child(starttls);
                return f;
            }
            f.push_child(starttls);
        }
        let mut mechs = Element::new("mechanisms", ns::SASL);
        for m in self.mechanisms(conn) {
            mechs.push_child(Element::new("mechanism", ns::SASL).text(m.name()));
        }
        f.push_child(mechs);
        let cbs = self.channel_bindings(conn);
        if !cbs.is_empty() {
            let mut adv = Element::new("sasl-channel-binding", NS_SASL_CB);
            for (kind, _) in cbs {
                adv.push_child(Element::new("channel-binding", NS_SASL_CB).attr("type", kind));
            }
            f.push_child(adv);
        }
        f
    }

    /// A top-level element before a resource is bound.
    pub(crate) fn negotiation_element(&mut self, conn: ConnId, e: Element) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let authenticated = c.user.is_some();
        match (e.ns(), e.name()) {
            (ns::TLS, "starttls") => self.starttls(conn),
            (ns::SASL, "auth") if !authenticated => self.sasl_auth(conn, &e),
            (ns::SASL, "response") if !authenticated => self.sasl_response(conn, &e),
            (ns::SASL, "abort") if !authenticated => self.sasl_abort(conn),
            (ns::CLIENT, "iq") if authenticated => self.bind_request(conn, e),
            (NS_SM, "resume") if authenticated => self.sm_resume(conn, &e),
            (NS_SM, "enable") if authenticated => {
                let failed = crate::core::sm::failed(crate::core::error::StanzaCondition::UnexpectedRequest);
                self.write_element(conn, &failed);
            }
            (ns::CLIENT, "message" | "presence" | "iq") | (ns::SASL, _) | (NS_SM, _) => {
                self.stream_error(conn, StreamCondition::NotAuthorized)
            }
            _ => self.stream_error(conn, StreamCondition::UnsupportedStanzaType),
        }
    }

    /// `<starttls/>` (RFC 6120 §5.4.2): proceed, or fail and close.
    fn starttls(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.tls.is_some() || c.user.is_some() || !matches!(c.stage, Stage::Open) {
            self.write_element(conn, &Element::new("failure", ns::TLS));
            self.transmit(conn, b"</stream:stream>");
            self.drop_conn(conn, false, true);
            return;
        }
        // Anything pipelined after <starttls/> arrived in plaintext and must
        // not be read as part of the encrypted stream (command injection).
        // Whitespace between elements (go-xmpp ends each with a newline)
        // carries nothing and is dropped.
        let injected = !is_xml_whitespace(&c.reader.take_unparsed());
        self.write_element(conn, &Element::new("proceed", ns::TLS));
        if injected {
            self.drop_conn(conn, false, true);
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stage = Stage::TlsHandshake;
        }
        self.emit(Event::StartTls { conn });
    }
}

/// Only XML whitespace (XML 1.0 §2.3 `S`): what may sit between elements.
pub(crate) fn is_xml_whitespace(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// `bytes` without its leading XML whitespace.
pub(crate) fn trim_xml_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    start.and_then(|i| bytes.get(i..)).unwrap_or_default()
}
