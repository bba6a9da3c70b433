//! Server-to-server federation (RFC 6120 over `jabber:server`): incoming
//! and outgoing streams with STARTTLS or direct TLS (XEP-0368),
//! authenticated by SASL EXTERNAL with PKIX certificates (XEP-0178) or by
//! dialback (XEP-0220) where the domain's policy allows it.
//!
//! Sans-IO like the rest of the core. For a stanza to another domain the
//! core queues it (bounded) and emits [`Event::ConnectS2s`]; the shell
//! resolves the domain (static route, `_xmpps-server._tcp`,
//! `_xmpp-server._tcp`, A/AAAA), connects, runs TLS when told, and feeds
//! bytes back as for clients. The shell validates certificates (PKIX, with
//! serverAuth EKU even for the peer's client certificate) and reports the
//! validated names in [`TlsInfo::peer_names`]; the core matches them
//! against domains and applies the policy.
//!
//! One outgoing stream per (local domain, remote domain) carries our
//! stanzas; incoming streams carry theirs. Undeliverable stanzas are
//! bounced with `<remote-server-not-found/>` (no route, refused, failed)
//! or `<remote-server-timeout/>` (not up within the connect timeout).

pub mod config;
pub(crate) mod dialback;

/// XEP-0288 §2: the stream feature advertising bidirectional streams.
pub(crate) const NS_BIDI_FEATURE: &str = "urn:xmpp:features:bidi";
/// XEP-0288 §2: the element requesting them.
pub(crate) const NS_BIDI: &str = "urn:xmpp:bidi";
mod incoming;
mod outgoing;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rtc_xmlstream::{ns, ContentNamespace, Element, Node, StreamHeader, StreamReader};

use super::conn::ByteBudget;
use super::error::{StanzaCondition, StanzaError, StreamCondition};
use super::jid::Jid;
use super::server::{Server, TimerKey};
use super::stanza::{self, Kind};
use super::types::{ConnId, Event, TlsInfo};

/// Which side opened the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// A remote server connected to us (RFC 6120 §4.1 "receiving entity").
    In,
    /// We connected to a remote server ("initiating entity").
    Out,
}

/// Where a server stream is in negotiation (RFC 6120 §4.3, §5, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkStage {
    /// Outgoing: the shell is resolving and connecting.
    Connecting,
    /// The shell runs a TLS handshake (after `<proceed/>`).
    TlsHandshake,
    /// Waiting for the peer's stream header (RFC 6120 §4.2).
    ExpectHeader,
    /// Header exchanged: incoming sent its features, outgoing waits for them (§4.3.2).
    Open,
    /// Outgoing: `<starttls/>` sent (RFC 6120 §5.4.2.1).
    StartTlsSent,
    /// Outgoing: SASL EXTERNAL `<auth/>` sent (XEP-0178 §2).
    AuthSent,
    /// Outgoing: `<db:result/>` sent (XEP-0220 §2.1.1).
    DialbackSent,
    /// Outgoing: authenticated; stanzas flow.
    Ready,
}

/// A dialback verification asked of an authoritative server (XEP-0220 §2.1.2).
#[derive(Debug, Clone)]
pub(crate) struct Verify {
    /// The incoming stream whose `<db:result/>` it answers.
    pub(crate) in_conn: ConnId,
    /// Our domain (the receiving server).
    pub(crate) local: String,
    /// The domain that claims the stream (the originating server).
    pub(crate) remote: String,
    /// Our stream id on `in_conn`.
    pub(crate) id: String,
    /// The key it sent.
    pub(crate) key: String,
    /// `<db:verify/>` written on the outgoing stream.
    pub(crate) sent: bool,
}

/// One server-to-server TCP connection.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) dir: Direction,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) reader: StreamReader,
    pub(crate) stage: LinkStage,
    pub(crate) tls: Option<TlsInfo>,
    /// Our domain on this stream.
    pub(crate) local: String,
    /// Outgoing: the domain we connect to. Incoming: the header's `from`, if any.
    pub(crate) remote: String,
    /// Incoming: our stream id. Outgoing: the peer's.
    pub(crate) stream_id: String,
    pub(crate) header_sent: bool,
    /// SASL EXTERNAL succeeded (features after the restart carry no auth).
    pub(crate) sasl_done: bool,
    /// Outgoing: the peer offered dialback (XEP-0220 §2.1).
    pub(crate) dialback_offered: bool,
    /// Incoming: remote domains authenticated on this stream.
    pub(crate) authed: HashSet<String>,
    /// Outgoing: dialback verifications to send or awaiting an answer.
    pub(crate) verifies: Vec<Verify>,
    /// Outgoing: TLS is up and features were seen, so `<db:verify/>` may be sent.
    pub(crate) can_verify: bool,
    /// Bidirectional (XEP-0288): once authenticated, the stream carries
    /// stanzas both ways.
    pub(crate) bidi: bool,
    /// Incoming: `<db:result/>` requests awaiting verification (each may
    /// open a connection, so they are bounded).
    pub(crate) pending_db: usize,
    budget: ByteBudget,
    pub(crate) throttled_until: Option<Instant>,
    pub(crate) read_paused: bool,
    pub(crate) opened: Instant,
    pub(crate) last_rx: Instant,
    armed: Option<Instant>,
}

impl Link {
    /// Whether our stanzas may be written on it now: an authenticated
    /// outgoing stream, or an incoming one made bidirectional (XEP-0288).
    pub(crate) fn usable(&self) -> bool {
        match self.dir {
            Direction::Out => self.stage == LinkStage::Ready,
            Direction::In => self.bidi && self.authed.contains(&self.remote),
        }
    }
}

/// Stanzas waiting for the outgoing stream of one (local, remote) pair.
#[derive(Debug, Default)]
pub(crate) struct Route {
    pub(crate) conn: Option<ConnId>,
    pub(crate) queue: VecDeque<Element>,
    pub(crate) bytes: usize,
}

/// All federation state of the core.
#[derive(Debug, Default)]
pub(crate) struct S2s {
    pub(crate) links: HashMap<ConnId, Link>,
    pub(crate) routes: HashMap<(String, String), Route>,
}

/// `e` with every element in namespace `from` moved to `to` (the stanza
/// namespaces `jabber:client` and `jabber:server`, RFC 6120 §4.8.3).
pub(crate) fn rename_ns(e: Element, from: &str, to: &str) -> Element {
    let mut out = Element::new(
        e.name().to_owned(),
        if e.ns() == from { to } else { e.ns() }.to_owned(),
    );
    for a in e.attributes() {
        if a.ns.is_empty() {
            out.set_attr(a.name.clone(), a.value.clone());
        } else {
            out.set_attr_ns(a.ns.clone(), a.name.clone(), a.value.clone());
        }
    }
    for node in e.into_nodes() {
        match node {
            Node::Element(child) => out.push_child(rename_ns(child, from, to)),
            Node::Text(t) => out.push_text(&t),
        }
    }
    out
}

/// Whether a certificate name list covers `domain` (RFC 6125 §6.4, wildcards included).
pub(crate) fn names_cover(tls: Option<&TlsInfo>, domain: &str) -> bool {
    tls.and_then(|t| t.peer_names.as_ref())
        .is_some_and(|names| names.iter().any(|n| rtc_tls::names::matches(n, domain)))
}

impl Server {
    pub(crate) fn new_link(
        &mut self,
        dir: Direction,
        peer: Option<SocketAddr>,
        local: &str,
        remote: &str,
    ) -> ConnId {
        let id = ConnId(self.fresh_id());
        let now = self.now;
        let rate = f64::from(self.config.s2s.bytes_per_second);
        let link = Link {
            dir,
            peer,
            reader: StreamReader::new(self.config.stream),
            stage: match dir {
                Direction::In => LinkStage::ExpectHeader,
                Direction::Out => LinkStage::Connecting,
            },
            tls: None,
            local: local.to_owned(),
            remote: remote.to_owned(),
            stream_id: String::new(),
            header_sent: false,
            sasl_done: false,
            dialback_offered: false,
            authed: HashSet::new(),
            verifies: Vec::new(),
            can_verify: false,
            bidi: false,
            pending_db: 0,
            budget: ByteBudget::new(rate * 2.0, now),
            throttled_until: None,
            read_paused: false,
            opened: now,
            last_rx: now,
            armed: None,
        };
        self.s2s.links.insert(id, link);
        self.arm_link(id);
        id
    }

    /// Bytes from a server stream.
    pub(crate) fn s2s_bytes(&mut self, conn: ConnId, data: &[u8]) {
        let now = self.now;
        let rate = f64::from(self.config.s2s.bytes_per_second);
        let max_buffer = self.config.stream.max_stanza_bytes.saturating_mul(2);
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if matches!(l.stage, LinkStage::TlsHandshake | LinkStage::Connecting) {
            self.s2s_drop(conn, true, StanzaCondition::RemoteServerNotFound);
            return;
        }
        l.last_rx = now;
        if let Some(resume) = l.budget.consume(data.len(), rate, rate * 2.0, now) {
            l.throttled_until = Some(resume);
        }
        l.reader.feed(data);
        if l.reader.buffered_len() > max_buffer {
            self.s2s_stream_error(conn, StreamCondition::PolicyViolation);
            return;
        }
        self.s2s_process(conn);
        self.s2s_read_state(conn);
        self.arm_link(conn);
    }

    fn s2s_process(&mut self, conn: ConnId) {
        use rtc_xmlstream::Event as X;
        loop {
            let Some(l) = self.s2s.links.get_mut(&conn) else {
                return;
            };
            if matches!(l.stage, LinkStage::TlsHandshake) {
                return;
            }
            let dir = l.dir;
            match l.reader.poll_event() {
                Ok(None) => return,
                Ok(Some(X::Keepalive)) => {}
                Ok(Some(X::StreamOpen(h))) => match dir {
                    Direction::In => self.s2s_in_header(conn, h),
                    Direction::Out => self.s2s_out_header(conn, h),
                },
                Ok(Some(X::Stanza(e))) => match dir {
                    Direction::In => self.s2s_in_element(conn, e),
                    Direction::Out => self.s2s_out_element(conn, e),
                },
                Ok(Some(X::StreamClose)) => {
                    self.transmit(conn, b"</stream:stream>");
                    self.emit(Event::Close { conn });
                    self.s2s_drop(conn, false, StanzaCondition::RemoteServerNotFound);
                    return;
                }
                Err(e) => {
                    self.s2s_stream_error(conn, StreamCondition::from_reader(e.condition()));
                    return;
                }
            }
        }
    }

    /// TLS finished on a server stream.
    pub(crate) fn s2s_tls(&mut self, conn: ConnId, info: TlsInfo) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        l.tls = Some(info);
        if l.stage == LinkStage::TlsHandshake {
            l.reader.reset();
            l.header_sent = false;
            l.stage = LinkStage::ExpectHeader;
            if l.dir == Direction::Out {
                self.s2s_send_header(conn);
            }
        }
    }

    /// Write our stream header (RFC 6120 §4.7) once per stream.
    pub(crate) fn s2s_send_header(&mut self, conn: ConnId) {
        let id = self.random_token(16);
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if l.header_sent {
            return;
        }
        l.header_sent = true;
        let mut h = StreamHeader::new(ContentNamespace::Server);
        h.from = (!l.local.is_empty()).then(|| l.local.clone());
        h.to = (!l.remote.is_empty()).then(|| l.remote.clone());
        if l.dir == Direction::In {
            l.stream_id = id.clone();
            h.id = Some(id);
        }
        h.declarations.push(("db".into(), ns::DIALBACK.into()));
        let mut buf = Vec::new();
        if rtc_xmlstream::write_stream_open(&mut buf, &h).is_ok() {
            self.transmit(conn, &buf);
        }
    }

    /// Serialise an element onto a server stream; stanzas move to `jabber:server`.
    pub(crate) fn s2s_write(&mut self, conn: ConnId, e: &Element) {
        let e = if e.ns() == ns::CLIENT {
            rename_ns(e.clone(), ns::CLIENT, ns::SERVER)
        } else {
            e.clone()
        };
        let mut buf = Vec::new();
        if rtc_xmlstream::write_stanza(&mut buf, &e, ContentNamespace::Server).is_ok() {
            self.transmit(conn, &buf);
        }
    }

    /// `<stream:error>`, close, forget (RFC 6120 §4.9).
    pub(crate) fn s2s_stream_error(&mut self, conn: ConnId, condition: StreamCondition) {
        if !self.s2s.links.contains_key(&conn) {
            return;
        }
        self.s2s_send_header(conn);
        self.s2s_write(conn, &condition.to_element());
        self.transmit(conn, b"</stream:stream>");
        self.emit(Event::Close { conn });
        let bounce = if condition == StreamCondition::ConnectionTimeout {
            StanzaCondition::RemoteServerTimeout
        } else {
            StanzaCondition::RemoteServerNotFound
        };
        self.s2s_drop(conn, false, bounce);
    }

    /// Forget a link. An outgoing one takes its route's queue with it
    /// (bounced with `bounce`) and fails its pending verifications.
    pub(crate) fn s2s_drop(&mut self, conn: ConnId, close: bool, bounce: StanzaCondition) {
        let Some(l) = self.s2s.links.remove(&conn) else {
            return;
        };
        if close {
            self.emit(Event::Close { conn });
        }
        if let Some(ip) = l.peer.filter(|_| l.dir == Direction::In).map(|p| p.ip()) {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
        for v in l.verifies {
            self.s2s_verified(&v, false);
        }
        {
            let key = (l.local.clone(), l.remote.clone());
            let queued = match self.s2s.routes.get_mut(&key) {
                Some(r) if r.conn == Some(conn) => {
                    r.conn = None;
                    r.bytes = 0;
                    std::mem::take(&mut r.queue)
                }
                _ => VecDeque::new(),
            };
            if self
                .s2s
                .routes
                .get(&key)
                .is_some_and(|r| r.conn.is_none() && r.queue.is_empty())
            {
                self.s2s.routes.remove(&key);
            }
            for e in queued {
                self.bounce(&e, StanzaError::new(bounce));
            }
        }
    }

    /// A stanza from a local entity to another domain (RFC 6120 §10.4).
    pub(crate) fn s2s_route(&mut self, e: Element, to: Jid) {
        let Some(from) = stanza::from_jid(&e) else {
            return;
        };
        let local = from.domain().to_owned();
        let remote = to.domain().to_owned();
        if !self.config.s2s.enabled || !self.is_local_domain(&local) {
            self.bounce(&e, StanzaError::new(StanzaCondition::RemoteServerNotFound));
            return;
        }
        let key = (local.clone(), remote.clone());
        let conn = self.s2s.routes.get(&key).and_then(|r| r.conn);
        if let Some(c) = conn.filter(|c| self.s2s.links.get(c).is_some_and(Link::usable)) {
            self.s2s_write(c, &e);
            return;
        }
        let size = e.to_bytes().map(|b| b.len()).unwrap_or(usize::MAX);
        let (max_n, max_b) = (
            self.config.s2s.max_queued_stanzas,
            self.config.s2s.max_queued_bytes,
        );
        let route = self.s2s.routes.entry(key).or_default();
        if route.queue.len() >= max_n || route.bytes.saturating_add(size) > max_b {
            self.bounce(&e, StanzaError::new(StanzaCondition::ResourceConstraint));
            return;
        }
        route.bytes += size;
        route.queue.push_back(e);
        if conn.is_none() {
            self.s2s_connect(&local, &remote);
        }
    }

    /// An outgoing link to ask `remote`'s authoritative server a dialback
    /// question: the route's if it is outgoing, else a new one.
    pub(crate) fn s2s_verify_link(&mut self, local: &str, remote: &str) -> ConnId {
        let key = (local.to_owned(), remote.to_owned());
        let existing = self.s2s.routes.get(&key).and_then(|r| r.conn);
        match existing {
            Some(c)
                if self
                    .s2s
                    .links
                    .get(&c)
                    .is_some_and(|l| l.dir == Direction::Out) =>
            {
                c
            }
            Some(_) => {
                let conn = self.new_link(Direction::Out, None, local, remote);
                self.emit(Event::ConnectS2s {
                    conn,
                    local: local.to_owned(),
                    remote: remote.to_owned(),
                });
                conn
            }
            None => self.s2s_connect(local, remote),
        }
    }

    /// An incoming link authenticated `remote`: with XEP-0288 it also
    /// carries our stanzas to it, unless an outgoing link already does.
    pub(crate) fn s2s_bidi_up(&mut self, conn: ConnId, remote: &str) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if !l.bidi || l.dir != Direction::In || l.remote != remote {
            return;
        }
        let key = (l.local.clone(), l.remote.clone());
        let route = self.s2s.routes.entry(key).or_default();
        if route.conn.is_none() {
            route.conn = Some(conn);
            self.s2s_ready(conn);
        }
    }

    /// The outgoing link of (local, remote), opened if there is none.
    pub(crate) fn s2s_connect(&mut self, local: &str, remote: &str) -> ConnId {
        let key = (local.to_owned(), remote.to_owned());
        if let Some(c) = self.s2s.routes.get(&key).and_then(|r| r.conn) {
            return c;
        }
        let conn = self.new_link(Direction::Out, None, local, remote);
        self.s2s.routes.entry(key).or_default().conn = Some(conn);
        self.emit(Event::ConnectS2s {
            conn,
            local: local.to_owned(),
            remote: remote.to_owned(),
        });
        conn
    }

    /// The outgoing link is authenticated: send what waited.
    pub(crate) fn s2s_ready(&mut self, conn: ConnId) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        if l.dir == Direction::Out {
            l.stage = LinkStage::Ready;
        }
        l.reader.set_authenticated(true);
        if l.bidi {
            // XEP-0288 §3: the peer's stanzas come back on this stream.
            l.authed.insert(l.remote.clone());
        }
        let key = (l.local.clone(), l.remote.clone());
        let queued = match self.s2s.routes.get_mut(&key) {
            Some(r) => {
                r.bytes = 0;
                std::mem::take(&mut r.queue)
            }
            None => VecDeque::new(),
        };
        for e in queued {
            self.s2s_write(conn, &e);
        }
        self.arm_link(conn);
    }

    /// A verification was answered (or failed): tell the incoming stream (XEP-0220 §2.1.3).
    pub(crate) fn s2s_verified(&mut self, v: &Verify, valid: bool) {
        let Some(l) = self.s2s.links.get_mut(&v.in_conn) else {
            return;
        };
        if l.stream_id != v.id {
            return;
        }
        l.pending_db = l.pending_db.saturating_sub(1);
        if valid {
            l.authed.insert(v.remote.clone());
            l.reader.set_authenticated(true);
        }
        let kind = if valid { "valid" } else { "invalid" };
        let reply = dialback::element("result", &v.local, &v.remote, Some(kind), None, None);
        self.s2s_write(v.in_conn, &reply);
        if valid {
            self.s2s_bidi_up(v.in_conn, &v.remote);
        }
    }

    /// A stanza from an authenticated incoming stream.
    pub(crate) fn s2s_inbound_stanza(&mut self, conn: ConnId, e: Element) {
        let Some(l) = self.s2s.links.get(&conn) else {
            return;
        };
        let from = stanza::from_jid(&e);
        let to = stanza::to_jid(&e);
        let (Some(from), Some(to)) = (from, to) else {
            self.s2s_stream_error(conn, StreamCondition::ImproperAddressing);
            return;
        };
        if !l.authed.contains(from.domain()) {
            self.s2s_stream_error(conn, StreamCondition::InvalidFrom);
            return;
        }
        if !self.is_local_domain(to.domain()) {
            self.s2s_stream_error(conn, StreamCondition::HostUnknown);
            return;
        }
        let e = rename_ns(e, ns::SERVER, ns::CLIENT);
        if Kind::of(&e).is_some() {
            self.route(e, to, None);
        }
    }

    fn s2s_read_state(&mut self, conn: ConnId) {
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        let pause = l.throttled_until.is_some();
        if pause != l.read_paused {
            l.read_paused = pause;
            self.emit(if pause {
                Event::PauseReading { conn }
            } else {
                Event::ResumeReading { conn }
            });
        }
    }

    fn link_deadline(&self, l: &Link) -> Instant {
        let c = &self.config.s2s;
        let up = match l.dir {
            Direction::Out => l.stage == LinkStage::Ready,
            Direction::In => !l.authed.is_empty(),
        };
        let own = if up {
            l.last_rx + c.idle_timeout()
        } else {
            l.opened + c.connect_timeout()
        };
        l.throttled_until.map_or(own, |u| u.min(own))
    }

    pub(crate) fn arm_link(&mut self, conn: ConnId) {
        let Some(l) = self.s2s.links.get(&conn) else {
            return;
        };
        let at = self.link_deadline(l);
        let now = self.now;
        if l.armed.is_none_or(|a| at < a || a <= now) {
            if let Some(l) = self.s2s.links.get_mut(&conn) {
                l.armed = Some(at);
            }
            self.arm(at, TimerKey::Link(conn));
        }
    }

    /// Timers of a link: connect/negotiation timeout, idle close, throttling.
    pub(crate) fn link_timeout(&mut self, conn: ConnId) {
        let now = self.now;
        let Some(l) = self.s2s.links.get_mut(&conn) else {
            return;
        };
        l.armed = None;
        if l.throttled_until.is_some_and(|u| u <= now) {
            l.throttled_until = None;
        }
        let c = &self.config.s2s;
        let up = match l.dir {
            Direction::Out => l.stage == LinkStage::Ready,
            Direction::In => !l.authed.is_empty(),
        };
        if !up && now >= l.opened + c.connect_timeout() {
            self.s2s_stream_error(conn, StreamCondition::ConnectionTimeout);
            return;
        }
        if up && now >= l.last_rx + c.idle_timeout() {
            self.transmit(conn, b"</stream:stream>");
            self.emit(Event::Close { conn });
            self.s2s_drop(conn, false, StanzaCondition::RemoteServerTimeout);
            return;
        }
        self.s2s_read_state(conn);
        self.arm_link(conn);
    }

    /// SIGTERM: close every server stream with `<system-shutdown/>`.
    pub(crate) fn s2s_shutdown(&mut self) {
        let all: Vec<ConnId> = self.s2s.links.keys().copied().collect();
        for conn in all {
            self.s2s_stream_error(conn, StreamCondition::SystemShutdown);
        }
    }

    /// Number of server-to-server streams.
    pub fn s2s_connection_count(&self) -> usize {
        self.s2s.links.len()
    }
}
