#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;

const PATH: &str = "/etc/turnd/turnd.yaml";

fn load(text: &str) -> Result<TurndConfig, ConfigError> {
    TurndConfig::from_yaml_str(Path::new(PATH), text)
}

fn error(text: &str) -> String {
    match load(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn empty_file_gives_safe_defaults_except_the_relay_address() {
    // The default listeners are on wildcard addresses, from which no relay
    // address can be derived: the admin is told which key to set.
    let e = error("");
    assert!(
        e.starts_with("/etc/turnd/turnd.yaml: relay.addresses: "),
        "{e}"
    );
    assert!(e.contains("set relay.addresses"), "{e}");

    let c = load("relay: { addresses: [198.51.100.19] }\n").unwrap();
    assert_eq!(c.log, "info");
    assert_eq!(c.workers, 0);
    assert_eq!(
        c.database,
        DatabaseConfig::sqlite("/var/lib/turnd/turnd.sqlite")
    );
    assert_eq!(c.listeners, default_listeners(false));
    assert_eq!(c.listeners.len(), 4);
    assert!(c.listeners.iter().all(|l| l.addr.port() == 3478));
    assert!(c.listeners.iter().all(|l| l.proto != ListenerProto::Tls));
    assert_eq!(c.tls, None);
    assert_eq!(c.relay.addresses, vec![ip("198.51.100.19")]);
    assert!(c.relay.external.is_empty());
    assert_eq!((c.relay.port_min, c.relay.port_max), (49152, 65535));
    assert_eq!(c.metrics.listen, None);
    assert_eq!(c.shutdown_grace_secs, 10);
    assert_eq!(c.stream_limits, StreamLimits::default());
    assert_eq!(c.stream_limits.tcp_max_queued_bytes, 1 << 20);
    assert_eq!(c.stream_limits.tcp_max_connections_per_ip, 256);
    assert_eq!(c.stream_limits.tcp_first_message_secs, 10);
    assert_eq!(c.stream_limits.tcp_max_frame_bytes, rtc_stun::MAX_MESSAGE_LEN);
    // The core keys are exactly the core's own safe defaults.
    assert_eq!(c.core_config(), CoreConfig::default());
    assert!(c.auth.long_term && !c.auth.anonymous && c.auth.rest.is_none());
}

#[test]
fn relay_addresses_default_to_the_udp_listener_ips() {
    let c = load(
        "listeners:\n  - { proto: udp, addr: \"127.0.0.1:0\" }\n  - { proto: tcp, addr: \"127.0.0.2:0\" }\n  - { proto: udp, addr: \"[::1]:0\" }\n",
    )
    .unwrap();
    assert_eq!(c.relay.addresses, vec![ip("127.0.0.1"), ip("::1")]);
    let tcp_only = load("listeners: [{ proto: tcp, addr: \"192.0.2.7:3478\" }]\n").unwrap();
    assert_eq!(tcp_only.relay.addresses, vec![ip("192.0.2.7")]);
}

#[test]
fn tls_listener_is_added_by_default_when_certificates_are_set() {
    let c = load(
        "relay: { addresses: [192.0.2.1] }\ntls:\n  certificates:\n    - { cert: /etc/turnd/a.pem, key: /etc/turnd/a.key }\n",
    )
    .unwrap();
    assert_eq!(c.listeners, default_listeners(true));
    let tls: Vec<_> = c
        .listeners
        .iter()
        .filter(|l| l.proto == ListenerProto::Tls)
        .collect();
    assert_eq!(tls.len(), 2);
    assert!(tls.iter().all(|l| l.addr.port() == 5349));
    assert_eq!(
        c.tls
            .as_ref()
            .unwrap()
            .tls_config()
            .unwrap()
            .certificates
            .len(),
        1
    );
}

#[test]
fn full_file_parses_and_converts_to_core_config() {
    let c = load(
        r#"
log: "turnd=debug"
workers: 4
database: { mysql: { url: "mysql://turnd:pw@db.falcot.com/rtc" } }
listeners:
  - { proto: udp, addr: "10.0.0.5:3478" }
  - { proto: udp, addr: "10.0.0.5:3479" }
  - { proto: udp, addr: "10.0.0.6:3478" }
  - { proto: udp, addr: "10.0.0.6:3479" }
  - { proto: tls, addr: "10.0.0.5:443" }
tls: { self_signed: { dir: /tmp/x, names: [turn.falcot.com] } }
relay:
  addresses: [10.0.0.5]
  external: [ { private: 10.0.0.5, public: 203.0.113.5 } ]
  port_min: 50000
  port_max: 50100
metrics: { listen: "127.0.0.1:9641" }
shutdown_grace_secs: 3
realm: falcot.com
software: null
auth: { rest: { static_secrets: [s3cret] }, password_algorithms: [md5] }
allocation: { user_quota: 2 }
peers: { allow: [10.0.0.0/8] }
rfc5780: { primary: "10.0.0.5:3478", alternate: "10.0.0.6:3479" }
limits:
  max_tracked_sources: 100
  tcp_first_message_secs: 5
  tcp_max_queued_bytes: 262144
  tcp_max_connections_per_ip: 8
  tcp_connection_rate: { burst: 4, per_second: 1.5 }
  tcp_max_frame_bytes: 1500
"#,
    )
    .unwrap();
    assert_eq!(c.workers, 4);
    assert!(matches!(c.database, DatabaseConfig::Mysql(_)));
    assert_eq!(c.relay.addresses, vec![ip("10.0.0.5")]);
    assert_eq!(c.relay.advertised(ip("10.0.0.5")), ip("203.0.113.5"));
    assert_eq!(c.relay.advertised(ip("10.0.0.9")), ip("10.0.0.9"));
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9641".parse().unwrap()));
    let core = c.core_config();
    assert_eq!(core.realm, "falcot.com");
    assert_eq!(core.software, None);
    assert_eq!(core.allocation.user_quota, 2);
    assert_eq!(core.limits.max_tracked_sources, 100);
    assert_eq!(core.limits.max_pending_allocations, 1024);
    let streams = c.stream_limits;
    assert_eq!(streams.first_message_timeout(), std::time::Duration::from_secs(5));
    assert_eq!(streams.tcp_max_queued_bytes, 262_144);
    assert_eq!(streams.tcp_max_connections_per_ip, 8);
    assert_eq!(streams.tcp_connection_rate, rtc_daemon::ratelimit::RateLimit::new(4, 1.5));
    assert_eq!(streams.tcp_max_frame_bytes, 1500);
    assert_eq!(core.peers.allow.len(), 1);
    assert!(core.rfc5780.is_some());
    assert_eq!(
        core.auth.rest.unwrap().static_secrets,
        vec!["s3cret".to_owned()]
    );
}

#[test]
fn unknown_key_error_names_file_line_and_key() {
    let e = error("realm: falcot.com\nrelay:\n  addresses: [192.0.2.1]\n  port_mni: 1\n");
    assert!(
        e.starts_with("/etc/turnd/turnd.yaml:4:3: relay.port_mni: unknown field `port_mni`"),
        "{e}"
    );
    let e = error("limits:\n  tcp_max_frame: 1500\n");
    assert!(
        e.starts_with("/etc/turnd/turnd.yaml:2:3: limits.tcp_max_frame: unknown field"),
        "{e}"
    );
    let e = error("relm: falcot.com\n");
    assert!(
        e.starts_with("/etc/turnd/turnd.yaml:1:1: relm: unknown field `relm`"),
        "{e}"
    );
    let e = error("auth:\n  anonymus: true\n");
    assert!(
        e.starts_with("/etc/turnd/turnd.yaml:2:3: auth.anonymus: "),
        "{e}"
    );
    let e = error("listeners:\n  - { proto: dtls, addr: \"0.0.0.0:1\" }\n");
    assert!(e.starts_with("/etc/turnd/turnd.yaml:2:"), "{e}");
    assert!(e.contains("listeners[0].proto"), "{e}");
}

#[test]
fn validation_errors_name_the_key() {
    let base = "relay:\n  addresses: [192.0.2.1]\n";
    let cases = [
        ("relay: { addresses: [192.0.2.1], port_min: 60000, port_max: 50000 }", "relay.port_min: 60000 is above relay.port_max 50000"),
        ("relay: { addresses: [192.0.2.1], port_min: 0 }", "relay.port_min: "),
        ("relay: { addresses: [0.0.0.0] }", "relay.addresses: 0.0.0.0 cannot be a relay address"),
        ("relay: { addresses: [192.0.2.1, 192.0.2.1] }", "relay.addresses: 192.0.2.1 is listed twice"),
        ("listeners: [ { proto: tls, addr: \"192.0.2.1:5349\" } ]", "tls.certificates: a tls listener needs"),
        ("listeners: []", "listeners: at least one listener"),
        ("listeners: [ { proto: udp, addr: \"192.0.2.1:3478\" }, { proto: udp, addr: \"192.0.2.1:3478\" } ]", "listeners: 192.0.2.1:3478 is listed twice"),
        ("relay: { addresses: [192.0.2.1], external: [ { private: 192.0.2.1, public: \"2001:db8::1\" } ] }", "relay.external: "),
        ("relay: { addresses: [192.0.2.1], external: [ { private: 10.9.9.9, public: 203.0.113.1 } ] }", "relay.external: private address 10.9.9.9"),
        ("relay: { addresses: [192.0.2.1] }\nrealm: \"\"", "realm: "),
        ("relay: { addresses: [192.0.2.1] }\nlog: \"turnd=[\"", "log: not a valid log filter"),
        ("relay: { addresses: [192.0.2.1] }\nauth: { long_term: false }", "auth: no way to authenticate"),
        ("relay: { addresses: [192.0.2.1] }\nauth: { rest: {} }", "auth.rest: "),
        ("relay: { addresses: [192.0.2.1] }\nallocation: { default_lifetime_secs: 7200 }", "allocation.default_lifetime_secs: "),
        ("relay: { addresses: [192.0.2.1] }\nrfc5780: { primary: \"192.0.2.1:3478\", alternate: \"192.0.2.1:3479\" }", "rfc5780.alternate: "),
        ("relay: { addresses: [192.0.2.1] }\ntls: { certificates: [ { cert: /a, key: /b } ], self_signed: {} }", "tls.self_signed: set either"),
        ("relay: { addresses: [192.0.2.1] }\nworkers: 5000", "workers: "),
        ("listeners: [ { proto: udp, addr: \"192.0.2.1:3478\" }, { proto: udp, addr: \"192.0.2.2:3479\" } ]\nrfc5780: { primary: \"192.0.2.1:3478\", alternate: \"192.0.2.2:3479\" }", "rfc5780: no UDP listener on 192.0.2.1:3479"),
        ("relay: { addresses: [192.0.2.1] }\nlimits: { tcp_first_message_secs: 0 }", "limits.tcp_first_message_secs: must be 1 to 3600"),
        ("relay: { addresses: [192.0.2.1] }\nlimits: { tcp_max_queued_bytes: 100 }", "limits.tcp_max_queued_bytes: "),
        ("relay: { addresses: [192.0.2.1] }\nlimits: { tcp_max_connections_per_ip: 0 }", "limits.tcp_max_connections_per_ip: "),
        ("relay: { addresses: [192.0.2.1] }\nlimits: { tcp_connection_rate: { burst: 0, per_second: 1 } }", "limits.tcp_connection_rate: "),
        ("relay: { addresses: [192.0.2.1] }\nlimits: { tcp_max_frame_bytes: 100000 }", "limits.tcp_max_frame_bytes: must be 576 to "),
    ];
    assert!(load(base).is_ok());
    for (text, expected) in cases {
        let e = error(text);
        let want = format!("/etc/turnd/turnd.yaml: {expected}");
        assert!(
            e.starts_with(&want),
            "for {text:?}:\n got  {e}\n want {want}..."
        );
    }
}

#[test]
fn udp_and_tcp_may_share_a_port() {
    let c = load(
        "listeners:\n  - { proto: udp, addr: \"192.0.2.1:3478\" }\n  - { proto: tcp, addr: \"192.0.2.1:3478\" }\n",
    )
    .unwrap();
    assert_eq!(c.listeners.len(), 2);
}

#[test]
fn load_reads_the_file_and_names_it_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turnd.yaml");
    std::fs::write(
        &path,
        "realm: falcot.com\nrelay: { addresses: [198.51.100.19] }\n",
    )
    .unwrap();
    let c = TurndConfig::load(&path).unwrap();
    assert_eq!(c.realm, "falcot.com");
    let report = TurndConfig::check_report(&path);
    assert_eq!(report.status, 0);
    assert_eq!(
        report.message,
        format!("configuration OK: {}", path.display())
    );

    let missing = dir.path().join("nope.yaml");
    let e = TurndConfig::load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read", missing.display())),
        "{e}"
    );
    let report = TurndConfig::check_report(&missing);
    assert_eq!(report.status, EXIT_CONFIG_ERROR);
}

#[test]
fn rfc5780_is_accepted_when_wildcard_udp_listeners_cover_both_ports() {
    let c = load(
        "listeners:\n  - { proto: udp, addr: \"0.0.0.0:3478\" }\n  - { proto: udp, addr: \"0.0.0.0:3479\" }\n\
         relay: { addresses: [192.0.2.1] }\n\
         rfc5780: { primary: \"192.0.2.1:3478\", alternate: \"192.0.2.2:3479\" }\n",
    )
    .unwrap();
    assert!(c.rfc5780.is_some());
    // An IPv6 wildcard does not cover IPv4 addresses.
    let e = error(
        "listeners:\n  - { proto: udp, addr: \"[::]:3478\" }\n  - { proto: udp, addr: \"[::]:3479\" }\n\
         relay: { addresses: [192.0.2.1] }\n\
         rfc5780: { primary: \"192.0.2.1:3478\", alternate: \"192.0.2.2:3479\" }\n",
    );
    assert!(e.contains("rfc5780: no UDP listener on 192.0.2.1:3478"), "{e}");
}
