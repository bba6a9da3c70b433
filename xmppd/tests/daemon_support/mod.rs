//! Starting the real `xmppd` on 127.0.0.1 port 0 with a temporary config,
//! database and self-signed certificate, and a minimal blocking XMPP client
//! (STARTTLS or direct TLS, SCRAM-SHA-256 with or without channel binding).

#![allow(dead_code, clippy::zombie_processes, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rtc_tls::rustls::{self, ClientConnection, StreamOwned};
use sha2::{Digest, Sha256};

pub const HOST: &str = "localhost";
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A temporary xmppd installation: config, database, certificate.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub cert: PathBuf,
    pub child: Option<Child>,
    pub c2s: Option<SocketAddr>,
    pub c2s_tls: Option<SocketAddr>,
    pub s2s: Option<SocketAddr>,
    pub stderr_log: PathBuf,
}

impl Daemon {
    /// A configuration with `extra` YAML appended (top-level keys).
    pub fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = rtc_tls::ensure_self_signed(&dir.path().join("tls"), &[HOST.to_owned()]).unwrap();
        let config = dir.path().join("xmppd.yaml");
        let text = format!(
            "log: \"info,xmppd=debug\"\ndatabase:\n  sqlite:\n    path: {db}\nlisteners:\n  - {{ kind: c2s, addr: \"127.0.0.1:0\" }}\n  - {{ kind: c2s_tls, addr: \"127.0.0.1:0\" }}\n  - {{ kind: s2s, addr: \"127.0.0.1:0\" }}\nhosts:\n  - domain: {HOST}\n    tls: {{ cert: {cert}, key: {key} }}\nshutdown_grace_secs: 5\n{extra}\n",
            db = dir.path().join("xmppd.sqlite").display(),
            cert = cert.display(),
            key = key.display(),
        );
        std::fs::write(&config, text).unwrap();
        let stderr_log = dir.path().join("xmppd.log");
        Self { dir, config, cert, child: None, c2s: None, c2s_tls: None, s2s: None, stderr_log }
    }

    /// Run `xmppctl` with this config; returns (status, stdout, stderr).
    pub fn ctl(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xmppctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn register(&self, user: &str, password: &str) {
        let (code, out, err) = self.ctl(&["register", user, HOST, password], None);
        assert_eq!(code, 0, "register {user}: {out} {err}");
    }

    /// Start and wait for the READY line.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.stderr_log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_xmppd"))
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "xmppd exited before READY; log:\n{}", self.log());
            if let Some(json) = line.strip_prefix("READY ") {
                let v: serde_json::Value = serde_json::from_str(json).unwrap();
                for l in v["listeners"].as_array().unwrap() {
                    let addr: SocketAddr = l["addr"].as_str().unwrap().parse().unwrap();
                    match l["service"].as_str().unwrap() {
                        "c2s" => self.c2s = Some(addr),
                        "c2s-tls" => self.c2s_tls = Some(addr),
                        "s2s" => self.s2s = Some(addr),
                        _ => {}
                    }
                }
                break;
            }
        }
        // Keep draining stdout so the daemon never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// SIGTERM and the exit status (None: did not exit within 10 s).
    pub fn stop(&mut self) -> Option<i32> {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        None
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
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

pub trait Io: Read + Write {}
impl<T: Read + Write> Io for T {}

/// A minimal XMPP client over a blocking socket.
pub struct Client {
    io: Box<dyn Io + Send>,
    /// Received text not consumed yet.
    pub buf: String,
    /// `tls-exporter` data of the connection.
    pub exporter: Option<Vec<u8>>,
    pub jid: String,
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

fn tls_config(cert: &Path, alpn: bool) -> Arc<rustls::ClientConfig> {
    let alpn: &[&[u8]] = if alpn { &[b"xmpp-client"] } else { &[] };
    rtc_tls::client_config(&rtc_tls::Roots::PemFile(cert.to_path_buf()), alpn).unwrap()
}

fn tls_wrap(tcp: TcpStream, cert: &Path, alpn: bool) -> (StreamOwned<ClientConnection, TcpStream>, Option<Vec<u8>>) {
    let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
    let conn = ClientConnection::new(tls_config(cert, alpn), name).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    let exporter = s
        .conn
        .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
        .ok()
        .map(|b| b.to_vec());
    (s, exporter)
}

impl Client {
    /// Connect to the STARTTLS port and upgrade to TLS.
    pub fn starttls(addr: SocketAddr, cert: &Path) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut c = Client { io: Box::new(tcp.try_clone().unwrap()), buf: String::new(), exporter: None, jid: String::new() };
        c.send(HEADER);
        c.read_until("</stream:features>");
        c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        c.read_until("<proceed");
        c.buf.clear();
        let (tls, exporter) = tls_wrap(tcp, cert, false);
        c.io = Box::new(tls);
        c.exporter = exporter;
        c
    }

    /// Connect to the direct-TLS port (ALPN `xmpp-client`).
    pub fn direct_tls(addr: SocketAddr, cert: &Path) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let (tls, exporter) = tls_wrap(tcp, cert, true);
        Client { io: Box::new(tls), buf: String::new(), exporter, jid: String::new() }
    }

    pub fn send(&mut self, s: &str) {
        self.io.write_all(s.as_bytes()).unwrap();
        self.io.flush().unwrap();
    }

    /// Read until `marker` appears; return everything up to and including
    /// it and keep the rest. Panics after the read timeout.
    pub fn read_until(&mut self, marker: &str) -> String {
        self.try_read_until(marker).unwrap_or_else(|| panic!("no {marker:?} in {:?}", self.buf))
    }

    pub fn try_read_until(&mut self, marker: &str) -> Option<String> {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            if let Some(i) = self.buf.find(marker) {
                let rest = self.buf.split_off(i + marker.len());
                return Some(std::mem::replace(&mut self.buf, rest));
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    return None
                }
                Err(_) => return None,
            }
        }
    }

    /// Open the stream on TLS and log in with SCRAM-SHA-256 (`-PLUS` with
    /// `tls-exporter` when `plus`), then bind `resource`.
    pub fn login(&mut self, user: &str, password: &str, resource: &str, plus: bool) -> String {
        self.send(HEADER);
        let features = self.read_until("</stream:features>");
        let mech = if plus { "SCRAM-SHA-256-PLUS" } else { "SCRAM-SHA-256" };
        assert!(features.contains(&format!(">{mech}<")), "{mech} not offered: {features}");
        let gs2 = if plus { "p=tls-exporter,," } else { "n,," };
        let cnonce = "fyko+d2lbbFgONRv9qkxdawL";
        let bare = format!("n={user},r={cnonce}");
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mech}'>{}</auth>",
            B64.encode(format!("{gs2}{bare}"))
        ));
        self.read_until("<challenge");
        let ch = self.read_until("</challenge>");
        let server_first = String::from_utf8(B64.decode(inner_text(&ch)).unwrap()).unwrap();
        let attr = |k: &str| server_first.split(',').find_map(|p| p.strip_prefix(k)).unwrap().to_owned();
        let (nonce, salt, iters) = (attr("r="), B64.decode(attr("s=")).unwrap(), attr("i=").parse::<u32>().unwrap());
        let mut cbind = gs2.as_bytes().to_vec();
        if plus {
            cbind.extend_from_slice(self.exporter.as_ref().expect("TLS 1.3 exporter"));
        }
        let without_proof = format!("c={},r={nonce}", B64.encode(&cbind));
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iters, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored = Sha256::digest(&client_key);
        let sig = hmac(&stored, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        self.send(&format!(
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
            B64.encode(format!("{without_proof},p={}", B64.encode(proof)))
        ));
        let outcome = self.read_until_any(&["</success>", "<success/>", "</failure>"]);
        assert!(outcome.contains("<success"), "login failed: {outcome}");
        let server_key = hmac(&salted, b"Server Key");
        let expected_v = B64.encode(hmac(&server_key, auth_message.as_bytes()));
        let success = String::from_utf8(B64.decode(inner_text(&outcome)).unwrap_or_default()).unwrap_or_default();
        assert_eq!(success, format!("v={expected_v}"), "server signature");
        self.send(HEADER);
        self.read_until("</stream:features>");
        self.send(&format!(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"
        ));
        let bound = self.read_until("</iq>");
        let jid = bound.split("<jid>").nth(1).and_then(|s| s.split("</jid>").next()).unwrap().to_owned();
        self.jid = jid.clone();
        jid
    }

    pub fn read_until_any(&mut self, markers: &[&str]) -> String {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            if let Some((i, m)) = markers.iter().filter_map(|m| self.buf.find(m).map(|i| (i, m))).min() {
                let rest = self.buf.split_off(i + m.len());
                return std::mem::replace(&mut self.buf, rest);
            }
            assert!(Instant::now() < deadline, "none of {markers:?} in {:?}", self.buf);
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk) {
                Ok(0) => panic!("connection closed; none of {markers:?} in {:?}", self.buf),
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) => panic!("read failed ({e}); none of {markers:?} in {:?}", self.buf),
            }
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The text between the first `>` and the next `<` (a SASL payload).
fn inner_text(element: &str) -> String {
    let start = element.rfind("<challenge").or_else(|| element.rfind("<success")).unwrap_or(0);
    let s = &element[start..];
    match (s.find('>'), s[1..].find('<')) {
        (Some(a), Some(b)) if b + 1 > a => s[a + 1..b + 1].to_owned(),
        _ => String::new(),
    }
}
