//! A world for scenario tests: the core on a virtual clock, an in-memory
//! storage playing the shell's part, and simulated clients that parse what
//! the server writes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rtc_xmlstream::{Element, Event as XmlEvent, Limits, StreamReader};
use xmppd::core::{
    AccountData, ArchivePage, ArchivedMessage, PepItem, PepNodeConfig, PushRegistration, MucArchivedMessage, StoredRoom, ConnId, CoreConfig, Event, Jid, Listener, OfflineMessage, Output, RequestId,
    RosterItem, Server, StorageAnswer, StorageError, StorageRequest, StoredCredentials, TlsInfo,
    VirtualHost,
};

use crate::scram_client::{Hash, ScramClient};

pub const DOMAIN: &str = "example.com";
pub const ITERATIONS: u32 = 64;
pub const CB_END_POINT: [u8; 32] = [0xE7; 32];
pub const CB_EXPORTER: [u8; 32] = [0x5A; 32];

pub fn header(to: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>"
    )
}

pub fn jid(s: &str) -> Jid {
    Jid::parse(s).unwrap()
}

/// One stored account.
#[derive(Default, Clone)]
pub struct Record {
    pub creds: StoredCredentials,
    pub roster: BTreeMap<Jid, RosterItem>,
    pub version: u64,
    pub blocklist: Vec<Jid>,
    pub offline: Vec<(u64, Element)>,
    pub vcard: Option<Element>,
    pub avatar: Option<String>,
    pub private: HashMap<(String, String), Element>,
    /// Message archive: (row, id, with, stored_at, message).
    pub archive: Vec<(u64, String, Jid, u64, Element)>,
    pub push: Vec<PushRegistration>,
    pub pep: BTreeMap<String, (PepNodeConfig, Vec<PepItem>)>,
}

/// The shell's storage, in memory.
#[derive(Default)]
pub struct Store {
    pub accounts: HashMap<Jid, Record>,
    next_key: u64,
    /// Make every write fail (to test error paths).
    pub fail_writes: bool,
    /// MUC rooms by bare room JID, and their archives.
    pub muc_rooms: BTreeMap<Jid, Element>,
    pub muc_archive: BTreeMap<Jid, Vec<MucArchivedMessage>>,
}

impl Store {
    pub fn add_user(&mut self, bare: &str, password: &str) {
        let creds = StoredCredentials::derive(password, b"salt-sha1", b"salt-sha256", ITERATIONS);
        self.accounts.insert(jid(bare), Record { creds, ..Record::default() });
    }

    pub fn record(&mut self, bare: &str) -> &mut Record {
        self.accounts.get_mut(&jid(bare)).expect("account exists")
    }

    pub fn item(&self, user: &str, contact: &str) -> Option<RosterItem> {
        self.accounts.get(&jid(user))?.roster.get(&jid(contact)).cloned()
    }

    fn answer(&mut self, req: StorageRequest) -> Result<StorageAnswer, StorageError> {
        use StorageRequest as R;
        let is_write = !matches!(
            req,
            R::LoadCredentials { .. } | R::LoadAccount { .. } | R::LoadOffline { .. } | R::LoadVcard { .. } | R::LoadPrivate { .. } | R::QueryArchive { .. } | R::PepItems { .. } | R::LoadMucRooms { .. }
        );
        if is_write && self.fail_writes {
            return Err(StorageError::Unavailable);
        }
        Ok(match req {
            R::LoadCredentials { user } => StorageAnswer::Credentials(self.accounts.get(&user).map(|r| r.creds.clone())),
            R::LoadAccount { user } => StorageAnswer::Account(self.accounts.get(&user).map(|r| AccountData {
                roster: r.roster.values().cloned().collect(),
                roster_version: r.version,
                blocklist: r.blocklist.clone(),
                offline_count: r.offline.len() as u32,
                avatar_hash: r.avatar.clone(),
                push: r.push.clone(),
                pep_nodes: r.pep.values().map(|(c, _)| c.clone()).collect(),
            })),
            R::SaveRosterItem { user, item, version } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.roster.insert(item.jid.clone(), item);
                r.version = version;
                StorageAnswer::Done
            }
            R::RemoveRosterItem { user, contact, version } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.roster.remove(&contact);
                r.version = version;
                StorageAnswer::Done
            }
            R::StoreOffline { user, message } => {
                self.next_key += 1;
                let key = self.next_key;
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.offline.push((key, message));
                StorageAnswer::Done
            }
            R::LoadOffline { user } => StorageAnswer::Offline(
                self.accounts.get(&user).map_or_else(Vec::new, |r| {
                    r.offline.iter().map(|(key, message)| OfflineMessage { key: *key, message: message.clone() }).collect()
                }),
            ),
            R::DeleteOffline { user, keys } => {
                if let Some(r) = self.accounts.get_mut(&user) {
                    r.offline.retain(|(k, _)| !keys.contains(k));
                }
                StorageAnswer::Done
            }
            R::LoadVcard { user } => StorageAnswer::Element(self.accounts.get(&user).and_then(|r| r.vcard.clone())),
            R::SaveVcard { user, vcard, avatar_hash } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.vcard = Some(vcard);
                r.avatar = avatar_hash;
                StorageAnswer::Done
            }
            R::LoadPrivate { user, name, ns } => StorageAnswer::Element(
                self.accounts.get(&user).and_then(|r| r.private.get(&(name, ns)).cloned()),
            ),
            R::SavePrivate { user, data } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.private.insert((data.name().to_owned(), data.ns().to_owned()), data);
                StorageAnswer::Done
            }
            R::SaveBlocklist { user, list } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.blocklist = list;
                StorageAnswer::Done
            }
            R::ArchiveMessage { user, id, with, stored_at, message, max_messages } => {
                self.next_key += 1;
                let row = self.next_key;
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.archive.push((row, id, with, stored_at, *message));
                while r.archive.len() > max_messages as usize {
                    r.archive.remove(0);
                }
                StorageAnswer::Done
            }
            R::QueryArchive { user, query } => {
                let Some(r) = self.accounts.get(&user) else {
                    return Ok(StorageAnswer::Archive(ArchivePage::default()));
                };
                let row_of = |id: &str| r.archive.iter().find(|m| m.1 == id).map(|m| m.0);
                let lo = match &query.after {
                    Some(id) => match row_of(id) { Some(x) => x, None => return Ok(StorageAnswer::NotFound) },
                    None => 0,
                };
                let hi = match &query.before {
                    Some(id) => match row_of(id) { Some(x) => x, None => return Ok(StorageAnswer::NotFound) },
                    None => u64::MAX,
                };
                let matching: Vec<_> = r
                    .archive
                    .iter()
                    .filter(|m| query.with.as_ref().is_none_or(|w| &m.2 == w))
                    .filter(|m| query.start.is_none_or(|s| m.3 >= s) && query.end.is_none_or(|e| m.3 <= e))
                    .collect();
                let mut window: Vec<_> = matching.iter().filter(|m| m.0 > lo && m.0 < hi).collect();
                let max = query.max as usize;
                let complete = window.len() <= max;
                if query.before.is_some() || query.last_page {
                    window = window.split_off(window.len().saturating_sub(max));
                } else {
                    window.truncate(max);
                }
                StorageAnswer::Archive(ArchivePage {
                    messages: window
                        .iter()
                        .map(|m| ArchivedMessage { id: m.1.clone(), stored_at: m.3, message: m.4.clone() })
                        .collect(),
                    count: matching.len() as u64,
                    complete,
                })
            }
            R::ExpireArchive { before, batch } => {
                let mut n = 0u64;
                for r in self.accounts.values_mut() {
                    while n < u64::from(batch) {
                        match r.archive.iter().position(|m| m.3 < before) {
                            Some(i) => {
                                r.archive.remove(i);
                                n += 1;
                            }
                            None => break,
                        }
                    }
                }
                StorageAnswer::Expired(n)
            }
            R::SavePush { user, registration, .. } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.push.retain(|p| p.service != registration.service || p.node != registration.node);
                r.push.push(*registration);
                StorageAnswer::Done
            }
            R::RemovePush { user, service, node } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                r.push.retain(|p| p.service != service || node.as_ref().is_some_and(|n| &p.node != n));
                StorageAnswer::Done
            }
            R::PepConfigure { user, config, .. } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                let entry = r.pep.entry(config.node.clone()).or_insert_with(|| ((*config).clone(), Vec::new()));
                entry.0 = *config;
                let keep = if entry.0.persist { entry.0.max_items as usize } else { 0 };
                let n = entry.1.len();
                entry.1.drain(..n.saturating_sub(keep));
                StorageAnswer::Done
            }
            R::PepPublish { user, node, item, max_items } => {
                let r = self.accounts.get_mut(&user).ok_or(StorageError::Unavailable)?;
                let entry = r.pep.get_mut(&node).ok_or(StorageError::Unavailable)?;
                entry.1.retain(|i| i.id != item.id);
                entry.1.push(*item);
                let n = entry.1.len();
                entry.1.drain(..n.saturating_sub(max_items as usize));
                StorageAnswer::Done
            }
            R::PepItems { user, node, max } => StorageAnswer::PepItems(
                self.accounts
                    .get(&user)
                    .and_then(|r| r.pep.get(&node))
                    .map(|(_, items)| items[items.len().saturating_sub(max as usize)..].to_vec())
                    .unwrap_or_default(),
            ),
            R::PepRetract { user, node, id } => {
                if let Some((_, items)) = self.accounts.get_mut(&user).and_then(|r| r.pep.get_mut(&node)) {
                    items.retain(|i| i.id != id);
                }
                StorageAnswer::Done
            }
            R::PepDeleteNode { user, node } => {
                if let Some(r) = self.accounts.get_mut(&user) {
                    r.pep.remove(&node);
                }
                StorageAnswer::Done
            }
            R::LoadMucRooms { service, archive } => StorageAnswer::MucRooms(
                self.muc_rooms
                    .iter()
                    .filter(|(j, _)| j.domain() == service.domain())
                    .map(|(j, state)| {
                        let all = self.muc_archive.get(j).cloned().unwrap_or_default();
                        let skip = all.len().saturating_sub(archive);
                        StoredRoom { name: j.node().unwrap().to_owned(), state: state.clone(), archive: all[skip..].to_vec() }
                    })
                    .collect(),
            ),
            R::SaveMucRoom { room, state } => {
                self.muc_rooms.insert(room, state);
                StorageAnswer::Done
            }
            R::DeleteMucRoom { room } => {
                self.muc_rooms.remove(&room);
                self.muc_archive.remove(&room);
                StorageAnswer::Done
            }
            R::ArchiveMucMessage { room, id, stamp, message, keep } => {
                let log = self.muc_archive.entry(room).or_default();
                log.push(MucArchivedMessage { id, stamp, message });
                let extra = log.len().saturating_sub(keep);
                log.drain(..extra);
                StorageAnswer::Done
            }
            _ => return Err(StorageError::Unavailable),
        })
    }
}

/// What a simulated client saw on its connection.
pub struct Client {
    reader: StreamReader,
    pub inbox: VecDeque<Element>,
    pub raw: Vec<u8>,
    pub closed: bool,
    pub starttls: bool,
    pub paused: bool,
}

impl Client {
    fn new() -> Self {
        let mut reader = StreamReader::new(Limits::default());
        reader.set_authenticated(true);
        Self { reader, inbox: VecDeque::new(), raw: Vec::new(), closed: false, starttls: false, paused: false }
    }

    /// Start parsing a new stream (after a TLS handshake or SASL success the peer itself drove).
    pub fn reset_reader(&mut self) {
        self.reader.reset();
    }

    fn feed(&mut self, data: &[u8]) {
        self.raw.extend_from_slice(data);
        self.reader.feed(data);
        while let Ok(Some(ev)) = self.reader.poll_event() {
            if let XmlEvent::Stanza(e) = ev {
                // A real client restarts its parser after these.
                let restart = e.name() == "success" || e.name() == "proceed";
                self.inbox.push_back(e);
                if restart {
                    self.reader.reset();
                }
            }
        }
    }
}

pub struct World {
    pub server: Server,
    pub now: Instant,
    pub store: Store,
    pub clients: HashMap<ConnId, Client>,
    /// Storage requests are answered at once unless this is set.
    pub hold_storage: bool,
    pub held: Vec<(RequestId, StorageRequest)>,
    pub events: Vec<Event>,
    next_port: u16,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(CoreConfig::default())
    }

    pub fn with_config(config: CoreConfig) -> Self {
        Self::with_config_and_store(config, Store::default())
    }

    /// A world whose storage starts with `store` (a restart).
    pub fn with_config_and_store(config: CoreConfig, store: Store) -> Self {
        let now = Instant::now();
        let hosts = [
            VirtualHost::new(DOMAIN),
            VirtualHost::new("example.net"),
            VirtualHost { domain: "disabled.example".into(), enabled: false },
        ];
        let server = Server::new(config, &hosts, [7; 32], now, Duration::from_secs(1_700_000_000));
        let mut w = Self { server, now, store, clients: HashMap::new(), hold_storage: false, held: Vec::new(), events: Vec::new(), next_port: 40000 };
        w.pump();
        w
    }

    /// Drain the core's output, answering storage as configured.
    pub fn pump(&mut self) {
        loop {
            let mut answers = Vec::new();
            loop {
                match self.server.poll_output() {
                    Output::Transmit(t) => {
                        if let Some(c) = self.clients.get_mut(&t.conn) {
                            c.feed(&t.data);
                        }
                    }
                    Output::Event(Event::Storage { id, request }) => {
                        if self.hold_storage {
                            self.held.push((id, request));
                        } else {
                            answers.push((id, request));
                        }
                    }
                    Output::Event(e) => {
                        match &e {
                            Event::Close { conn } => self.clients.get_mut(conn).map(|c| c.closed = true),
                            Event::StartTls { conn } => self.clients.get_mut(conn).map(|c| c.starttls = true),
                            Event::PauseReading { conn } => self.clients.get_mut(conn).map(|c| c.paused = true),
                            Event::ResumeReading { conn } => self.clients.get_mut(conn).map(|c| c.paused = false),
                            _ => None,
                        };
                        self.events.push(e);
                    }
                    Output::Timeout(_) => break,
                }
            }
            if answers.is_empty() {
                return;
            }
            for (id, request) in answers {
                let result = self.store.answer(request);
                self.server.handle_storage(id, result, self.now);
            }
        }
    }

    /// Answer the held storage requests now.
    pub fn release_storage(&mut self) {
        for (id, request) in std::mem::take(&mut self.held) {
            let result = self.store.answer(request);
            self.server.handle_storage(id, result, self.now);
        }
        self.pump();
    }

    pub fn connect_from(&mut self, ip: IpAddr, listener: Listener) -> Result<ConnId, xmppd::core::Refused> {
        self.next_port += 1;
        let conn = self.server.handle_connection_opened(SocketAddr::new(ip, self.next_port), listener, self.now)?;
        self.clients.insert(conn, Client::new());
        self.pump();
        Ok(conn)
    }

    /// Watch a connection the core opened itself (an outgoing s2s link).
    pub fn attach(&mut self, conn: ConnId) {
        self.clients.insert(conn, Client::new());
    }

    pub fn connect(&mut self) -> ConnId {
        self.connect_from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), Listener::Starttls).unwrap()
    }

    pub fn send(&mut self, conn: ConnId, xml: &str) {
        self.server.handle_bytes(conn, xml.as_bytes(), self.now);
        self.pump();
    }

    pub fn tls(&mut self, conn: ConnId, info: TlsInfo) {
        self.server.handle_tls_established(conn, info, self.now);
        self.pump();
    }

    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.server.handle_timeout(self.now);
        self.pump();
    }

    pub fn client(&mut self, conn: ConnId) -> &mut Client {
        self.clients.get_mut(&conn).expect("known connection")
    }

    /// Everything received since the last call.
    pub fn take(&mut self, conn: ConnId) -> Vec<Element> {
        self.client(conn).inbox.drain(..).collect()
    }

    /// The next received element, which must be `name`.
    pub fn expect(&mut self, conn: ConnId, name: &str) -> Element {
        let e = self.client(conn).inbox.pop_front().unwrap_or_else(|| panic!("expected <{name}/>, got nothing"));
        assert_eq!(e.name(), name, "expected <{name}/>, got {:?}", String::from_utf8_lossy(&e.to_bytes().unwrap()));
        e
    }

    /// Drain the inbox; it must hold an IQ result, whose id is returned.
    pub fn expect_result(&mut self, conn: ConnId) -> String {
        let all = self.take(conn);
        let result = all.iter().find(|e| e.name() == "iq" && e.attribute("type") == Some("result"));
        let result = result.unwrap_or_else(|| panic!("no IQ result in {:?}", all.iter().map(xml).collect::<Vec<_>>()));
        result.attribute("id").unwrap_or_default().to_owned()
    }

    pub fn cb_info() -> TlsInfo {
        TlsInfo { server_end_point: Some(CB_END_POINT.to_vec()), exporter: Some(CB_EXPORTER.to_vec()), ..TlsInfo::default() }
    }

    /// Connect, STARTTLS, open the encrypted stream; returns the features.
    pub fn secure_stream(&mut self) -> (ConnId, Element) {
        self.secure_stream_to(DOMAIN)
    }

    pub fn secure_stream_to(&mut self, domain: &str) -> (ConnId, Element) {
        let conn = self.connect();
        self.send(conn, &header(domain));
        let features = self.expect(conn, "features");
        assert!(features.find_child("starttls", rtc_xmlstream::ns::TLS).is_some());
        self.send(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        self.expect(conn, "proceed");
        assert!(self.client(conn).starttls);
        self.tls(conn, Self::cb_info());
        self.send(conn, &header(domain));
        let features = self.expect(conn, "features");
        (conn, features)
    }

    /// A SCRAM exchange; returns the final element (`success` or `failure`).
    pub fn scram(&mut self, conn: ConnId, mechanism: &str, mut client: ScramClient) -> Element {
        let first = B64.encode(client.first());
        self.send(conn, &format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{first}</auth>"));
        let challenge = self.client(conn).inbox.pop_front().expect("an answer to <auth/>");
        if challenge.name() != "challenge" {
            return challenge;
        }
        let server_first = String::from_utf8(B64.decode(challenge.text_content().as_bytes()).unwrap()).unwrap();
        let last = B64.encode(client.last(&server_first));
        self.send(conn, &format!("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{last}</response>"));
        let outcome = self.client(conn).inbox.pop_front().expect("an outcome");
        if outcome.name() == "success" {
            let v = String::from_utf8(B64.decode(outcome.text_content().as_bytes()).unwrap()).unwrap();
            assert!(client.verify(&v), "server signature verifies");
        }
        outcome
    }

    /// Full login: STARTTLS, SCRAM-SHA-256, bind. Returns the connection.
    pub fn login(&mut self, bare: &str, password: &str, resource: &str) -> ConnId {
        let domain = jid(bare).domain().to_owned();
        let (conn, _) = self.secure_stream_to(&domain);
        let node = jid(bare).node().unwrap().to_owned();
        let outcome = self.scram(conn, "SCRAM-SHA-256", ScramClient::new(Hash::Sha256, &node, password, "n", &[]));
        assert_eq!(outcome.name(), "success");
        self.bind_on(conn, &domain, resource);
        conn
    }

    pub fn bind(&mut self, conn: ConnId, resource: &str) -> Jid {
        self.bind_on(conn, DOMAIN, resource)
    }

    pub fn bind_on(&mut self, conn: ConnId, domain: &str, resource: &str) -> Jid {
        self.send(conn, &header(domain));
        self.expect(conn, "features");
        self.send(conn, &format!("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"));
        let result = self.expect(conn, "iq");
        assert_eq!(result.attribute("type"), Some("result"), "{:?}", String::from_utf8_lossy(&result.to_bytes().unwrap()));
        let text = result.children().next().unwrap().children().next().unwrap().text_content().into_owned();
        jid(&text)
    }

    /// Login, fetch the roster and send initial presence with `priority`.
    pub fn online(&mut self, bare: &str, resource: &str, priority: i8) -> ConnId {
        let conn = self.login(bare, "pw", resource);
        self.send(conn, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
        self.send(conn, &format!("<presence><priority>{priority}</priority></presence>"));
        conn
    }
}

/// The serialised form of an element, for `contains` checks.
pub fn xml(e: &Element) -> String {
    String::from_utf8(e.to_bytes().unwrap()).unwrap()
}

pub fn of_kind<'a>(all: &'a [Element], name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    all.iter().filter(move |e| e.name() == name)
}
