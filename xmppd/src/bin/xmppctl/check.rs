//! `xmppctl check` (certificates, DNS SRV records) and `xmppctl status`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use hickory_resolver::TokioResolver;
use rtc_userdb::XmppStore;
use xmppd::config::{ListenerKind, XmppdConfig};

use super::Failure;

/// Certificates expiring sooner than this are reported.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Print findings; return the exit status (1 if any problem was found).
pub(super) async fn run(path: &Path, config: &XmppdConfig, dns: bool) -> u8 {
    println!("configuration: OK ({})", path.display());
    let mut problems = 0u32;
    for host in config.enabled_hosts() {
        println!("host {}:", host.domain);
        problems += certificate(host);
        if dns {
            problems += srv_records(config, &host.domain).await;
        }
    }
    for host in config.hosts.iter().filter(|h| !h.enabled) {
        println!("host {}: disabled", host.domain);
    }
    if problems == 0 {
        println!("all checks passed");
        0
    } else {
        println!("{problems} problem(s) found");
        1
    }
}

fn certificate(host: &xmppd::config::HostConfig) -> u32 {
    let Some(tls) = &host.tls else {
        println!("  certificate: none configured (clients cannot use TLS)");
        return 1;
    };
    let chain = match rtc_tls::inspect_pem_file(&tls.cert) {
        Ok(c) => c,
        Err(e) => {
            println!("  certificate: {e}");
            return 1;
        }
    };
    let Some(leaf) = chain.first() else {
        println!("  certificate: {} holds no certificate", tls.cert.display());
        return 1;
    };
    let mut problems = 0;
    let now = SystemTime::now();
    match leaf.remaining(now) {
        None => {
            println!("  certificate: EXPIRED ({})", tls.cert.display());
            problems += 1;
        }
        Some(left) if left < EXPIRY_WARNING => {
            println!("  certificate: expires in {} day(s), renew it soon", left.as_secs() / 86_400);
            problems += 1;
        }
        Some(left) => println!("  certificate: valid for {} more day(s)", left.as_secs() / 86_400),
    }
    if !leaf.is_valid_at(now) && leaf.remaining(now).is_some() {
        println!("  certificate: not valid yet");
        problems += 1;
    }
    if leaf.covers(&host.domain) {
        println!("  certificate: covers {}", host.domain);
    } else {
        println!(
            "  certificate: does NOT cover {} (names: {})",
            host.domain,
            leaf.dns_names.join(", ")
        );
        problems += 1;
    }
    problems
}

fn port_of(config: &XmppdConfig, kind: ListenerKind) -> Option<u16> {
    config.listeners.iter().find(|l| l.kind == kind).map(|l| l.addr.port())
}

async fn srv_records(config: &XmppdConfig, domain: &str) -> u32 {
    let resolver = match TokioResolver::builder_tokio() {
        Ok(b) => b.build(),
        Err(e) => {
            println!("  DNS: cannot read the resolver configuration: {e}");
            return 1;
        }
    };
    let mut problems = 0;
    for (service, kind, required) in [
        ("_xmpp-client._tcp", ListenerKind::C2s, true),
        ("_xmpps-client._tcp", ListenerKind::C2sTls, false),
        ("_xmpp-server._tcp", ListenerKind::S2s, false),
    ] {
        let name = format!("{service}.{domain}.");
        let expected = port_of(config, kind);
        let found: Vec<String> = match resolver.srv_lookup(name.as_str()).await {
            Ok(l) => l
                .iter()
                .map(|s| format!("{} {} {} {}", s.priority(), s.weight(), s.port(), s.target()))
                .collect(),
            Err(_) => Vec::new(),
        };
        match (found.is_empty(), expected) {
            (false, _) => println!("  DNS {name} SRV: {}", found.join("; ")),
            (true, Some(port)) => {
                println!("  DNS {name} SRV: none found; expected e.g. `{name} 3600 IN SRV 0 5 {port} {domain}.`");
                if required {
                    problems += 1;
                }
            }
            (true, None) => println!("  DNS {name} SRV: none (no {} listener, none needed)", kind.service()),
        }
    }
    problems
}

/// Whether xmppd answers on its c2s port, and how many accounts exist.
pub(super) async fn status(config: &XmppdConfig) -> Result<u8, Failure> {
    let target = config
        .listeners
        .iter()
        .find(|l| l.kind == ListenerKind::C2s)
        .or_else(|| config.listeners.first())
        .map(|l| local_target(l.addr));
    let running = match target {
        Some(addr) => matches!(
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
            Ok(Ok(_))
        ),
        None => false,
    };
    match (running, target) {
        (true, Some(a)) => println!("xmppd is running (accepting connections on {a})"),
        (_, a) => println!(
            "xmppd is not running (nothing accepts connections on {})",
            a.map_or_else(|| "-".to_owned(), |a| a.to_string())
        ),
    }
    let db = super::dbfile::open(&config.database).await?;
    let counted = count_accounts(config, &db.xmpp()).await;
    super::dbfile::close(db, &config.database).await?;
    counted?;
    Ok(if running { 0 } else { 3 })
}

async fn count_accounts(config: &XmppdConfig, store: &XmppStore) -> Result<(), Failure> {
    for host in &config.hosts {
        let n = store.account_count(Some(&host.domain)).await?;
        let state = if host.enabled { "" } else { " (disabled)" };
        println!("{}{state}: {n} account(s)", host.domain);
    }
    Ok(())
}

/// A wildcard listening address is reached through loopback.
fn local_target(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}
