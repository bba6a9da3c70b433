//! The core's side of the web features: XEP-0363 upload slots from the
//! `upload.<domain>` component and XEP-0215 TURN credentials.

use xmppd::core::upload::{owner_key, put_token};
use xmppd::core::{rest_credentials, CoreConfig, ExtDiscoConfig, ExtService, ServiceType, UploadConfig};

use crate::harness::*;

const SECRET: &str = "upload-key";

fn world(upload: bool) -> (World, xmppd::core::ConnId) {
    let mut config = CoreConfig {
        upload: Box::new(UploadConfig {
            enabled: upload,
            public_url: "https://{domain}:5281".into(),
            max_file_bytes: 1000,
            secret: SECRET.into(),
            ..UploadConfig::default()
        }),
        extdisco: Box::new(ExtDiscoConfig {
            services: vec![ExtService {
                kind: ServiceType::Turn,
                host: "turn.example.com".into(),
                port: 3478,
                transport: Some("udp".into()),
            }],
            secret: Some("turn-secret".into()),
            ..ExtDiscoConfig::default()
        }),
        ..CoreConfig::default()
    };
    // Without federation, a domain that is neither hosted nor a component
    // is answered at once with remote-server-not-found.
    config.s2s.enabled = false;
    let mut w = World::with_config(config);
    w.store.add_user("romeo@example.com", "pw");
    let romeo = w.online("romeo@example.com", "orchard", 0);
    w.take(romeo);
    (w, romeo)
}

#[test]
fn upload_slot_has_a_put_url_signed_for_the_size_and_a_matching_get_url() {
    let (mut w, romeo) = world(true);
    w.send(
        romeo,
        "<iq type='get' id='s' to='upload.example.com'><request xmlns='urn:xmpp:http:upload:0' \
filename='a b.txt' size='10' content-type='text/plain'/></iq>",
    );
    let iq = w.expect(romeo, "iq");
    assert_eq!(iq.attribute("type"), Some("result"), "{}", xml(&iq));
    assert_eq!(iq.attribute("from"), Some("upload.example.com"));
    let slot = iq.find_child("slot", "urn:xmpp:http:upload:0").unwrap();
    let put = slot.find_child("put", "urn:xmpp:http:upload:0").unwrap().attribute("url").unwrap();
    let get = slot.find_child("get", "urn:xmpp:http:upload:0").unwrap().attribute("url").unwrap();
    let owner = owner_key(SECRET.as_bytes(), "romeo@example.com");
    let prefix = format!("https://example.com:5281/upload/{owner}/");
    assert!(get.starts_with(&prefix) && get.ends_with("/a%20b.txt"), "{get}");
    let (url, token) = put.split_once("?v=").unwrap();
    assert_eq!(url, get);
    let path = url.strip_prefix("https://example.com:5281/upload/").unwrap();
    let expires: u64 = token.split('.').nth(1).unwrap().parse().unwrap();
    assert_eq!(expires, 1_700_000_000 + 300, "five minutes on the core's clock");
    assert_eq!(token, put_token(SECRET.as_bytes(), path, 10, expires));
    assert!(xml(slot).contains("<header name='Content-Type'>text/plain</header>"), "{}", xml(slot));
}

#[test]
fn oversized_upload_request_is_refused_with_the_maximum_size() {
    let (mut w, romeo) = world(true);
    w.send(
        romeo,
        "<iq type='get' id='big' to='upload.example.com'><request xmlns='urn:xmpp:http:upload:0' filename='x' size='1001'/></iq>",
    );
    let iq = xml(&w.expect(romeo, "iq"));
    assert!(iq.contains("type='error'") && iq.contains("<not-acceptable"), "{iq}");
    assert!(iq.contains("<file-too-large xmlns='urn:xmpp:http:upload:0'><max-file-size>1000</max-file-size></file-too-large>"), "{iq}");
}

#[test]
fn file_names_with_a_path_are_a_bad_request() {
    let (mut w, romeo) = world(true);
    w.send(
        romeo,
        "<iq type='get' id='p' to='upload.example.com'><request xmlns='urn:xmpp:http:upload:0' filename='../x' size='1'/></iq>",
    );
    assert!(xml(&w.expect(romeo, "iq")).contains("<bad-request"));
}

#[test]
fn without_upload_the_component_does_not_exist() {
    let (mut w, romeo) = world(false);
    w.send(
        romeo,
        "<iq type='get' id='s' to='upload.example.com'><request xmlns='urn:xmpp:http:upload:0' filename='x' size='1'/></iq>",
    );
    assert!(xml(&w.expect(romeo, "iq")).contains("<remote-server-not-found"));
    w.send(romeo, "<iq type='get' id='i' to='example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
    assert!(!xml(&w.expect(romeo, "iq")).contains("upload.example.com"));
}

#[test]
fn turn_credentials_are_minted_for_the_requesting_account() {
    let (mut w, romeo) = world(true);
    w.send(romeo, "<iq type='get' id='x' to='example.com'><services xmlns='urn:xmpp:extdisco:2'/></iq>");
    let iq = w.expect(romeo, "iq");
    let service = iq
        .find_child("services", "urn:xmpp:extdisco:2")
        .and_then(|s| s.find_child("service", "urn:xmpp:extdisco:2"))
        .unwrap_or_else(|| panic!("{}", xml(&iq)));
    let expiry = 1_700_000_000 + 86_400;
    let (user, password) = rest_credentials("turn-secret", "romeo@example.com", expiry);
    assert_eq!(service.attribute("username"), Some(user.as_str()));
    assert_eq!(service.attribute("password"), Some(password.as_str()));
    assert_eq!(service.attribute("expires"), Some("2023-11-15T22:13:20Z"));
}
