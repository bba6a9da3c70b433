use std::path::Path;

use super::*;

const TLS: &str = "tls: { cert: /etc/xmppd/falcot.com.pem, key: /etc/xmppd/falcot.com.key }";

fn load(dir: &Path, text: &str) -> Result<XmppdConfig, ConfigError> {
    let path = dir.join("xmppd.yaml");
    std::fs::write(&path, text).unwrap();
    XmppdConfig::load(&path)
}

#[test]
fn minimal_file_gets_safe_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(dir.path(), &format!("hosts:\n  - domain: falcot.com\n    {TLS}\n")).unwrap();
    assert_eq!(c.database, DatabaseConfig::sqlite(DEFAULT_SQLITE_PATH));
    assert_eq!(c.listeners, default_listeners());
    assert!(c.listeners.iter().all(|l| l.kind != ListenerKind::S2s));
    assert_eq!(c.core, CoreConfig::default());
    assert_eq!(c.core.limits.c2s_bytes_per_second, 10 * 1024);
    assert_eq!(c.transport, TransportConfig::default());
    let tls = c.tls_config().unwrap();
    assert_eq!(tls.certificates[0].names.as_deref(), Some(&["falcot.com".to_owned()][..]));
}

#[test]
fn drop_in_files_add_hosts_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("conf.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("b.yaml"), format!("domain: b.example\n{TLS}\n")).unwrap();
    std::fs::write(d.join("a.yaml"), format!("domain: a.example\nenabled: false\n{TLS}\n")).unwrap();
    std::fs::write(d.join("README"), "not yaml").unwrap();
    let c = load(
        dir.path(),
        &format!("include: conf.d/*.yaml\nhosts:\n  - domain: falcot.com\n    {TLS}\n"),
    )
    .unwrap();
    let names: Vec<_> = c.hosts.iter().map(|h| (h.domain.as_str(), h.enabled)).collect();
    assert_eq!(names, [("falcot.com", true), ("a.example", false), ("b.example", true)]);
    assert_eq!(c.hosts[1].source.as_deref(), Some(d.join("a.yaml").as_path()));
    assert_eq!(c.tls_config().unwrap().certificates.len(), 2, "disabled hosts serve no certificate");
}

#[test]
fn error_in_drop_in_names_that_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("conf.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("bad.yaml"), format!("domain: bad.example\n{TLS}\nenabeld: true\n")).unwrap();
    let e = load(
        dir.path(),
        &format!("include: conf.d/*.yaml\nhosts:\n  - domain: falcot.com\n    {TLS}\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("conf.d/bad.yaml:3"), "{e}");
    assert!(e.contains("enabeld"), "{e}");
}

#[test]
fn duplicate_host_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("conf.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("dup.yaml"), format!("domain: falcot.com\n{TLS}\n")).unwrap();
    let e = load(
        dir.path(),
        &format!("include: conf.d/*.yaml\nhosts:\n  - domain: falcot.com\n    {TLS}\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("dup.yaml") && e.contains("already declared"), "{e}");
}

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(dir.path(), "hosts: []\nlimits:\n  offline_queu: 3\n").unwrap_err().to_string();
    assert!(e.contains(":3:") && e.contains("limits") && e.contains("offline_queu"), "{e}");
    let e = load(dir.path(), "hosts:\n  - domain: falcot.com\n").unwrap_err().to_string();
    assert!(e.contains("no certificate"), "{e}");
    let e = load(dir.path(), "hosts: []\n").unwrap_err().to_string();
    assert!(e.contains("hosts") && e.contains("no enabled virtual host"), "{e}");
    let e = load(dir.path(), &format!("hosts:\n  - domain: Falcot.COM\n    {TLS}\n")).unwrap_err().to_string();
    assert!(e.contains("hosts[0].domain") && e.contains("falcot.com"), "{e}");
    let e = load(dir.path(), &format!("admins: [falcot.com]\nhosts:\n  - domain: falcot.com\n    {TLS}\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("admins"), "{e}");
}

#[test]
fn listeners_kinds_parse_including_port_443() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(
        dir.path(),
        &format!(
            "listeners:\n  - {{ kind: c2s, addr: \"[::]:5222\" }}\n  - {{ kind: c2s_tls, addr: \"[::]:443\" }}\n  - {{ kind: s2s, addr: \"[::]:5269\" }}\nhosts:\n  - domain: falcot.com\n    {TLS}\n"
        ),
    )
    .unwrap();
    let kinds: Vec<_> = c.listeners.iter().map(|l| (l.kind, l.addr.port())).collect();
    assert_eq!(kinds, [(ListenerKind::C2s, 5222), (ListenerKind::C2sTls, 443), (ListenerKind::S2s, 5269)]);
}
