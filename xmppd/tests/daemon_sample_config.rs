//! The sample configuration shipped in deploy/xmppd/ is valid and documents
//! the defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;

use xmppd::config::{default_listeners, TransportConfig, WebConfig, XmppdConfig};
use xmppd::core::{ComponentConfig, ComponentKind, CoreConfig, MucConfig};

const SAMPLE: &str = include_str!("../../deploy/xmppd/xmppd.yaml");
const DROP_IN: &str = include_str!("../../deploy/xmppd/conf.avail/example.org.yaml");

#[test]
fn sample_config_loads_with_the_documented_defaults_and_drop_in() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    std::fs::write(dir.path().join("conf.d/example.org.yaml"), DROP_IN).unwrap();
    let text = SAMPLE.replace("include: /etc/xmppd/conf.d/*.yaml", "include: conf.d/*.yaml");
    assert_ne!(text, SAMPLE, "the sample's include line changed");
    let path = dir.path().join("xmppd.yaml");
    std::fs::write(&path, &text).unwrap();
    let c = XmppdConfig::load(&path).unwrap();
    let muc = ComponentConfig {
        domain: "conference.falcot.com".into(),
        kind: ComponentKind::Muc,
        secret: None,
        muc: MucConfig::default(),
    };
    let expected = CoreConfig { admins: vec!["joe@falcot.com".into()], components: vec![muc], ..CoreConfig::default() };
    assert_eq!(c.core, expected, "sample values differ from the defaults");
    assert_eq!(c.transport, TransportConfig::default());
    assert_eq!(c.web, WebConfig::default());
    assert_eq!(c.listeners, default_listeners());
    let hosts: Vec<_> = c.hosts.iter().map(|h| h.domain.as_str()).collect();
    assert_eq!(hosts, ["falcot.com", "example.org"]);
    assert_eq!(
        c.hosts[0].tls.as_ref().unwrap().cert,
        Path::new("/etc/ssl/certs/falcot.com.pem")
    );
}
