//! Checks that need more than one key, run after parsing; each error names the key.

use std::collections::HashSet;
use std::path::Path;

use super::{ConfigError, ListenerProto, SipdConfig};

/// Most runtime threads accepted.
const MAX_WORKERS: usize = 256;
/// Longest drain accepted on shutdown, in seconds.
const MAX_SHUTDOWN_GRACE_SECS: u64 = 3600;
/// Most listeners (the core numbers them with a `u16`).
const MAX_LISTENERS: usize = 1024;
/// Smallest accepted `connections.max_message_bytes`: a REGISTER with a few
/// contacts must fit.
const MIN_MESSAGE_BYTES: usize = 4096;
/// Largest accepted `connections.max_message_bytes` (the UDP maximum).
const MAX_MESSAGE_BYTES: usize = 65_535;
/// Longest WebSocket path.
const MAX_WS_PATH: usize = 256;

type Check = Result<(), (String, String)>;

fn err(key: impl Into<String>, message: impl Into<String>) -> Check {
    Err((key.into(), message.into()))
}

/// Validate `config`.
pub(super) fn check(path: &Path, config: &SipdConfig) -> Result<(), ConfigError> {
    let steps: [fn(&SipdConfig) -> Check; 4] = [general, listeners, connections, core];
    for step in steps {
        step(config).map_err(|(key, message)| ConfigError::invalid(path, key, message))?;
    }
    Ok(())
}

fn general(c: &SipdConfig) -> Check {
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&c.log) {
        return err("log", format!("not a valid log filter: {e}"));
    }
    if c.workers > MAX_WORKERS {
        return err("workers", format!("at most {MAX_WORKERS} (0 = one per CPU core)"));
    }
    if c.shutdown_grace_secs > MAX_SHUTDOWN_GRACE_SECS {
        return err("shutdown_grace_secs", format!("at most {MAX_SHUTDOWN_GRACE_SECS}"));
    }
    if c.db_poll_secs == 0 || c.db_poll_secs > 3600 {
        return err("db_poll_secs", "between 1 and 3600");
    }
    Ok(())
}

fn listeners(c: &SipdConfig) -> Check {
    if c.listeners.is_empty() {
        return err("listeners", "at least one listener is needed");
    }
    if c.listeners.len() > MAX_LISTENERS {
        return err("listeners", format!("at most {MAX_LISTENERS}"));
    }
    let mut seen = HashSet::new();
    for (i, l) in c.listeners.iter().enumerate() {
        let key = |k: &str| format!("listeners[{i}].{k}");
        // UDP and a stream transport may share a port; two stream sockets may not.
        let stream = l.proto != ListenerProto::Udp;
        if l.addr.port() != 0 && !seen.insert((stream, l.addr)) {
            return err("listeners", format!("{} is listed twice", l.addr));
        }
        match (&l.tls, l.proto.needs_tls()) {
            (None, true) => return err(key("tls"), format!("a {} listener needs tls.certificates", l.proto.proto())),
            (Some(_), false) => {
                return err(key("tls"), format!("a {} listener does not use TLS; remove tls", l.proto.proto()))
            }
            (Some(t), true) if t.certificates.is_empty() => {
                return err(key("tls.certificates"), "list at least one certificate")
            }
            _ => {}
        }
        if let Some(p) = &l.ws_path {
            if !l.proto.is_websocket() {
                return err(key("ws_path"), "only ws and wss listeners have a path");
            }
            if !p.starts_with('/') || p.len() > MAX_WS_PATH || !p.bytes().all(|b| b.is_ascii_graphic()) {
                return err(key("ws_path"), "an absolute path such as / or /sip, printable ASCII, no spaces");
            }
        }
        if let Some(a) = &l.advertised {
            if a.is_empty() || a.len() > 255 || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) {
                return err(key("advertised"), "a host name or address, optionally with :port");
            }
        }
        if let Some(rr) = &l.record_route {
            if let Some(problem) = record_route_problem(rr) {
                return err(key("record_route"), problem);
            }
        }
    }
    Ok(())
}

/// Why `uri` cannot be a Record-Route URI, if it cannot.
fn record_route_problem(uri: &str) -> Option<&'static str> {
    let lower = uri.to_ascii_lowercase();
    let rest = lower.strip_prefix("sip:").or_else(|| lower.strip_prefix("sips:"));
    let Some(rest) = rest else { return Some("must be a sip: or sips: URI such as sip:sip.falcot.com;transport=tls") };
    if rest.is_empty() || rest.contains('@') {
        return Some("must name a host and have no user part");
    }
    if uri.len() > 512 || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("must be printable ASCII without spaces, at most 512 bytes");
    }
    match rtc_sip::Uri::parse(uri.as_bytes()) {
        Ok(_) => None,
        Err(_) => Some("is not a valid SIP URI"),
    }
}

fn connections(c: &SipdConfig) -> Check {
    let l = &c.connections;
    for (name, zero) in [
        ("max_per_ip", l.max_per_ip == 0),
        ("max_total", l.max_total == 0),
        ("handshake_secs", l.handshake_secs == 0),
        ("message_secs", l.message_secs == 0),
        ("idle_secs", l.idle_secs == 0),
        ("max_queued_bytes", l.max_queued_bytes == 0),
        ("accept_rate.burst", l.accept_rate.burst == 0),
    ] {
        if zero {
            return err(format!("connections.{name}"), "must be positive");
        }
    }
    if !(l.accept_rate.per_second > 0.0 && l.accept_rate.per_second.is_finite()) {
        return err("connections.accept_rate.per_second", "must be positive");
    }
    if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&l.max_message_bytes) {
        return err(
            "connections.max_message_bytes",
            format!("between {MIN_MESSAGE_BYTES} and {MAX_MESSAGE_BYTES}"),
        );
    }
    if l.max_queued_bytes < l.max_message_bytes {
        return err("connections.max_queued_bytes", "must be at least connections.max_message_bytes");
    }
    Ok(())
}

fn core(c: &SipdConfig) -> Check {
    use crate::core::{Error, RouteProblem};
    match c.core.validate() {
        Ok(()) => {}
        Err(Error::InvalidTimers) => return err("timers", Error::InvalidTimers.to_string()),
        Err(Error::ZeroLimit(name)) => {
            let key = if name.contains('.') { name.to_owned() } else { format!("limits.{name}") };
            return err(key, "must be positive");
        }
        Err(Error::InvalidRegistrar) => return err("registrar", Error::InvalidRegistrar.to_string()),
        Err(Error::InvalidAuth) => return err("auth", Error::InvalidAuth.to_string()),
        Err(Error::InvalidDomain(d)) => return err("domains", format!("{d:?} is not a valid host name")),
        Err(e) => return err("", e.to_string()),
    }
    for (index, r) in c.core.routes.iter().enumerate() {
        let key = format!("routes[{index}]");
        let problem = match (&r.user_prefix, &r.user_regex) {
            (Some(_), Some(_)) | (None, None) => Some(RouteProblem::Match),
            (None, Some(re)) if regex::Regex::new(re).is_err() => Some(RouteProblem::Regex),
            _ => None,
        };
        if let Some(p) = problem {
            return err(key, p.to_string());
        }
        let d = r.destination.to_ascii_lowercase();
        if !(d.starts_with("sip:") || d.starts_with("sips:")) || rtc_sip::Uri::parse(r.destination.as_bytes()).is_err() {
            return err(format!("{key}.destination"), RouteProblem::Destination.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::record_route_problem;

    #[test]
    fn record_route_uris_are_checked() {
        assert_eq!(record_route_problem("sip:sip.falcot.com;transport=tls"), None);
        assert_eq!(record_route_problem("sips:[2001:db8::1]:5061"), None);
        assert!(record_route_problem("http://x").is_some());
        assert!(record_route_problem("sip:alice@x").is_some());
        assert!(record_route_problem("sip:").is_some());
        assert!(record_route_problem("sip:a b").is_some());
    }
}
