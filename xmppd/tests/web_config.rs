//! The web listener, upload and XEP-0215 keys of the configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use xmppd::config::{ListenerKind, XmppdConfig};
use xmppd::core::ServiceType;

fn load(dir: &std::path::Path, extra: &str) -> Result<XmppdConfig, String> {
    let (cert, key) = rtc_tls::ensure_self_signed(dir, &["example.org".into()]).unwrap();
    let text = format!(
        "listeners: [{{ kind: https, addr: \"127.0.0.1:0\" }}, {{ kind: http, addr: \"127.0.0.1:0\" }}]\n\
         hosts: [{{ domain: example.org, tls: {{ cert: {}, key: {} }} }}]\n{extra}",
        cert.display(),
        key.display()
    );
    XmppdConfig::from_yaml_str(&dir.join("xmppd.yaml"), &text).map_err(|e| e.to_string())
}

#[test]
fn web_listeners_upload_and_turn_services_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("turn-secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let c = load(
        dir.path(),
        &format!(
            "upload: {{ enabled: true, max_file_bytes: 1000 }}\n\
             extdisco: {{ secret_file: {}, services: [{{ type: turns, host: turn.example.org, port: 5349, transport: tcp }}] }}\n",
            secret.display()
        ),
    )
    .unwrap();
    let kinds: Vec<_> = c.listeners.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, [ListenerKind::Https, ListenerKind::Http]);
    assert!(c.core.upload.enabled);
    assert_eq!(c.core.upload.max_file_bytes, 1000);
    assert_eq!(c.core.extdisco.secret.as_deref(), Some("s3cret"));
    assert_eq!(c.core.extdisco.services[0].kind, ServiceType::Turns);
}

#[test]
fn missing_turn_secret_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), "extdisco: { secret_file: /nonexistent/turn-secret }\n").unwrap_err();
    assert!(err.contains("extdisco.secret_file") && err.contains("/nonexistent/turn-secret"), "{err}");
}

#[test]
fn unknown_web_key_and_bad_websocket_path_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(dir.path(), "web: { max_body: 3 }\n").unwrap_err().contains("max_body"));
    let err = load(dir.path(), "web: { websocket_path: xmpp }\n").unwrap_err();
    assert!(err.contains("web.websocket_path"), "{err}");
}
