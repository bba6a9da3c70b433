//! Component domains: subdomains served by something other than the
//! accounts of a host (Prosody's `Component "conference.falcot.com" "muc"`).
//! The router hands every stanza addressed to a component domain to
//! [`Server::route_component`]; each [`ComponentKind`] decides what happens.
//!
//! - [`ComponentKind::Muc`]: the built-in multi-user chat service
//!   (`core::muc`), driven in-process.
//! - [`ComponentKind::External`]: an external component attached over the
//!   XEP-0114 accept protocol on a `component` listener; it authenticates
//!   with `<handshake>` (hex SHA-1 of the stream id and the shared secret)
//!   and may then send stanzas from its domain.
//!
//! New kinds (HTTP upload, ...) add a variant to [`ComponentKind`] and to
//! [`Component`], and an arm in [`Server::route_component`].

use rtc_xmlstream::{ns, ContentNamespace, Element, Node, StreamHeader};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::conn::Stage;
use super::error::{StanzaCondition, StanzaError, StreamCondition};
use super::jid::Jid;
use super::muc::{MucConfig, MucService};
use super::pending::Pending;
use super::server::Server;
use super::stanza;
use super::storage::{StorageAnswer, StorageError};
use super::types::ConnId;

/// Longest shared secret accepted, in bytes.
const MAX_SECRET: usize = 1024;

/// What serves a component domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComponentKind {
    /// Multi-user chat (XEP-0045), Prosody's `"muc"`.
    Muc,
    /// An external component over XEP-0114 (Prosody's `component_secret`).
    External,
}

/// One entry of `components:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// The component's domain, e.g. `conference.falcot.com`.
    pub domain: String,
    /// What serves it.
    pub kind: ComponentKind,
    /// `external`: the shared secret of the XEP-0114 handshake.
    #[serde(default)]
    pub secret: Option<String>,
    /// `muc`: limits and defaults of the service.
    #[serde(default)]
    pub muc: MucConfig,
}

impl ComponentConfig {
    /// Checks serde cannot do; the error is `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match Jid::domain_only(&self.domain) {
            Ok(j) if j.domain() == self.domain => {}
            _ => {
                return Err((
                    "domain",
                    format!("not a valid domain in normal form: {}", self.domain),
                ))
            }
        }
        match (self.kind, &self.secret) {
            (ComponentKind::External, None) => {
                Err(("secret", "an external component needs a secret".into()))
            }
            (ComponentKind::External, Some(s)) if s.is_empty() || s.len() > MAX_SECRET => {
                Err(("secret", format!("must be 1 to {MAX_SECRET} bytes")))
            }
            (ComponentKind::Muc, Some(_)) => {
                Err(("secret", "only external components have a secret".into()))
            }
            _ => Ok(()),
        }
    }
}

/// A component domain at run time.
#[derive(Debug)]
pub(crate) enum Component {
    /// The MUC service.
    Muc(Box<MucService>),
    /// An external component and its connection, once authenticated.
    External {
        secret: String,
        conn: Option<ConnId>,
    },
}

/// Where an XEP-0114 connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ComponentStage {
    /// Waiting for the stream header.
    ExpectHeader,
    /// Header answered; waiting for `<handshake>` (XEP-0114 §3).
    Handshake { domain: String, stream_id: String },
    /// Authenticated for `domain`.
    Ready { domain: String },
}

impl Server {
    /// Set up the configured components (at start and on reload); MUC
    /// services ask storage for their rooms.
    pub(crate) fn init_components(&mut self) {
        let admins: Vec<Jid> = self
            .config
            .admins
            .iter()
            .filter_map(|a| Jid::parse(a).ok())
            .collect();
        let configs = self.config.components.clone();
        self.components
            .retain(|d, _| configs.iter().any(|c| &c.domain == d));
        for c in configs {
            match (c.kind, self.components.get_mut(&c.domain)) {
                (ComponentKind::Muc, Some(Component::Muc(m))) => {
                    m.config = c.muc.clone();
                    m.admins.clone_from(&admins);
                }
                (ComponentKind::External, Some(Component::External { secret, .. })) => {
                    *secret = c.secret.clone().unwrap_or_default();
                }
                (ComponentKind::Muc, _) => {
                    let prefix = self.random_token(8);
                    let m =
                        MucService::new(c.domain.clone(), c.muc.clone(), admins.clone(), prefix);
                    if let Some(req) = m.load_request() {
                        self.request(
                            req,
                            Pending::MucRooms {
                                service: c.domain.clone(),
                            },
                        );
                    }
                    self.components
                        .insert(c.domain.clone(), Component::Muc(Box::new(m)));
                }
                (ComponentKind::External, _) => {
                    let secret = c.secret.clone().unwrap_or_default();
                    self.components
                        .insert(c.domain.clone(), Component::External { secret, conn: None });
                }
            }
        }
    }

    pub(crate) fn is_component_domain(&self, domain: &str) -> bool {
        self.components.contains_key(domain)
    }

    /// A stanza for a component domain (called by the router).
    pub(crate) fn route_component(&mut self, e: Element, to: &Jid) {
        let unix = self.clock.unix(self.now).as_secs();
        match self.components.get_mut(to.domain()) {
            Some(Component::Muc(m)) => {
                m.handle_stanza(e, unix);
                self.drain_muc(to.domain());
            }
            Some(Component::External {
                conn: Some(conn), ..
            }) => {
                let conn = *conn;
                self.write_component(conn, &e);
            }
            Some(Component::External { conn: None, .. }) | None => {
                self.bounce(&e, StanzaError::new(StanzaCondition::ServiceUnavailable));
            }
        }
    }

    /// The MUC service's rooms arrived.
    pub(crate) fn muc_rooms_loaded(
        &mut self,
        service: &str,
        result: Result<StorageAnswer, StorageError>,
    ) {
        let unix = self.clock.unix(self.now).as_secs();
        let rooms = match result {
            Ok(StorageAnswer::MucRooms(r)) => r,
            _ => Vec::new(),
        };
        if let Some(Component::Muc(m)) = self.components.get_mut(service) {
            m.handle_loaded(rooms, unix);
            self.drain_muc(service);
        }
    }

    /// Route what the MUC service produced and emit its storage requests.
    fn drain_muc(&mut self, domain: &str) {
        let Some(Component::Muc(m)) = self.components.get_mut(domain) else {
            return;
        };
        let out = std::mem::take(&mut m.out);
        let storage = std::mem::take(&mut m.storage);
        for r in storage {
            self.request(r, Pending::MucWrite);
        }
        for e in out {
            self.route_to_attr(e);
        }
    }

    /// Names of the hosted MUC services whose parent is `host` (for the
    /// host's disco#items).
    pub(crate) fn components_of(&self, host: &str) -> Vec<String> {
        let suffix = format!(".{host}");
        let mut v: Vec<String> = self
            .components
            .keys()
            .filter(|d| d.ends_with(&suffix))
            .cloned()
            .collect();
        v.sort();
        v
    }

    // --- XEP-0114 connections -------------------------------------------

    /// XEP-0114 §3: the component's stream header names its domain.
    pub(crate) fn component_stream_open(&mut self, conn: ConnId, header: StreamHeader) {
        let domain = header.to.clone().unwrap_or_default();
        let known = matches!(
            self.components.get(&domain),
            Some(Component::External { .. })
        );
        let stream_id = self.random_token(16);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut ours = StreamHeader::new(ContentNamespace::ComponentAccept);
        ours.from = Some(domain.clone());
        ours.id = Some(stream_id.clone());
        ours.version = None;
        let mut buf = Vec::new();
        if rtc_xmlstream::write_stream_open(&mut buf, &ours).is_ok() {
            c.header_sent = true;
            self.transmit(conn, &buf);
        }
        if header.content_ns != ContentNamespace::ComponentAccept {
            return self.stream_error(conn, StreamCondition::InvalidNamespace);
        }
        if !known {
            return self.stream_error(conn, StreamCondition::HostUnknown);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stage = Stage::Component(ComponentStage::Handshake { domain, stream_id });
        }
    }

    /// An element on an XEP-0114 stream.
    pub(crate) fn component_element(&mut self, conn: ConnId, e: Element) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let stage = match &c.stage {
            Stage::Component(s) => s.clone(),
            _ => return,
        };
        match stage {
            ComponentStage::Handshake { domain, stream_id } => {
                if !e.is("handshake", ns::COMPONENT_ACCEPT) {
                    return self.stream_error(conn, StreamCondition::NotAuthorized);
                }
                let Some(Component::External {
                    secret,
                    conn: attached,
                }) = self.components.get(&domain)
                else {
                    return self.stream_error(conn, StreamCondition::HostUnknown);
                };
                let expected = hex::encode(Sha1::digest(format!("{stream_id}{secret}").as_bytes()));
                let given = e.text_content().trim().to_ascii_lowercase();
                let ok: bool = expected.as_bytes().ct_eq(given.as_bytes()).into();
                if !ok {
                    return self.stream_error(conn, StreamCondition::NotAuthorized);
                }
                if attached.is_some() {
                    return self.stream_error(conn, StreamCondition::Conflict);
                }
                if let Some(Component::External { conn: attached, .. }) =
                    self.components.get_mut(&domain)
                {
                    *attached = Some(conn);
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.stage = Stage::Component(ComponentStage::Ready { domain });
                    c.reader.set_authenticated(true);
                    // Authenticated: the client byte rate no longer applies.
                    c.throttled_until = None;
                }
                self.transmit(conn, b"<handshake/>");
            }
            ComponentStage::Ready { domain } => {
                let mut e = rename_ns(e, ns::COMPONENT_ACCEPT, ns::CLIENT);
                if stanza::from_jid(&e).is_none_or(|f| f.domain() != domain) {
                    return self.stream_error(conn, StreamCondition::InvalidFrom);
                }
                let Some(to) = stanza::to_jid(&e) else {
                    return self.stream_error(conn, StreamCondition::ImproperAddressing);
                };
                e.set_attr("to", to.to_string());
                self.route(e, to, None);
            }
            ComponentStage::ExpectHeader => self.stream_error(conn, StreamCondition::NotAuthorized),
        }
    }

    /// An XEP-0114 connection went away: detach it from its domain.
    pub(crate) fn component_closed(&mut self, conn: ConnId) {
        for c in self.components.values_mut() {
            if let Component::External { conn: attached, .. } = c {
                if *attached == Some(conn) {
                    *attached = None;
                }
            }
        }
    }

    /// Write a stanza on an XEP-0114 stream, in its namespace.
    fn write_component(&mut self, conn: ConnId, e: &Element) {
        let e = rename_ns(e.clone(), ns::CLIENT, ns::COMPONENT_ACCEPT);
        let mut buf = Vec::new();
        if rtc_xmlstream::write_stanza(&mut buf, &e, ContentNamespace::ComponentAccept).is_ok() {
            self.transmit(conn, &buf);
        }
    }
}

/// The same tree with namespace `from` replaced by `to` (stanzas and their
/// `jabber:client` children such as `<body/>`).
fn rename_ns(e: Element, from: &str, to: &str) -> Element {
    let ns_of = if e.ns() == from {
        to.to_owned()
    } else {
        e.ns().to_owned()
    };
    let mut out = Element::new(e.name(), ns_of);
    for a in e.attributes() {
        if a.ns.is_empty() {
            out.set_attr(a.name.as_str(), a.value.as_str());
        } else {
            out.set_attr_ns(a.ns.as_str(), a.name.as_str(), a.value.as_str());
        }
    }
    for n in e.into_nodes() {
        match n {
            Node::Element(c) => out.push_child(rename_ns(c, from, to)),
            Node::Text(t) => out.push_text(&t),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_change_namespace_with_their_children() {
        let e = Element::new("message", ns::COMPONENT_ACCEPT)
            .attr("to", "a@b")
            .child(Element::new("body", ns::COMPONENT_ACCEPT).text("hi"))
            .child(Element::new("x", "urn:other"));
        let c = rename_ns(e, ns::COMPONENT_ACCEPT, ns::CLIENT);
        assert!(c.is("message", ns::CLIENT));
        assert_eq!(c.child_text("body", ns::CLIENT).as_deref(), Some("hi"));
        assert!(c.find_child("x", "urn:other").is_some());
        assert_eq!(c.attribute("to"), Some("a@b"));
    }

    #[test]
    fn external_components_need_a_secret() {
        let mut c = ComponentConfig {
            domain: "bot.example.com".into(),
            kind: ComponentKind::External,
            secret: None,
            muc: MucConfig::default(),
        };
        assert!(c.check().is_err());
        c.secret = Some("s3cret".into());
        assert!(c.check().is_ok());
        c.domain = "Bad Domain".into();
        assert!(c.check().is_err());
    }
}
