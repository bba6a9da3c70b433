use std::path::Path;

use super::*;

const PATH: &str = "/etc/sipd/sipd.yaml";

fn load(text: &str) -> SipdConfig {
    SipdConfig::from_yaml_str(Path::new(PATH), text).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    SipdConfig::from_yaml_str(Path::new(PATH), text).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_safe_defaults() {
    let c = load("# nothing\n");
    assert_eq!(c.log, "info");
    assert_eq!(c.database, DatabaseConfig::sqlite(DEFAULT_SQLITE_PATH));
    assert_eq!(c.listeners, default_listeners());
    assert_eq!(c.listeners.len(), 4);
    assert!(c.listeners.iter().all(|l| l.addr.port() == 5060 && !l.proto.needs_tls()));
    assert_eq!(c.connections, ConnectionLimits::default());
    assert_eq!(c.db_poll_secs, 5);
    assert_eq!(c.metrics.listen, None);
    assert_eq!(c.core, CoreConfig::default());
}

#[test]
fn repro_style_listeners_parse_with_their_certificates_and_record_routes() {
    let c = load(
        "domains: [SIP.Falcot.com]\n\
         listeners:\n\
         \x20 - proto: tls\n\
         \x20   addr: \"[::]:5061\"\n\
         \x20   record_route: \"sip:sip.falcot.com;transport=tls\"\n\
         \x20   tls: { certificates: [ { cert: /etc/sipd/sip.pem, key: /etc/sipd/sip.key } ] }\n\
         \x20 - proto: wss\n\
         \x20   addr: 0.0.0.0:8443\n\
         \x20   ws_path: /sip\n\
         \x20   tls: { certificates: [ { cert: /etc/sipd/ws.pem, key: /etc/sipd/ws.key } ] }\n\
         \x20 - { proto: tcp, addr: \"192.168.0.1:5060\", advertised: \"pbx-gw.falcot.com\" }\n\
         auth: { algorithms: [MD5] }\n\
         flood: { requests: 100 }\n\
         routes:\n\
         \x20 - { user_prefix: \"0\", strip: 1, prepend: \"+33\", destination: \"sip:trunk.example.net\" }\n",
    );
    assert_eq!(c.core.domains, vec!["sip.falcot.com".to_owned()]);
    assert_eq!(c.listeners.len(), 3);
    let tls = &c.listeners[0];
    assert_eq!(tls.proto, ListenerProto::Tls);
    assert_eq!(tls.record_route.as_deref(), Some("sip:sip.falcot.com;transport=tls"));
    assert_eq!(tls.tls.as_ref().unwrap().certificates.len(), 1);
    assert_eq!(c.listeners[1].ws_path(), "/sip");
    assert_eq!(c.listeners[2].ws_path(), "/");
    assert_eq!(c.listeners[2].advertised.as_deref(), Some("pbx-gw.falcot.com"));
    assert_eq!(c.core.flood.requests, 100);
    assert_eq!(c.core.flood.window_secs, 2);
    assert_eq!(c.core.routes.len(), 1);
}

#[test]
fn unknown_keys_are_named_with_file_line_and_key() {
    let e = error("domains: [falcot.com]\nlisteners:\n  - proto: udp\n    addr: 0.0.0.0:5060\n    recordroute: x\n");
    assert!(e.starts_with("/etc/sipd/sipd.yaml:5:5: listeners[0].recordroute: unknown field"), "{e}");
    let e = error("registrar:\n  max_expire: 10\n");
    assert!(e.starts_with("/etc/sipd/sipd.yaml:2:3: registrar.max_expire: unknown field"), "{e}");
    let e = error("listeners:\n  - { proto: sctp, addr: \"0.0.0.0:1\" }\n");
    assert!(e.starts_with("/etc/sipd/sipd.yaml:2:"), "{e}");
    assert!(e.contains("listeners[0].proto"), "{e}");
}

#[test]
fn validation_errors_name_the_key() {
    let cases = [
        ("listeners: []", "listeners: at least one listener"),
        ("listeners: [ { proto: tls, addr: \"0.0.0.0:5061\" } ]", "listeners[0].tls: a tls listener needs"),
        ("listeners: [ { proto: wss, addr: \"0.0.0.0:8443\" } ]", "listeners[0].tls: a wss listener needs"),
        (
            "listeners: [ { proto: udp, addr: \"0.0.0.0:5060\", tls: { certificates: [] } } ]",
            "listeners[0].tls: a udp listener does not use TLS",
        ),
        ("listeners: [ { proto: tcp, addr: \"0.0.0.0:5060\", ws_path: /x } ]", "listeners[0].ws_path: only ws"),
        ("listeners: [ { proto: ws, addr: \"0.0.0.0:80\", ws_path: x } ]", "listeners[0].ws_path: an absolute path"),
        (
            "listeners: [ { proto: tcp, addr: \"0.0.0.0:5060\" }, { proto: tcp, addr: \"0.0.0.0:5060\" } ]",
            "listeners: 0.0.0.0:5060 is listed twice",
        ),
        (
            "listeners: [ { proto: tcp, addr: \"0.0.0.0:5060\", record_route: \"sip:u@h\" } ]",
            "listeners[0].record_route: must name a host and have no user part",
        ),
        ("domains: [\"bad domain\"]", "domains: \"bad domain\" is not a valid host name"),
        ("timers: { t1_ms: 0 }", "timers: "),
        ("limits: { max_branches: 0 }", "limits.max_branches: must be positive"),
        ("connections: { max_per_ip: 0 }", "connections.max_per_ip: must be positive"),
        ("connections: { max_message_bytes: 100 }", "connections.max_message_bytes: between"),
        ("routes: [ { destination: \"sip:x\" } ]", "routes[0]: exactly one of"),
        ("routes: [ { user_regex: \"(\", destination: \"sip:x\" } ]", "routes[0]: user_regex does not compile"),
        ("routes: [ { user_prefix: \"1\", destination: \"http://x\" } ]", "routes[0].destination: "),
        ("log: \"sipd=[\"", "log: not a valid log filter"),
        ("db_poll_secs: 0", "db_poll_secs: between"),
    ];
    for (text, want) in cases {
        let e = error(text);
        assert!(e.starts_with(&format!("{PATH}: {want}")), "{text}\n  got: {e}\n  want: {want}");
    }
}

#[test]
fn both_port_families_can_share_udp_and_tcp() {
    let c = load("listeners:\n  - { proto: udp, addr: \"127.0.0.1:5060\" }\n  - { proto: tcp, addr: \"127.0.0.1:5060\" }\n");
    assert_eq!(c.listeners.len(), 2);
}

#[test]
fn admin_settings_skip_cross_key_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sipd.yaml");
    std::fs::write(
        &path,
        "domains: [Falcot.com, other.org]\nlisteners: [ { proto: tls, addr: \"0.0.0.0:5061\" } ]\n\
         database: { sqlite: { path: /tmp/x.sqlite } }\n",
    )
    .unwrap();
    assert!(SipdConfig::load(&path).is_err());
    let a = AdminSettings::load(&path).unwrap();
    assert_eq!(a.domains, vec!["falcot.com".to_owned(), "other.org".to_owned()]);
    assert_eq!(a.database, DatabaseConfig::sqlite("/tmp/x.sqlite"));
}
