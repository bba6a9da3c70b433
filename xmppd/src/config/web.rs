//! `web:`: limits of the `https`/`http` listeners (WebSocket, BOSH,
//! host-meta, HTTP upload). Every key is optional.

use serde::Deserialize;

/// Limits of the web listeners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Largest request head (request line and headers). Default: 8192.
    pub max_header_bytes: usize,
    /// Largest request body other than an upload (BOSH). Default: 65536.
    pub max_body_bytes: usize,
    /// Concurrent HTTP connections over all web listeners. Default: 4096.
    pub max_connections: usize,
    /// Seconds to wait for a complete request head, and idle time between
    /// requests on a kept-alive connection. Default: 30.
    pub request_seconds: u64,
    /// Largest WebSocket message (one stanza, RFC 7395 §3.3.3). Default:
    /// 262144 (the stanza limit after authentication).
    pub websocket_max_message_bytes: usize,
    /// The path of XMPP over WebSocket. Default: `/xmpp-websocket`.
    pub websocket_path: String,
    /// The path of BOSH. Default: `/http-bind`.
    pub bosh_path: String,
    /// Serve BOSH (XEP-0124/0206). Default: true.
    pub bosh: bool,
    /// Serve XMPP over WebSocket (RFC 7395). Default: true.
    pub websocket: bool,
    /// Public URL of the WebSocket endpoint announced in host-meta
    /// (`{domain}` is replaced). Default: `wss://{domain}:5281/xmpp-websocket`.
    pub websocket_url: String,
    /// Public URL of the BOSH endpoint announced in host-meta, or empty
    /// to announce none. Default: empty.
    pub bosh_url: String,
    /// BOSH sessions from one address at once. Default: 16.
    pub bosh_max_sessions_per_ip: usize,
    /// BOSH requests per second from one address (bursts of twice this).
    /// Default: 20.
    pub bosh_requests_per_second: u32,
    /// Longest time the server holds a BOSH request (the client's `wait`
    /// is capped to it, XEP-0124 §7.1). Default: 60.
    pub bosh_max_wait_seconds: u64,
    /// Seconds without a request before a BOSH session ends (`inactivity`).
    /// Default: 60.
    pub bosh_inactivity_seconds: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 8192,
            max_body_bytes: 65_536,
            max_connections: 4096,
            request_seconds: 30,
            websocket_max_message_bytes: 262_144,
            websocket_path: "/xmpp-websocket".into(),
            bosh_path: "/http-bind".into(),
            bosh: true,
            websocket: true,
            websocket_url: "wss://{domain}:5281/xmpp-websocket".into(),
            bosh_url: String::new(),
            bosh_max_sessions_per_ip: 16,
            bosh_requests_per_second: 20,
            bosh_max_wait_seconds: 60,
            bosh_inactivity_seconds: 60,
        }
    }
}

impl WebConfig {
    /// Cross-key checks; the error names the key.
    pub(crate) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1024..=1_048_576).contains(&self.max_header_bytes) {
            return Err(("web.max_header_bytes", "must be between 1024 and 1048576"));
        }
        if self.max_connections == 0 {
            return Err(("web.max_connections", "must be at least 1"));
        }
        if self.request_seconds == 0 {
            return Err(("web.request_seconds", "must be at least 1"));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.websocket_max_message_bytes) {
            return Err((
                "web.websocket_max_message_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if self.bosh_max_sessions_per_ip == 0 {
            return Err(("web.bosh_max_sessions_per_ip", "must be at least 1"));
        }
        if self.bosh_requests_per_second == 0 {
            return Err(("web.bosh_requests_per_second", "must be at least 1"));
        }
        if !(1..=3600).contains(&self.bosh_max_wait_seconds) {
            return Err(("web.bosh_max_wait_seconds", "must be between 1 and 3600"));
        }
        if !(1..=86_400).contains(&self.bosh_inactivity_seconds) {
            return Err(("web.bosh_inactivity_seconds", "must be between 1 and 86400"));
        }
        if !self.bosh_path.starts_with('/') {
            return Err(("web.bosh_path", "must start with /"));
        }
        if !self.websocket_path.starts_with('/') {
            return Err(("web.websocket_path", "must start with /"));
        }
        Ok(())
    }
}
