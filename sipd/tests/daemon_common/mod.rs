//! Harness for the daemon tests: a temporary site (config, SQLite database,
//! key file), the real `sipd` binary started on 127.0.0.1 port 0 and read
//! until its `READY` line, `sipctl`, and a tiny SIP user agent over UDP or
//! TCP with digest authentication.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rtc_sip::{Frame, Framer, Limits, Message};

/// The local domain of every test site.
pub const DOMAIN: &str = "sip.test";
/// How long to wait for an answer.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    /// A site with UDP and TCP listeners on 127.0.0.1 (unless `extra`
    /// brings its own `listeners:`) and `extra` appended to the config.
    pub fn new(extra: &str) -> Site {
        Site::with(|_| extra.to_owned())
    }

    /// [`Site::new`] with config text made from the site's directory.
    pub fn with(make: impl FnOnce(&std::path::Path) -> String) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let extra = &make(dir.path());
        let d = dir.path().display();
        let listeners = if extra.contains("listeners:") {
            String::new()
        } else {
            "listeners:\n  - { proto: udp, addr: \"127.0.0.1:0\" }\n  - { proto: tcp, addr: \"127.0.0.1:0\" }\n".into()
        };
        let config = format!(
            "log: \"info,sipd=debug\"\nworkers: 2\ndomains: [{DOMAIN}]\n\
             database: {{ sqlite: {{ path: {d}/sipd.sqlite }} }}\nsecret_file: {d}/secret\n\
             db_poll_secs: 1\nshutdown_grace_secs: 1\n{listeners}{extra}\n"
        );
        std::fs::write(dir.path().join("sipd.yaml"), config).unwrap();
        Site { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("sipd.yaml")
    }

    /// `sipctl -c CONFIG ARGS...`
    pub fn sipctl(&self, args: &[&str]) -> Output {
        let mut all = vec!["-c".to_owned(), self.config().display().to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        Command::new(env!("CARGO_BIN_EXE_sipctl")).args(&all).stdin(Stdio::null()).output().unwrap()
    }

    /// `sipctl add USER PASSWORD`, which must succeed.
    pub fn add_user(&self, user: &str, password: &str) {
        let o = self.sipctl(&["add", user, password]);
        assert!(o.status.success(), "sipctl add: {}", String::from_utf8_lossy(&o.stderr));
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub listeners: Vec<(String, SocketAddr)>,
    pub stderr: PathBuf,
}

impl Daemon {
    /// Start `sipd` on the site and wait for its READY line.
    pub fn start(site: &Site) -> Daemon {
        static RUN: AtomicU32 = AtomicU32::new(0);
        let stderr = site.dir.path().join(format!("stderr-{}.log", RUN.fetch_add(1, Ordering::Relaxed)));
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipd"))
            .arg("--config")
            .arg(site.config())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(json) = line.strip_prefix("READY ") {
                    let _ = tx.send(json.to_owned());
                }
            }
        });
        let json = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(j) => j,
            Err(_) => {
                let _ = child.kill();
                panic!("no READY line; stderr:\n{}", std::fs::read_to_string(&stderr).unwrap_or_default());
            }
        };
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["daemon"], "sipd");
        let listeners = v["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["proto"].as_str().unwrap().to_owned(), l["addr"].as_str().unwrap().parse().unwrap()))
            .collect();
        Daemon { child: Some(child), listeners, stderr }
    }

    /// The first listener of `proto` (`udp`, `tcp`, `tls`, `ws`, `wss`).
    pub fn addr(&self, proto: &str) -> SocketAddr {
        self.listeners.iter().find(|(p, _)| p == proto).map(|(_, a)| *a).unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// Wait for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let c = self.child.as_mut().unwrap();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = c.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sipd did not exit in time");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn unq(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_matches('"').to_owned()
}

enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream, Vec<u8>),
}

/// A minimal SIP user agent.
pub struct Ua {
    link: Link,
    pub local: SocketAddr,
    pub server: SocketAddr,
    pub user: String,
    pub transport: &'static str,
    pub tag: String,
    cseq: u32,
}

static COUNTER: AtomicU32 = AtomicU32::new(1);

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Ua {
    /// A UDP agent on `bind_ip` (127.0.0.x) talking to `server`.
    pub fn udp(user: &str, server: SocketAddr, bind_ip: &str) -> Ua {
        let s = UdpSocket::bind(format!("{bind_ip}:0")).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let local = s.local_addr().unwrap();
        Ua { link: Link::Udp(s), local, server, user: user.into(), transport: "UDP", tag: unique("t"), cseq: 0 }
    }

    /// A TCP agent connected to `server`.
    pub fn tcp(user: &str, server: SocketAddr) -> Ua {
        let s = TcpStream::connect(server).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let local = s.local_addr().unwrap();
        Ua { link: Link::Tcp(s, Vec::new()), local, server, user: user.into(), transport: "TCP", tag: unique("t"), cseq: 0 }
    }

    pub fn send(&mut self, msg: &[u8]) {
        match &mut self.link {
            Link::Udp(s) => {
                s.send_to(msg, self.server).unwrap();
            }
            Link::Tcp(s, _) => s.write_all(msg).unwrap(),
        }
    }

    /// The next message within `wait`, or `None`.
    pub fn recv_within(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            if Instant::now() >= deadline {
                return None;
            }
            match &mut self.link {
                Link::Udp(s) => {
                    let mut buf = vec![0u8; 65536];
                    if let Ok((n, _)) = s.recv_from(&mut buf) {
                        return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
                Link::Tcp(s, pending) => {
                    let mut framer = Framer::new(Limits::DEFAULT);
                    loop {
                        match framer.poll(pending) {
                            Frame::Message { len } => {
                                let msg: Vec<u8> = pending.drain(..len).collect();
                                return Some(String::from_utf8_lossy(&msg).into_owned());
                            }
                            Frame::Ping { consumed } | Frame::Pong { consumed } => {
                                pending.drain(..consumed);
                            }
                            Frame::Incomplete => break,
                            Frame::Invalid(e) => panic!("bad frame from sipd: {e}"),
                        }
                    }
                    let mut buf = [0u8; 8192];
                    match s.read(&mut buf) {
                        Ok(0) => return None,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                        Err(_) => {}
                    }
                }
            }
        }
    }

    /// The next message that is not a `100 Trying`.
    pub fn recv(&mut self) -> String {
        loop {
            let m = self.recv_within(WAIT).unwrap_or_else(|| panic!("{}: nothing received", self.user));
            if !m.starts_with("SIP/2.0 100 ") {
                return m;
            }
        }
    }

    pub fn contact(&self) -> String {
        format!("<sip:{}@{};transport={}>", self.user, self.local, self.transport.to_ascii_lowercase())
    }

    pub fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }

    /// A request from this agent; `extra` holds whole header lines.
    pub fn request(&mut self, method: &str, ruri: &str, to: &str, call_id: &str, extra: &str, body: &str) -> String {
        let cseq = self.next_cseq();
        let cseq_method = if method == "ACK" { "ACK" } else { method };
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch=z9hG4bK{b};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{DOMAIN}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {cseq_method}\r\n\
             Contact: {contact}\r\nUser-Agent: sipd-test\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
            t = self.transport,
            local = self.local,
            b = unique("b"),
            user = self.user,
            tag = self.tag,
            contact = self.contact(),
            len = body.len(),
        )
    }

    /// REGISTER with digest authentication; returns the final response.
    pub fn register(&mut self, password: &str, expires: u32) -> String {
        let call_id = unique("reg");
        let aor = format!("<sip:{}@{DOMAIN}>", self.user);
        let ruri = format!("sip:{DOMAIN}");
        let first = self.request("REGISTER", &ruri, &aor, &call_id, &format!("Expires: {expires}\r\n"), "");
        self.send(first.as_bytes());
        let challenge = self.recv();
        assert!(challenge.starts_with("SIP/2.0 401 "), "expected 401, got:\n{challenge}");
        let auth = authorization(&challenge, "WWW-Authenticate", &self.user, password, "REGISTER", &ruri);
        let second = self.request("REGISTER", &ruri, &aor, &call_id, &format!("Expires: {expires}\r\nAuthorization: {auth}\r\n"), "");
        self.send(second.as_bytes());
        self.recv()
    }
}

/// The MD5 `Authorization`/`Proxy-Authorization` value answering the MD5
/// challenge in `response` (header `header`).
pub fn authorization(response: &str, header: &str, user: &str, password: &str, method: &str, uri: &str) -> String {
    let msg = Message::parse_datagram(response.as_bytes(), &Limits::DEFAULT).unwrap();
    let challenges: Vec<_> = if header == "WWW-Authenticate" {
        msg.www_authenticates().map(|c| c.unwrap()).collect()
    } else {
        msg.proxy_authenticates().map(|c| c.unwrap()).collect()
    };
    let c = challenges
        .iter()
        .find(|c| c.algorithm.is_none_or(|a| a.eq_ignore_ascii_case(b"MD5")))
        .unwrap_or_else(|| panic!("no MD5 challenge in:\n{response}"));
    let realm = unq(c.realm);
    let nonce = unq(c.nonce);
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let cnonce = "0a4f113b";
    let nc = "00000001";
    let resp = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    let opaque = c.opaque.map(|o| format!(", opaque=\"{}\"", unq(o))).unwrap_or_default();
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", \
         algorithm=MD5, cnonce=\"{cnonce}\", qop=auth, nc={nc}{opaque}"
    )
}

/// The status code of a response.
pub fn status(msg: &str) -> u16 {
    msg.get(8..11).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a response:\n{msg}"))
}

/// Every value of header `name` (full name, case-insensitive), in order.
pub fn headers(msg: &str, name: &str) -> Vec<String> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// A response to `request` with `code reason`, as a UAS would build it.
pub fn reply(request: &str, code: u16, reason: &str, to_tag: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in request.split("\r\n\r\n").next().unwrap_or_default().lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let n = name.trim().to_ascii_lowercase();
        if ["via", "v", "record-route", "from", "f", "call-id", "i", "cseq"].contains(&n.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        } else if n == "to" || n == "t" {
            if value.contains("tag=") || to_tag.is_empty() {
                out.push_str(line);
            } else {
                out.push_str(&format!("{line};tag={to_tag}"));
            }
            out.push_str("\r\n");
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}
