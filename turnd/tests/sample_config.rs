//! The shipped sample `deploy/turnd/turnd.yaml` (installed as /etc/turnd/turnd.yaml)
//! must load, hold the handbook's values, and keep its commented examples valid.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::IpAddr;
use std::path::PathBuf;

use rtc_userdb::DatabaseConfig;
use turnd::config::{default_listeners, AdminSettings, ListenerProto, TurndConfig};
use turnd::core::config::CoreConfig;

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/turnd/turnd.yaml")
}

fn sample_text() -> String {
    std::fs::read_to_string(sample_path()).unwrap()
}

/// Whether `text` (a line with its comment marker removed) is YAML rather than prose:
/// a list item or `key:` followed by a space or the end of the line.
fn is_yaml(text: &str) -> bool {
    let t = text.trim_start();
    if t.starts_with("- ") {
        return true;
    }
    let key_len = t
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    key_len > 0 && matches!(t.get(key_len..), Some(rest) if rest == ":" || rest.starts_with(": "))
}

/// The sample with every YAML line commented with exactly `marker` uncommented.
fn uncomment(text: &str, marker: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let uncommented = body
            .strip_prefix(marker)
            .filter(|rest| !rest.starts_with('#') && is_yaml(rest));
        match uncommented {
            Some(rest) => {
                out.push_str(indent);
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn sample_loads_with_the_handbook_values() {
    let c = TurndConfig::load(&sample_path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.realm, "falcot.com");
    assert_eq!(
        c.relay.addresses,
        vec!["198.51.100.19".parse::<IpAddr>().unwrap()]
    );
    assert!(c.relay.external.is_empty());
    assert_eq!((c.relay.port_min, c.relay.port_max), (49152, 65535));
    // UDP and TCP on 3478 everywhere; no TLS until a certificate is configured,
    // so the installed file passes --check-config on a fresh machine.
    assert_eq!(c.listeners, default_listeners(false));
    assert!(c
        .listeners
        .iter()
        .all(|l| l.proto != ListenerProto::Tls && l.addr.port() == 3478));
    assert_eq!(c.tls, None);
    assert_eq!(
        c.database,
        DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite")
    );
    assert_eq!(c.metrics.listen, None);
    assert_eq!(c.log, "info");
    assert_eq!(c.workers, 0);
    assert_eq!(c.shutdown_grace_secs, 10);
    // Only the realm differs from the core's secure defaults.
    let core = c.core_config();
    assert_eq!(
        core,
        CoreConfig {
            realm: "falcot.com".into(),
            ..CoreConfig::default()
        }
    );
    assert!(core.auth.long_term && !core.auth.anonymous && core.auth.rest.is_none());
}

#[test]
fn turnadmin_finds_the_same_database_and_realm() {
    let s = AdminSettings::load(&sample_path()).unwrap();
    assert_eq!(s.realm, "falcot.com");
    assert_eq!(
        s.database,
        DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite")
    );
}

#[test]
fn commented_examples_are_valid_keys_and_values() {
    let text = uncomment(&sample_text(), "# ");
    let f = write_temp(&text);
    // Parsing checks every key name and value type; the examples are not one
    // coherent site (NAT mapping, port 443...), so cross-key checks are skipped.
    let s = AdminSettings::load(f.path()).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    match s.database {
        DatabaseConfig::Mysql(m) => {
            assert_eq!(m.url, "mysql://turnd:db_password@db.falcot.com:3306/rtc")
        }
        other => panic!("expected the MySQL example, got {other:?}\n{text}"),
    }
    // The examples really were uncommented.
    for key in [
        "listeners:",
        "tls:",
        "external:",
        "auth:",
        "allocation:",
        "peers:",
        "rfc5780:",
        "limits:",
        "metrics:",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(key)),
            "{key} not uncommented"
        );
    }
}

#[test]
fn alternative_examples_form_a_valid_demo_config() {
    let text = uncomment(&sample_text(), "## ");
    let f = write_temp(&text);
    let c = TurndConfig::load(f.path()).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    let tls = c.tls.clone().unwrap();
    assert_eq!(tls.self_signed.unwrap().names, vec!["localhost".to_owned()]);
    assert_eq!(c.listeners, default_listeners(true));
    assert_eq!(
        c.database,
        DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite")
    );
}

#[test]
fn every_option_is_documented_in_the_sample() {
    let text = sample_text();
    let keys = [
        "realm",
        "software",
        "listeners",
        "proto",
        "addr",
        "tls",
        "certificates",
        "cert",
        "key",
        "names",
        "self_signed",
        "dir",
        "relay",
        "addresses",
        "external",
        "private",
        "public",
        "port_min",
        "port_max",
        "database",
        "sqlite",
        "path",
        "busy_timeout_ms",
        "readers",
        "mysql",
        "url",
        "require_tls",
        "ca_file",
        "max_connections",
        "auth",
        "long_term",
        "rest",
        "static_secrets",
        "database_secrets",
        "separator",
        "anonymous",
        "nonce_lifetime_secs",
        "password_algorithms",
        "key_cache_ttl_secs",
        "key_cache_capacity",
        "max_pending_lookups",
        "lookup_timeout_secs",
        "failure_limit",
        "burst",
        "per_second",
        "allocation",
        "default_lifetime_secs",
        "max_lifetime_secs",
        "user_quota",
        "total_quota",
        "max_bps",
        "max_permissions",
        "max_channels",
        "relay_ipv4",
        "relay_ipv6",
        "tcp_relay",
        "max_tcp_connections",
        "peers",
        "allow",
        "deny",
        "rfc5780",
        "primary",
        "alternate",
        "limits",
        "unauthenticated",
        "max_tracked_sources",
        "max_pending_allocations",
        "tcp_first_message_secs",
        "tcp_max_queued_bytes",
        "tcp_max_connections_per_ip",
        "tcp_connection_rate",
        "tcp_max_frame_bytes",
        "log",
        "workers",
        "metrics",
        "listen",
        "shutdown_grace_secs",
    ];
    for key in keys {
        let documented = text.contains(&format!("{key}:")) || text.contains(&format!("{{ {key}:"));
        assert!(documented, "the sample does not document `{key}`");
    }
}

#[test]
fn uncommenting_keeps_prose_as_comments() {
    let text = "# Prose: not yaml\n# key: 1\n#   - item\n## alt: 2\n#   # nested\n  # inner: 3\n";
    assert_eq!(
        uncomment(text, "# "),
        "# Prose: not yaml\nkey: 1\n  - item\n## alt: 2\n#   # nested\n  inner: 3\n"
    );
    assert_eq!(
        uncomment(text, "## "),
        "# Prose: not yaml\n# key: 1\n#   - item\nalt: 2\n#   # nested\n  # inner: 3\n"
    );
}
