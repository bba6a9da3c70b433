//! The shipped sample `deploy/sipd/sipd.yaml` (installed as /etc/sipd/sipd.yaml)
//! must load, hold the handbook's values, document the real defaults, and
//! keep its commented examples valid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::PathBuf;

use rtc_userdb::DatabaseConfig;
use sipd::config::{ConnectionLimits, ListenerProto, SipdConfig, DEFAULT_SECRET_PATH, DEFAULT_SQLITE_PATH};
use sipd::core::CoreConfig;

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/sipd/sipd.yaml")
}

fn sample_text() -> String {
    std::fs::read_to_string(sample_path()).unwrap()
}

/// Whether `text` (a line with its comment marker removed) is YAML rather than prose.
fn is_yaml(text: &str) -> bool {
    let t = text.trim_start();
    if t.starts_with("- ") {
        return true;
    }
    let key_len = t.bytes().take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_').count();
    key_len > 0 && matches!(t.get(key_len..), Some(rest) if rest == ":" || rest.starts_with(": "))
}

/// The sample with every YAML line commented with exactly `marker` uncommented.
fn uncomment(text: &str, marker: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        match body.strip_prefix(marker).filter(|rest| !rest.starts_with('#') && is_yaml(rest)) {
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

fn write_temp(dir: &std::path::Path, text: &str) -> PathBuf {
    let p = dir.join("sipd.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn sample_loads_with_the_handbook_values_and_passes_check_config() {
    let c = SipdConfig::load(&sample_path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.core.domains, vec!["sip.falcot.com".to_owned()]);
    assert_eq!(c.database, DatabaseConfig::sqlite(DEFAULT_SQLITE_PATH));
    assert_eq!(c.secret_file, PathBuf::from(DEFAULT_SECRET_PATH));
    let listeners: Vec<_> = c.listeners.iter().map(|l| (l.proto, l.addr.to_string())).collect();
    assert_eq!(
        listeners,
        vec![
            (ListenerProto::Udp, "0.0.0.0:5060".to_owned()),
            (ListenerProto::Udp, "[::]:5060".to_owned()),
            (ListenerProto::Tcp, "0.0.0.0:5060".to_owned()),
            (ListenerProto::Tcp, "[::]:5060".to_owned()),
        ]
    );
    // No certificate is needed on a fresh machine.
    sipd::shell::check_certificates(&sample_path(), &c).unwrap();
    let mut core = c.core.clone();
    core.domains.clear();
    assert_eq!(core, CoreConfig::default());
}

#[test]
fn commented_examples_are_valid_and_show_the_real_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = rtc_tls::ensure_self_signed(&dir.path().join("tls"), &["sip.falcot.com".to_owned()]).unwrap();
    let text = sample_text()
        .replace("/etc/sipd/sip.falcot.com.pem", &cert.display().to_string())
        .replace("/etc/sipd/sip.falcot.com.key", &key.display().to_string());
    let path = write_temp(dir.path(), &uncomment(&text, "# "));
    let c = SipdConfig::load(&path).unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&path).unwrap()));
    sipd::shell::check_certificates(&path, &c).unwrap();
    let tls: Vec<_> = c.listeners.iter().filter(|l| l.proto == ListenerProto::Tls).collect();
    let wss: Vec<_> = c.listeners.iter().filter(|l| l.proto == ListenerProto::Wss).collect();
    assert_eq!(tls.len(), 2);
    assert_eq!(wss.len(), 2);
    assert!(tls.iter().all(|l| l.addr.port() == 5061));
    assert!(wss.iter().all(|l| l.addr.port() == 8443 && l.ws_path() == "/"));
    assert_eq!(tls[0].record_route.as_deref(), Some("sip:sip.falcot.com:5061;transport=tls"));
    // The values shown as defaults are the defaults.
    let d = CoreConfig::default();
    assert_eq!(c.connections, ConnectionLimits::default());
    assert_eq!(c.location, sipd::config::LocationConfig::default());
    assert_eq!(c.core.registrar, d.registrar);
    assert_eq!(c.core.auth, d.auth);
    assert_eq!(c.core.limits, d.limits);
    assert_eq!(c.core.timers, d.timers);
    assert_eq!(c.core.flood, d.flood);
    assert_eq!((c.core.record_route, c.core.flow_tokens, c.core.force_rport), (d.record_route, d.flow_tokens, d.force_rport));
    assert_eq!(c.core.server_header, d.server_header);
    assert_eq!(c.db_poll_secs, 5);
    assert_eq!(c.shutdown_grace_secs, 10);
    assert_eq!(c.core.routes.len(), 2);
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9642".parse().unwrap()));
}

#[test]
fn the_mysql_alternative_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), &uncomment(&sample_text(), "## "));
    let c = SipdConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(c.database, DatabaseConfig::Mysql(_)));
}
