//! Self-signed certificates for development and demos.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::error::{Result, TlsError};

/// File name of the generated certificate inside the target directory.
pub const SELF_SIGNED_CERT: &str = "selfsigned-cert.pem";
/// File name of the generated private key inside the target directory.
pub const SELF_SIGNED_KEY: &str = "selfsigned-key.pem";

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let write_err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(write_err)?;
    // `mode` only applies to new files; tighten an existing one too.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(write_err)?;
    file.write_all(contents).map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

/// Make sure `dir` holds a self-signed certificate and key, and return their paths
/// as `(cert, key)`.
///
/// Existing files are reused as they are (their names are not checked); otherwise
/// a fresh ECDSA P-256 key is generated for `names` (host names or IP addresses),
/// the key written with mode 0600 first and the certificate second, so a crash in
/// between is repaired on the next call. Never use this for production service.
pub fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf)> {
    let cert_path = dir.join(SELF_SIGNED_CERT);
    let key_path = dir.join(SELF_SIGNED_KEY);
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let key = KeyPair::generate().map_err(TlsError::Generate)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(TlsError::Generate)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().map_or("localhost", String::as_str),
    );
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).map_err(TlsError::Generate)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::inspect_pem_file;

    #[test]
    fn generates_once_with_private_key_mode_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("tls");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (cert, key) = ensure_self_signed(&sub, &names).unwrap();
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let info = inspect_pem_file(&cert).unwrap();
        assert!(info[0].covers("localhost"));
        assert!(info[0].covers("127.0.0.1"));

        let before = fs::read(&cert).unwrap();
        let again = ensure_self_signed(&sub, &["other.example".to_string()]).unwrap();
        assert_eq!(again, (cert.clone(), key));
        assert_eq!(
            fs::read(&cert).unwrap(),
            before,
            "existing files must be reused"
        );
    }

    #[test]
    fn a_missing_certificate_is_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string()];
        let (cert, _) = ensure_self_signed(dir.path(), &names).unwrap();
        fs::remove_file(&cert).unwrap();
        let (cert, key) = ensure_self_signed(dir.path(), &names).unwrap();
        assert!(cert.is_file() && key.is_file());
    }
}
