//! A virtual clock, a scripted shell and a tiny TURN client for scenario tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_stun::attr::{
    Attribute, ErrorCode, Nonce, PasswordAlgorithm as PaAttr, PasswordAlgorithms, Realm, RequestedTransport,
    Username, XorPeerAddress,
};
use rtc_stun::{Class, Message, MessageEncoder, MessageType, Method, TransactionId};

use crate::core::{
    BindFailure, CoreConfig, Event, FiveTuple, Forward, KeyAnswer, KeyQuery, Output, RelayAddr,
    RelayBinding, RelayProtocol, Server, Shared, Transmit, Transport, UserKeys, PEER_DATA_HEADROOM,
    PEER_DATA_TAILROOM,
};

pub const REALM: &str = "example.org";
/// Unix time at the harness's t0.
pub const UNIX_T0: u64 = 1_700_000_000;

pub type Body = dyn Fn(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub fn config() -> CoreConfig {
    CoreConfig { realm: REALM.to_owned(), ..CoreConfig::default() }
}

/// The decoded view of a response the server sent.
#[derive(Debug, Clone)]
pub struct Resp {
    pub transmit: Transmit,
}

impl Resp {
    pub fn msg(&self) -> Message<'_> {
        Message::parse(&self.transmit.contents).unwrap_or_else(|e| panic!("server sent garbage: {e}"))
    }

    pub fn class(&self) -> Class {
        self.msg().class()
    }

    pub fn is_success(&self) -> bool {
        self.class() == Class::Success
    }

    /// The ERROR-CODE, if an error response.
    pub fn code(&self) -> Option<u16> {
        self.msg().attr::<ErrorCode>().ok().flatten().map(|e| e.code())
    }

    pub fn attr<'a, A: Attribute<'a>>(&'a self) -> Option<A> {
        Message::parse(&self.transmit.contents).ok()?.attr::<A>().ok().flatten()
    }

    pub fn all<'a, A: Attribute<'a>>(&'a self) -> Vec<A> {
        let Ok(m) = Message::parse(&self.transmit.contents) else { return Vec::new() };
        let tid = m.transaction_id();
        m.attributes().filter(|a| a.attr_type == A::TYPE).filter_map(|a| A::decode(a.value, &tid).ok()).collect()
    }
}

/// Which integrity attribute a test client signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mi {
    Sha1,
    Sha256,
}

/// A scripted TURN client.
#[derive(Debug, Clone)]
pub struct Client {
    pub tuple: FiveTuple,
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub mi: Mi,
    /// Send PASSWORD-ALGORITHMS/PASSWORD-ALGORITHM choosing SHA-256 (RFC 8489 §9.2.4).
    pub sha256_password: bool,
    pub fingerprint: bool,
    next_tid: u32,
}

impl Client {
    pub fn udp(client: &str, user: &str, password: &str) -> Self {
        Self::on(Transport::Udp, client, user, password)
    }

    pub fn on(transport: Transport, client: &str, user: &str, password: &str) -> Self {
        Self {
            tuple: FiveTuple { transport, client: addr(client), server: addr("192.0.2.1:3478") },
            username: user.to_owned(),
            password: password.to_owned(),
            realm: None,
            nonce: None,
            mi: Mi::Sha1,
            sha256_password: false,
            fingerprint: true,
            next_tid: 0,
        }
    }

    pub fn tid(&mut self) -> TransactionId {
        self.next_tid += 1;
        let mut b = [0x5a; 12];
        let ip = match self.tuple.client.ip() {
            std::net::IpAddr::V4(v) => v.octets()[3],
            std::net::IpAddr::V6(v) => v.octets()[15],
        };
        b[0] = ip;
        b[1..3].copy_from_slice(&self.tuple.client.port().to_be_bytes());
        b[8..12].copy_from_slice(&self.next_tid.to_be_bytes());
        TransactionId::new(b)
    }

    /// Encode a request; signed when the client has learned a nonce.
    pub fn build(&self, method: Method, tid: TransactionId, body: &Body) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut enc = MessageEncoder::new(&mut buf, MessageType::new(method, Class::Request), tid);
        body(&mut enc).unwrap_or_else(|e| panic!("test body: {e}"));
        if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
            enc.add(&Username::new(&self.username).unwrap()).unwrap();
            enc.add(&Realm::new(realm).unwrap()).unwrap();
            enc.add(&Nonce::new(nonce).unwrap()).unwrap();
            if self.sha256_password {
                let list = [PaAttr::new(rtc_stun::attr::AlgorithmId::SHA256), PaAttr::new(rtc_stun::attr::AlgorithmId::MD5)];
                enc.add(&PasswordAlgorithms::new(&list)).unwrap();
                enc.add(&PaAttr::new(rtc_stun::attr::AlgorithmId::SHA256)).unwrap();
            }
            let keys = UserKeys::derive(&self.username, realm, &self.password);
            let key: Vec<u8> =
                if self.sha256_password { keys.sha256.unwrap().to_vec() } else { keys.md5.unwrap().to_vec() };
            match self.mi {
                Mi::Sha1 => enc.integrity(&key).unwrap(),
                Mi::Sha256 => enc.integrity_sha256(&key).unwrap(),
            };
        }
        if self.fingerprint {
            enc.fingerprint().unwrap();
        }
        let _ = enc.finish();
        buf
    }
}

/// The core plus a scripted shell on a virtual clock.
pub struct Harness {
    pub server: Server,
    pub shared: Arc<Shared>,
    pub t0: Instant,
    pub now: Instant,
    pub transmits: Vec<Transmit>,
    pub events: Vec<Event>,
    /// user name -> password, for answering NeedKey.
    pub users: HashMap<String, String>,
    /// REST secrets the "database" returns.
    pub db_secrets: Vec<String>,
    pub auto_keys: bool,
    pub auto_bind: bool,
    /// Make every relay bind of this family fail.
    pub bind_failure: Option<(crate::core::Family, BindFailure)>,
    next_port: u16,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(config())
    }

    pub fn with(config: CoreConfig) -> Self {
        Self::worker(config, Shared::new([42; 32]), 3, Instant::now())
    }

    /// Another worker `index` of the same server: it shares `shared`, and its
    /// clock starts at `t0` (pass the first worker's `now`).
    pub fn worker(config: CoreConfig, shared: Arc<Shared>, index: u8, t0: Instant) -> Self {
        let server = Server::new(Arc::new(config), Arc::clone(&shared), index, [index; 32], t0, Duration::from_secs(UNIX_T0));
        let mut users = HashMap::new();
        users.insert("alice".to_owned(), "wonderland".to_owned());
        users.insert("bob".to_owned(), "builder".to_owned());
        Self {
            server,
            shared,
            t0,
            now: t0,
            transmits: Vec::new(),
            events: Vec::new(),
            users,
            db_secrets: Vec::new(),
            auto_keys: true,
            auto_bind: true,
            bind_failure: None,
            next_port: 50_000,
        }
    }

    /// Move the virtual clock and run due timers.
    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.server.handle_timeout(self.now);
        self.pump();
    }

    /// Drain outputs, answering NeedKey and BindRelay as a shell would.
    pub fn pump(&mut self) {
        loop {
            let mut answered = false;
            loop {
                match self.server.poll_output() {
                    Output::Transmit(t) => self.transmits.push(t),
                    Output::Event(e) => {
                        answered |= self.answer(&e);
                        self.events.push(e);
                    }
                    Output::Timeout(_) => break,
                }
            }
            if !answered {
                break;
            }
        }
    }

    fn answer(&mut self, e: &Event) -> bool {
        match e {
            Event::NeedKey { lookup, realm, query } if self.auto_keys => {
                let answer = self.key_answer(realm, query);
                self.server.handle_key_result(*lookup, answer, self.now);
                true
            }
            Event::BindRelay { bind, family, protocol, reserve_next, even_port, .. } if self.auto_bind => {
                let result = match self.bind_failure {
                    Some((f, failure)) if f == *family => Err(failure),
                    _ => Ok(self.relay_binding(*family, *protocol, *even_port, *reserve_next)),
                };
                self.server.handle_relay_bound(*bind, result, self.now);
                true
            }
            _ => false,
        }
    }

    pub fn key_answer(&self, realm: &str, query: &KeyQuery) -> KeyAnswer {
        match query {
            KeyQuery::Username(u) => match self.users.get(u) {
                Some(p) => KeyAnswer::User { username: u.clone(), keys: UserKeys::derive(u, realm, p) },
                None => KeyAnswer::NotFound,
            },
            KeyQuery::Userhash(h) => {
                for (u, p) in &self.users {
                    if crate::core::tests::userhash(u, realm) == *h {
                        return KeyAnswer::User { username: u.clone(), keys: UserKeys::derive(u, realm, p) };
                    }
                }
                KeyAnswer::NotFound
            }
            KeyQuery::RestSecrets => KeyAnswer::Secrets(self.db_secrets.clone()),
        }
    }

    fn relay_binding(&mut self, family: crate::core::Family, _p: RelayProtocol, even: bool, reserve: bool) -> RelayBinding {
        if even && self.next_port % 2 == 1 {
            self.next_port += 1;
        }
        let port = self.next_port;
        self.next_port += if reserve { 2 } else { 1 };
        let mk = |port: u16| match family {
            crate::core::Family::V4 => RelayAddr {
                local: SocketAddr::from(([10, 0, 0, 1], port)),
                public: SocketAddr::from(([198, 51, 100, 1], port)),
            },
            crate::core::Family::V6 => RelayAddr {
                local: addr(&format!("[fd00::1]:{port}")),
                public: addr(&format!("[2001:db8:1::1]:{port}")),
            },
        };
        RelayBinding { relay: mk(port), reserved: reserve.then(|| mk(port + 1)) }
    }

    /// Feed raw bytes from a client.
    pub fn send(&mut self, tuple: &FiveTuple, bytes: &[u8]) -> Option<Forward> {
        let f = self.server.handle_client_packet(*tuple, bytes, self.now);
        self.pump();
        f
    }

    /// Take the response to `tid`, if the server sent one.
    pub fn take_response(&mut self, tid: TransactionId) -> Option<Resp> {
        let i = self.transmits.iter().position(|t| {
            Message::parse(&t.contents).is_ok_and(|m| m.transaction_id() == tid && m.class() != Class::Request)
        })?;
        Some(Resp { transmit: self.transmits.remove(i) })
    }

    /// Send one request and return the response (panics if there is none).
    pub fn call_once(&mut self, c: &mut Client, method: Method, body: &Body) -> Resp {
        self.try_call_once(c, method, body).unwrap_or_else(|| panic!("no response to {method:?}"))
    }

    pub fn try_call_once(&mut self, c: &mut Client, method: Method, body: &Body) -> Option<Resp> {
        let tid = c.tid();
        let bytes = c.build(method, tid, body);
        self.send(&c.tuple.clone(), &bytes);
        self.take_response(tid)
    }

    /// Send a request like a real client: on 401/438 with a nonce, learn the
    /// realm and nonce and try once more.
    pub fn call(&mut self, c: &mut Client, method: Method, body: &Body) -> Resp {
        let r = self.call_once(c, method, body);
        if matches!(r.code(), Some(401 | 438)) {
            if let (Some(realm), Some(nonce)) = (r.attr::<Realm>(), r.attr::<Nonce>()) {
                let retry = c.nonce.as_deref() != Some(nonce.as_str()) || c.realm.is_none();
                c.realm = Some(realm.as_str().to_owned());
                c.nonce = Some(nonce.as_str().to_owned());
                if retry {
                    return self.call_once(c, method, body);
                }
            }
        }
        r
    }

    /// Authenticated UDP Allocate; returns the success response.
    pub fn allocate(&mut self, c: &mut Client) -> Resp {
        let r = self.call(c, Method::ALLOCATE, &|e| e.add(&RequestedTransport::UDP).map(|_| ()));
        assert!(r.is_success(), "allocate failed: {:?}", r.code());
        r
    }

    pub fn create_permission(&mut self, c: &mut Client, peer: SocketAddr) -> Resp {
        self.call(c, Method::CREATE_PERMISSION, &move |e| e.add(&XorPeerAddress(peer)).map(|_| ()))
    }

    pub fn channel_bind(&mut self, c: &mut Client, number: u16, peer: SocketAddr) -> Resp {
        self.call(c, Method::CHANNEL_BIND, &move |e| {
            e.add(&rtc_stun::ChannelNumber::new(number)?)?;
            e.add(&XorPeerAddress(peer))?;
            Ok(())
        })
    }

    /// A datagram from `peer` to `relay`: the forwarded bytes, if any.
    pub fn peer_sends(&mut self, relay: SocketAddr, peer: SocketAddr, payload: &[u8]) -> Option<(Forward, Vec<u8>)> {
        let mut buf = vec![0xEE; PEER_DATA_HEADROOM + payload.len() + PEER_DATA_TAILROOM];
        buf[PEER_DATA_HEADROOM..PEER_DATA_HEADROOM + payload.len()].copy_from_slice(payload);
        let f = self.server.handle_peer_data(relay, peer, &mut buf, payload.len(), self.now)?;
        let bytes = buf[f.range.clone()].to_vec();
        self.pump();
        Some((f, bytes))
    }

    /// Events of a kind, removed from the log.
    pub fn take_events(&mut self, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        let (hit, keep) = std::mem::take(&mut self.events).into_iter().partition(|e| pred(e));
        self.events = keep;
        hit
    }

    pub fn lookups(&self) -> usize {
        self.events.iter().filter(|e| matches!(e, Event::NeedKey { .. })).count()
    }
}

/// The relay (local) address of the first XOR-RELAYED-ADDRESS in an Allocate response.
pub fn relay_local(h: &Harness, resp: &Resp) -> SocketAddr {
    let public = resp.attr::<rtc_stun::attr::XorRelayedAddress>().map(|x| x.0).unwrap_or_else(|| panic!("no relayed address"));
    let _ = h;
    // The harness binds local 10.0.0.1:P / [fd00::1]:P for public 198.51.100.1:P / [2001:db8:1::1]:P.
    match public {
        SocketAddr::V4(a) => SocketAddr::from(([10, 0, 0, 1], a.port())),
        SocketAddr::V6(a) => addr(&format!("[fd00::1]:{}", a.port())),
    }
}
