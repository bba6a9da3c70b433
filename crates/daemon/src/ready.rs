//! Announcing listeners: one log line each, then one machine-readable `READY` line.
//!
//! Integration tests start a daemon with every port set to 0 and read its stdout
//! until a line starting with `READY ` to learn the real addresses:
//!
//! ```text
//! READY {"daemon":"turnd","pid":123,"listeners":[{"service":"turn","proto":"udp","addr":"127.0.0.1:3478"}]}
//! ```

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::notify;

/// Transport of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Plain UDP.
    Udp,
    /// Plain TCP.
    Tcp,
    /// TLS over TCP (including direct-TLS XMPP and SIPS).
    Tls,
    /// WebSocket over plain TCP.
    Ws,
    /// WebSocket over TLS.
    Wss,
    /// Plain HTTP (metrics, BOSH).
    Http,
}

impl Proto {
    /// The lower-case name used in logs and in the `READY` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Ws => "ws",
            Proto::Wss => "wss",
            Proto::Http => "http",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bound socket, as announced to the log and in the `READY` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// What is served there, e.g. `turn`, `sip`, `c2s`, `s2s`, `metrics`.
    pub service: String,
    /// The transport.
    pub proto: Proto,
    /// The address actually bound (after port 0 was resolved).
    pub addr: SocketAddr,
}

impl Listener {
    /// Describe a bound socket.
    pub fn new(service: impl Into<String>, proto: Proto, addr: SocketAddr) -> Self {
        Self {
            service: service.into(),
            proto,
            addr,
        }
    }
}

/// Log one line for a listener at info level.
pub fn announce(listener: &Listener) {
    tracing::info!(
        "listening on {} {} for {}",
        listener.proto,
        listener.addr,
        listener.service
    );
}

#[derive(Serialize)]
struct ReadyLine<'a> {
    daemon: &'a str,
    pid: u32,
    listeners: &'a [Listener],
}

/// The `READY {json}` line (without newline) for the given process.
pub fn ready_line(daemon: &str, pid: u32, listeners: &[Listener]) -> String {
    let json = serde_json::to_string(&ReadyLine {
        daemon,
        pid,
        listeners,
    })
    // Serialising strings, integers and addresses cannot fail; keep a valid line anyway.
    .unwrap_or_else(|_| String::from("{}"));
    format!("READY {json}")
}

/// Announce start-up completion: print the `READY` line to stdout, flush it,
/// set the systemd status, and send `READY=1`.
pub fn ready(daemon: &str, listeners: &[Listener]) -> Result<()> {
    let line = ready_line(daemon, std::process::id(), listeners);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Error::Ready)?;
    notify::status(&format!("{daemon}: {} listener(s) up", listeners.len()));
    notify::ready();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_is_exact_json_after_the_keyword() {
        let listeners = [
            Listener::new("turn", Proto::Udp, "127.0.0.1:3478".parse().unwrap()),
            Listener::new("turn", Proto::Tls, "[::1]:5349".parse().unwrap()),
            Listener::new("metrics", Proto::Http, "127.0.0.1:9641".parse().unwrap()),
        ];
        assert_eq!(
            ready_line("turnd", 123, &listeners),
            concat!(
                r#"READY {"daemon":"turnd","pid":123,"listeners":["#,
                r#"{"service":"turn","proto":"udp","addr":"127.0.0.1:3478"},"#,
                r#"{"service":"turn","proto":"tls","addr":"[::1]:5349"},"#,
                r#"{"service":"metrics","proto":"http","addr":"127.0.0.1:9641"}]}"#
            )
        );
    }

    #[test]
    fn ready_line_round_trips_through_a_json_parser() {
        let listeners = [Listener::new(
            "c2s",
            Proto::Wss,
            "0.0.0.0:5281".parse().unwrap(),
        )];
        let line = ready_line("xmppd", 7, &listeners);
        let json: serde_json::Value =
            serde_json::from_str(line.strip_prefix("READY ").unwrap()).unwrap();
        assert_eq!(json["daemon"], "xmppd");
        assert_eq!(json["pid"], 7);
        assert_eq!(json["listeners"][0]["proto"], "wss");
        assert_eq!(json["listeners"][0]["addr"], "0.0.0.0:5281");
    }

    #[test]
    fn empty_listener_list_is_valid() {
        assert_eq!(
            ready_line("sipd", 1, &[]),
            r#"READY {"daemon":"sipd","pid":1,"listeners":[]}"#
        );
    }
}
