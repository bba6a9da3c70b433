//! Checks that need more than one key, run after parsing; each error names the key.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use super::{ConfigError, ListenerProto, TurndConfig};

/// Most worker threads accepted.
const MAX_WORKERS: usize = 256;
/// Longest drain accepted on shutdown, in seconds.
const MAX_SHUTDOWN_GRACE_SECS: u64 = 3600;
/// REALM: fewer than 128 characters and at most 763 bytes (RFC 8489 §14.9).
const MAX_REALM_CHARS: usize = 127;
/// SOFTWARE: fewer than 128 characters (RFC 8489 §14.14).
const MAX_SOFTWARE_CHARS: usize = 127;

/// Longest `limits.tcp_first_message_secs` accepted.
const MAX_TCP_FIRST_MESSAGE_SECS: u64 = 3600;
/// Shortest `limits.tcp_max_frame_bytes`: a STUN message must fit in 576 bytes
/// (RFC 8489 §6.1), so no shorter frame limit can serve every client.
const MIN_TCP_FRAME_BYTES: usize = 576;
/// Smallest `limits.tcp_max_queued_bytes`: one relayed frame of the largest size.
const MIN_TCP_QUEUED_BYTES: usize = 1 << 16;

type Check = Result<(), (&'static str, String)>;

/// Validate `config` and fill in `relay.addresses` when it was left empty.
pub(super) fn check(path: &Path, config: &mut TurndConfig) -> Result<(), ConfigError> {
    let steps: [fn(&mut TurndConfig) -> Check; 9] = [
        general,
        stream_limits,
        listeners,
        tls,
        relay_ports,
        relay_addresses,
        external,
        core_identity,
        core_policy,
    ];
    for step in steps {
        step(config).map_err(|(key, message)| ConfigError::invalid(path, key, message))?;
    }
    Ok(())
}

fn stream_limits(c: &mut TurndConfig) -> Check {
    let l = &c.stream_limits;
    if !(1..=MAX_TCP_FIRST_MESSAGE_SECS).contains(&l.tcp_first_message_secs) {
        return Err((
            "limits.tcp_first_message_secs",
            format!("must be 1 to {MAX_TCP_FIRST_MESSAGE_SECS}"),
        ));
    }
    if l.tcp_max_queued_bytes < MIN_TCP_QUEUED_BYTES {
        return Err((
            "limits.tcp_max_queued_bytes",
            format!("must be at least {MIN_TCP_QUEUED_BYTES}"),
        ));
    }
    if l.tcp_max_connections_per_ip == 0 {
        return Err(("limits.tcp_max_connections_per_ip", "must be at least 1".into()));
    }
    let rate = &l.tcp_connection_rate;
    if rate.burst == 0 || !rate.per_second.is_finite() || rate.per_second < 0.0 {
        return Err((
            "limits.tcp_connection_rate",
            "burst must be at least 1 and per_second a number of 0 or more".into(),
        ));
    }
    let max_frame = rtc_stun::MAX_MESSAGE_LEN;
    if !(MIN_TCP_FRAME_BYTES..=max_frame).contains(&l.tcp_max_frame_bytes) {
        return Err((
            "limits.tcp_max_frame_bytes",
            format!("must be {MIN_TCP_FRAME_BYTES} to {max_frame}"),
        ));
    }
    Ok(())
}

fn general(c: &mut TurndConfig) -> Check {
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&c.log) {
        return Err(("log", format!("not a valid log filter: {e}")));
    }
    if c.workers > MAX_WORKERS {
        return Err((
            "workers",
            format!("at most {MAX_WORKERS} (0 = one per CPU core)"),
        ));
    }
    if c.shutdown_grace_secs > MAX_SHUTDOWN_GRACE_SECS {
        return Err((
            "shutdown_grace_secs",
            format!("at most {MAX_SHUTDOWN_GRACE_SECS}"),
        ));
    }
    Ok(())
}

fn listeners(c: &mut TurndConfig) -> Check {
    if c.listeners.is_empty() {
        return Err(("listeners", "at least one listener is needed".into()));
    }
    let mut seen = HashSet::new();
    for l in &c.listeners {
        // UDP and TCP may share a port; two sockets of one transport may not.
        let stream = l.proto != ListenerProto::Udp;
        if l.addr.port() != 0 && !seen.insert((stream, l.addr)) {
            return Err(("listeners", format!("{} is listed twice", l.addr)));
        }
    }
    Ok(())
}

fn tls(c: &mut TurndConfig) -> Check {
    let wants_tls = c.listeners.iter().any(|l| l.proto == ListenerProto::Tls);
    let (certs, self_signed) = match &c.tls {
        Some(t) => (!t.certificates.is_empty(), t.self_signed.as_ref()),
        None => (false, None),
    };
    if certs && self_signed.is_some() {
        return Err((
            "tls.self_signed",
            "set either tls.certificates or tls.self_signed, not both".into(),
        ));
    }
    if let Some(s) = self_signed {
        if s.names.is_empty() {
            return Err(("tls.self_signed.names", "list at least one name".into()));
        }
    }
    if wants_tls && !certs && self_signed.is_none() {
        return Err((
            "tls.certificates",
            "a tls listener needs tls.certificates (or tls.self_signed for a demo)".into(),
        ));
    }
    Ok(())
}

fn relay_ports(c: &mut TurndConfig) -> Check {
    let r = &c.relay;
    if r.port_min == 0 {
        return Err(("relay.port_min", "must be at least 1".into()));
    }
    if r.port_min > r.port_max {
        return Err((
            "relay.port_min",
            format!("{} is above relay.port_max {}", r.port_min, r.port_max),
        ));
    }
    Ok(())
}

fn relay_addresses(c: &mut TurndConfig) -> Check {
    if c.relay.addresses.is_empty() {
        let udp: Vec<IpAddr> = c
            .listeners
            .iter()
            .filter(|l| l.proto == ListenerProto::Udp)
            .map(|l| l.addr.ip())
            .collect();
        let from: Vec<IpAddr> = if udp.is_empty() {
            c.listeners.iter().map(|l| l.addr.ip()).collect()
        } else {
            udp
        };
        if let Some(any) = from.iter().find(|ip| ip.is_unspecified()) {
            return Err((
                "relay.addresses",
                format!(
                    "a listener is on the wildcard address {any}, so the relay address cannot \
                     be guessed: set relay.addresses to this server's IP address(es)"
                ),
            ));
        }
        for ip in from {
            if !c.relay.addresses.contains(&ip) {
                c.relay.addresses.push(ip);
            }
        }
    }
    let mut seen = HashSet::new();
    for ip in &c.relay.addresses {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err((
                "relay.addresses",
                format!("{ip} cannot be a relay address: give this server's unicast IP"),
            ));
        }
        if !seen.insert(*ip) {
            return Err(("relay.addresses", format!("{ip} is listed twice")));
        }
    }
    Ok(())
}

fn external(c: &mut TurndConfig) -> Check {
    let local: HashSet<IpAddr> = c
        .relay
        .addresses
        .iter()
        .copied()
        .chain(c.listeners.iter().map(|l| l.addr.ip()))
        .collect();
    let mut seen = HashSet::new();
    for m in &c.relay.external {
        if m.private.is_ipv4() != m.public.is_ipv4() {
            return Err((
                "relay.external",
                format!(
                    "{} and {} are not of the same IP family",
                    m.private, m.public
                ),
            ));
        }
        if m.public.is_unspecified() || m.public.is_multicast() {
            return Err((
                "relay.external",
                format!("public address {} is not unicast", m.public),
            ));
        }
        if !local.contains(&m.private) {
            return Err((
                "relay.external",
                format!(
                    "private address {} is neither a relay nor a listener address",
                    m.private
                ),
            ));
        }
        if !seen.insert(m.private) {
            return Err(("relay.external", format!("{} is mapped twice", m.private)));
        }
    }
    Ok(())
}

fn core_identity(c: &mut TurndConfig) -> Check {
    let realm = &c.realm;
    if realm.is_empty() || realm.chars().count() > MAX_REALM_CHARS || realm.len() > 763 {
        return Err((
            "realm",
            format!("must be 1 to {MAX_REALM_CHARS} characters"),
        ));
    }
    if realm.chars().any(char::is_control) || realm.contains('"') {
        return Err((
            "realm",
            "must not contain control characters or quotes".into(),
        ));
    }
    if let Some(s) = &c.software {
        if s.chars().count() > MAX_SOFTWARE_CHARS || s.chars().any(char::is_control) {
            return Err((
                "software",
                format!("at most {MAX_SOFTWARE_CHARS} printable characters (or null)"),
            ));
        }
    }
    Ok(())
}

fn core_policy(c: &mut TurndConfig) -> Check {
    let a = &c.auth;
    if !a.long_term && a.rest.is_none() && !a.anonymous {
        return Err((
            "auth",
            "no way to authenticate: enable auth.long_term or auth.rest".into(),
        ));
    }
    if let Some(rest) = &a.rest {
        if rest.static_secrets.is_empty() && !rest.database_secrets {
            return Err((
                "auth.rest",
                "list static_secrets or set database_secrets: true".into(),
            ));
        }
        if rest.static_secrets.iter().any(String::is_empty) {
            return Err(("auth.rest.static_secrets", "a secret is empty".into()));
        }
    }
    if a.password_algorithms.is_empty() {
        return Err((
            "auth.password_algorithms",
            "list at least one algorithm".into(),
        ));
    }
    if a.nonce_lifetime_secs == 0 {
        return Err(("auth.nonce_lifetime_secs", "must be at least 1".into()));
    }
    let al = &c.allocation;
    if al.default_lifetime_secs == 0 {
        return Err((
            "allocation.default_lifetime_secs",
            "must be at least 1".into(),
        ));
    }
    if al.default_lifetime_secs > al.max_lifetime_secs {
        return Err((
            "allocation.default_lifetime_secs",
            "must not exceed allocation.max_lifetime_secs".into(),
        ));
    }
    if !al.relay_ipv4 && !al.relay_ipv6 {
        return Err((
            "allocation.relay_ipv4",
            "relay_ipv4 and relay_ipv6 are both off: nothing could be allocated".into(),
        ));
    }
    if let Some(r) = &c.rfc5780 {
        if r.primary.is_ipv4() != r.alternate.is_ipv4() {
            return Err((
                "rfc5780.alternate",
                "must be of the same IP family as primary".into(),
            ));
        }
        if r.primary.ip() == r.alternate.ip() || r.primary.port() == r.alternate.port() {
            return Err((
                "rfc5780.alternate",
                "needs a second IP address and a second port, both different from primary".into(),
            ));
        }
        // CHANGE-REQUEST answers leave from the other IP and/or port (RFC 5780
        // §6.1): every combination needs a UDP socket to send from.
        for ip in [r.primary.ip(), r.alternate.ip()] {
            for port in [r.primary.port(), r.alternate.port()] {
                let covered = c.listeners.iter().any(|l| {
                    l.proto == ListenerProto::Udp
                        && l.addr.port() == port
                        && (l.addr.ip() == ip
                            || (l.addr.ip().is_unspecified() && l.addr.is_ipv4() == ip.is_ipv4()))
                });
                if !covered {
                    let missing = std::net::SocketAddr::new(ip, port);
                    return Err((
                        "rfc5780",
                        format!(
                            "no UDP listener on {missing}: list all four combinations of the primary and \
                             alternate IPs and ports under listeners"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
