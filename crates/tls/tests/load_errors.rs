//! Loading errors an administrator sees: each one names the file to fix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use rtc_tls::{CertificateConfig, TlsConfig, TlsError, TlsServer};

fn write_cert(dir: &Path, stem: &str, sans: &[&str]) -> CertificateConfig {
    let ck =
        rcgen::generate_simple_self_signed(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    CertificateConfig::new(cert, key)
}

fn load(certs: Vec<CertificateConfig>) -> TlsError {
    TlsServer::new(
        &TlsConfig {
            certificates: certs,
        },
        &[],
    )
    .unwrap_err()
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn missing_certificate_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_cert(dir.path(), "a", &["a.example"]);
    a.cert = dir.path().join("nope.pem");
    let err = load(vec![a]);
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "{}: cannot read",
            shown(&dir.path().join("nope.pem"))
        )),
        "{err}"
    );
}

#[test]
fn certificate_file_without_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_cert(dir.path(), "a", &["a.example"]);
    a.cert = a.key.clone();
    let err = load(vec![a.clone()]);
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    assert!(err.to_string().contains(&shown(&a.key)), "{err}");
}

#[test]
fn key_file_without_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_cert(dir.path(), "a", &["a.example"]);
    a.key = a.cert.clone();
    let err = load(vec![a.clone()]);
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    assert!(err.to_string().contains(&shown(&a.cert)), "{err}");
}

#[test]
fn key_that_does_not_match_the_certificate_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_cert(dir.path(), "a", &["a.example"]);
    let b = write_cert(dir.path(), "b", &["b.example"]);
    a.key = b.key.clone();
    let err = load(vec![a.clone()]);
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&shown(&a.cert)) && text.contains(&shown(&b.key)),
        "{text}"
    );
}

#[test]
fn corrupt_pem_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_cert(dir.path(), "a", &["a.example"]);
    std::fs::write(&a.cert, "-----BEGIN CERTIFICATE-----\n!!!!\n").unwrap();
    let err = load(vec![a.clone()]);
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    assert!(err.to_string().contains(&shown(&a.cert)), "{err}");
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_cert(dir.path(), "a", &["a.example"]);
    std::fs::write(&a.cert, vec![b'A'; rtc_tls::MAX_PEM_BYTES as usize + 1]).unwrap();
    assert!(matches!(load(vec![a]), TlsError::TooLarge { .. }));
}

#[test]
fn second_certificate_without_names_is_unreachable_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_cert(dir.path(), "a", &["a.example"]);
    let b = write_cert(dir.path(), "b", &["192.0.2.1"]);
    let err = load(vec![a, b.clone()]);
    assert!(matches!(err, TlsError::NoNames { .. }), "{err:?}");
    assert!(err.to_string().contains(&shown(&b.cert)), "{err}");
}

#[test]
fn invalid_override_name_and_empty_list_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_cert(dir.path(), "a", &["a.example"]).with_names(["bad name"]);
    assert!(matches!(load(vec![a]), TlsError::InvalidName { name } if name == "bad name"));
    assert!(matches!(load(vec![]), TlsError::NoCertificates));
}
