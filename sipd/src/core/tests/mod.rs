//! Scenario tests: a fake shell (in-memory users and location table, a
//! virtual clock) drives the core with messages written as text, and the
//! tests assert what a user would see on the wire.

mod abuse;
mod calls;
mod flows;
mod hostile;
mod registrar;
mod routing;
mod torture;
mod transactions;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::auth::digest::{expected_response, Qop};
use super::*;
use rtc_sip::{DigestChallenge, HeaderName, Limits, Message};

pub(super) const UDP: ListenerId = ListenerId(0);
pub(super) const TCP: ListenerId = ListenerId(1);
pub(super) const WSS: ListenerId = ListenerId(2);

pub(super) fn listeners() -> Vec<Listener> {
    vec![
        Listener {
            id: UDP,
            transport: Transport::Udp,
            local: "198.51.100.19:5060".parse().unwrap(),
            advertised: None,
            record_route: None,
        },
        Listener {
            id: TCP,
            transport: Transport::Tcp,
            local: "198.51.100.19:5060".parse().unwrap(),
            advertised: None,
            record_route: None,
        },
        Listener {
            id: WSS,
            transport: Transport::Wss,
            local: "198.51.100.19:8443".parse().unwrap(),
            advertised: Some("sip.falcot.com:8443".into()),
            record_route: Some("sip:sip.falcot.com:8443;transport=wss".into()),
        },
    ]
}

pub(super) fn config() -> CoreConfig {
    CoreConfig {
        domains: vec!["falcot.com".into()],
        ..CoreConfig::default()
    }
}

pub(super) fn udp(addr: &str) -> Flow {
    Flow {
        listener: UDP,
        transport: Transport::Udp,
        remote: addr.parse().unwrap(),
        connection: None,
    }
}
pub(super) fn tcp(addr: &str, conn: u64) -> Flow {
    Flow {
        listener: TCP,
        transport: Transport::Tcp,
        remote: addr.parse().unwrap(),
        connection: Some(ConnectionId(conn)),
    }
}
pub(super) fn wss(addr: &str, conn: u64) -> Flow {
    Flow {
        listener: WSS,
        transport: Transport::Wss,
        remote: addr.parse().unwrap(),
        connection: Some(ConnectionId(conn)),
    }
}

/// A transmit, with helpers to read it as text.
#[derive(Debug, Clone)]
pub(super) struct Sent(pub Transmit);

impl Sent {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.bytes.clone()).unwrap()
    }
    pub fn msg(&self) -> Message<'_> {
        Message::parse_datagram(&self.0.bytes, &Limits::DEFAULT).unwrap()
    }
    pub fn status(&self) -> Option<u16> {
        self.msg().status()
    }
    pub fn method(&self) -> Option<String> {
        self.msg().method().map(|m| m.to_string())
    }
    pub fn first_line(&self) -> String {
        self.text().lines().next().unwrap().to_owned()
    }
    /// Every value of a header family, in order.
    pub fn all(&self, kind: HeaderName) -> Vec<String> {
        self.msg()
            .values(kind)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
    pub fn header(&self, kind: HeaderName) -> Option<String> {
        self.msg()
            .header(kind)
            .map(|h| String::from_utf8_lossy(h.value()).into_owned())
    }
    pub fn named(&self, name: &str) -> Option<String> {
        self.msg()
            .header_by_name(name)
            .map(|h| String::from_utf8_lossy(h.value()).into_owned())
    }
    pub fn to_addr(&self) -> Option<SocketAddr> {
        match &self.0.destination {
            Destination::Addr(a) | Destination::Connection(_, a) => Some(*a),
            Destination::Resolve { .. } => None,
        }
    }
    pub fn branch(&self) -> String {
        String::from_utf8_lossy(self.msg().top_via().unwrap().branch().unwrap()).into_owned()
    }
}

/// The fake shell.
pub(super) struct Shell {
    pub core: Core,
    pub now: Instant,
    pub t0: Instant,
    pub users: HashMap<(String, String), DigestKeys>,
    pub store: HashMap<Aor, Vec<(Binding, Instant)>>,
    pub sent: Vec<Sent>,
    pub events: Vec<Event>,
    /// Answer database events at once (as a cache would); otherwise they pile up in `events`.
    pub auto_db: bool,
    /// Answer a REGISTER's credential lookup with its AoR's bindings too.
    pub prefetch: bool,
}

impl Shell {
    pub fn new() -> Shell {
        Shell::with(config())
    }

    pub fn with(cfg: CoreConfig) -> Shell {
        let t0 = Instant::now();
        let core = Core::new(cfg, listeners(), [42; 32], t0, 7).unwrap();
        let mut s = Shell {
            core,
            now: t0,
            t0,
            users: HashMap::new(),
            store: HashMap::new(),
            sent: Vec::new(),
            events: Vec::new(),
            auto_db: true,
            prefetch: true,
        };
        s.add_user("alice", "secret-a");
        s.add_user("bob", "secret-b");
        s
    }

    pub fn add_user(&mut self, user: &str, pw: &str) {
        let input = format!("{user}:falcot.com:{pw}");
        let keys = DigestKeys {
            md5: Some(Md5::digest(input.as_bytes()).into()),
            sha256: Some(Sha256::digest(input.as_bytes()).into()),
        };
        self.users
            .insert((user.to_owned(), "falcot.com".to_owned()), keys);
    }

    pub fn recv(&mut self, flow: Flow, text: &str) {
        let bytes = text.replace('\n', "\r\n").replace("\r\r\n", "\r\n");
        self.core.handle_message(flow, bytes.as_bytes(), self.now);
        self.pump();
    }

    pub fn pump(&mut self) {
        loop {
            match self.core.poll_output() {
                Output::Transmit(t) => self.sent.push(Sent(t)),
                Output::Event(e) => {
                    self.events.push(e.clone());
                    if self.auto_db {
                        self.answer(&e);
                    }
                }
                Output::Timeout(_) => break,
            }
        }
    }

    /// Answer one database event from the in-memory tables.
    pub fn answer(&mut self, e: &Event) {
        let now = self.now;
        match e {
            Event::NeedCredentials { id, user, realm, bindings_of } => {
                let keys = self.users.get(&(user.clone(), realm.clone())).cloned();
                match bindings_of {
                    Some(aor) if self.prefetch => {
                        let b = self.bindings(aor);
                        self.core.handle_credentials_and_bindings(*id, Ok(keys), Some(Ok(b)), now);
                    }
                    _ => self.core.handle_credentials(*id, Ok(keys), now),
                }
            }
            Event::NeedBindings { id, aor } => {
                let b = self.bindings(aor);
                self.core.handle_location(*id, Ok(b), now);
            }
            Event::SaveBindings { id, aor, changes } => {
                let list = self.store.entry(aor.clone()).or_default();
                if changes.remove_all {
                    list.clear();
                }
                list.retain(|(b, _)| {
                    !changes.remove.contains(&b.key)
                        && !changes.upsert.iter().any(|u| u.key == b.key)
                });
                for u in &changes.upsert {
                    list.push((u.clone(), now + Duration::from_secs(u64::from(u.expires))));
                }
                let b = self.bindings(aor);
                self.core.handle_saved(*id, Ok(b), now);
            }
            Event::FlowBindingsGone { connection } => {
                for list in self.store.values_mut() {
                    list.retain(|(b, _)| {
                        !(b.via_flow && b.flow.and_then(|f| f.connection) == Some(*connection))
                    });
                }
            }
            Event::AuthFailed { .. } | Event::SourceBanned { .. } => {}
        }
    }

    /// Stored bindings with their remaining seconds (0 when expired).
    pub fn bindings(&self, aor: &Aor) -> Vec<Binding> {
        self.store
            .get(aor)
            .map(|l| {
                l.iter()
                    .map(|(b, at)| Binding {
                        expires: u32::try_from(at.saturating_duration_since(self.now).as_secs())
                            .unwrap(),
                        ..b.clone()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Move the virtual clock, running every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        loop {
            let Output::Timeout(at) = self.core.poll_output() else {
                unreachable!("pump first")
            };
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    pub fn take(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    /// Exactly one message was sent; return it.
    pub fn one(&mut self) -> Sent {
        let mut s = self.take();
        assert_eq!(
            s.len(),
            1,
            "expected one message, got {:#?}",
            s.iter().map(Sent::first_line).collect::<Vec<_>>()
        );
        s.pop().unwrap()
    }

    /// Messages sent, without 100 Trying.
    pub fn take_no_trying(&mut self) -> Vec<Sent> {
        self.take()
            .into_iter()
            .filter(|s| s.status() != Some(100))
            .collect()
    }

    pub fn aor(user: &str) -> Aor {
        Aor {
            user: user.into(),
            domain: "falcot.com".into(),
        }
    }
}

/// A user agent that writes its requests as text.
pub(super) struct Ua {
    pub user: String,
    pub password: String,
    pub flow: Flow,
    pub contact: String,
    pub sent_by: String,
    pub call_id: String,
    pub cseq: u32,
    pub nc: u32,
    pub n: u32,
}

impl Ua {
    pub fn new(user: &str, flow: Flow, contact: &str) -> Ua {
        Ua {
            user: user.into(),
            password: format!("secret-{}", &user[..1]),
            flow,
            contact: contact.into(),
            sent_by: flow.remote.to_string(),
            call_id: format!("reg-{user}@test"),
            cseq: 0,
            nc: 0,
            n: 0,
        }
    }

    pub fn transport(&self) -> &'static str {
        self.flow.transport.via_token()
    }

    pub fn branch(&mut self) -> String {
        self.n += 1;
        format!("z9hG4bK{}{}", self.user, self.n)
    }

    pub fn via(&mut self) -> String {
        let b = self.branch();
        format!(
            "Via: SIP/2.0/{} {};branch={b};rport",
            self.transport(),
            self.sent_by
        )
    }

    /// A REGISTER; `extra` are full header lines ending in \n.
    pub fn register(&mut self, extra: &str) -> String {
        self.cseq += 1;
        let via = self.via();
        format!(
            "REGISTER sip:falcot.com SIP/2.0\n{via}\nMax-Forwards: 70\nFrom: <sip:{u}@falcot.com>;tag=r{u}\nTo: <sip:{u}@falcot.com>\n\
Call-ID: {cid}\nCSeq: {cseq} REGISTER\n{extra}Content-Length: 0\n\n",
            u = self.user,
            cid = self.call_id,
            cseq = self.cseq
        )
    }

    /// Digest credentials answering `challenge` (a WWW-/Proxy-Authenticate value).
    pub fn credentials(&mut self, challenge: &str, method: &str, uri: &str) -> String {
        let c = DigestChallenge::parse(challenge.as_bytes()).unwrap();
        let alg = match c.algorithm {
            Some(a) if a.eq_ignore_ascii_case(b"SHA-256") => DigestAlgorithm::Sha256,
            _ => DigestAlgorithm::Md5,
        };
        let realm = String::from_utf8_lossy(c.realm).into_owned();
        let nonce = String::from_utf8_lossy(c.nonce).into_owned();
        self.nc += 1;
        let ha1 = alg.hash_hex(&[
            self.user.as_bytes(),
            realm.as_bytes(),
            self.password.as_bytes(),
        ]);
        let qop = Qop {
            nc: self.nc,
            cnonce: b"c0ffee",
        };
        let resp = expected_response(
            alg,
            &ha1,
            method.as_bytes(),
            uri.as_bytes(),
            nonce.as_bytes(),
            Some(qop),
        );
        format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc={:08x}, cnonce=\"c0ffee\"",
            self.user,
            String::from_utf8_lossy(alg.wire().as_bytes()),
            self.nc
        )
    }

    /// An INVITE to `to` (a full URI) with a fresh Call-ID.
    pub fn invite(&mut self, to: &str, call_id: &str, extra: &str) -> String {
        let via = self.via();
        format!(
            "INVITE {to} SIP/2.0\n{via}\nMax-Forwards: 70\nFrom: <sip:{u}@falcot.com>;tag=t{u}\nTo: <{to}>\nCall-ID: {call_id}\n\
CSeq: 1 INVITE\nContact: <{c}>\n{extra}Content-Type: application/sdp\nContent-Length: 3\n\nv=0",
            u = self.user,
            c = self.contact
        )
    }
}

/// The value of the first challenge header with this algorithm.
pub(super) fn challenge_with(s: &Sent, kind: HeaderName, alg: &str) -> String {
    s.msg()
        .headers_named(kind)
        .map(|h| String::from_utf8_lossy(h.value()).into_owned())
        .find(|v| v.contains(&format!("algorithm={alg}")))
        .unwrap()
}

/// Register `ua` (401 then 200) and return the 200.
pub(super) fn register(sh: &mut Shell, ua: &mut Ua, extra: &str) -> Sent {
    let r = ua.register(extra);
    sh.recv(ua.flow, &r);
    let c = sh.one();
    assert_eq!(c.status(), Some(401), "{}", c.text());
    let ch = challenge_with(&c, HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    let r = ua.register(&format!("{extra}Authorization: {auth}\n"));
    sh.recv(ua.flow, &r);
    let ok = sh.one();
    assert_eq!(ok.status(), Some(200), "{}", ok.text());
    ok
}

/// Build a response to a request we saw on the wire, as a UA would.
pub(super) fn answer(
    req: &Sent,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &str,
) -> String {
    let m = req.msg();
    let mut out = format!("SIP/2.0 {status} {reason}\n");
    for v in m.values(HeaderName::Via) {
        out.push_str(&format!("Via: {}\n", String::from_utf8_lossy(v)));
    }
    for v in m.values(HeaderName::RecordRoute) {
        out.push_str(&format!("Record-Route: {}\n", String::from_utf8_lossy(v)));
    }
    let to = String::from_utf8_lossy(m.header(HeaderName::To).unwrap().value()).into_owned();
    let to = match to_tag {
        Some(t) if !to.contains("tag=") => format!("{to};tag={t}"),
        _ => to,
    };
    out.push_str(&format!(
        "From: {}\nTo: {to}\nCall-ID: {}\nCSeq: {}\n{extra}Content-Length: 0\n\n",
        String::from_utf8_lossy(m.header(HeaderName::From).unwrap().value()),
        String::from_utf8_lossy(m.call_id().unwrap()),
        String::from_utf8_lossy(m.header(HeaderName::CSeq).unwrap().value()),
    ));
    out
}
