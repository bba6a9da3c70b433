//! The server key: 32 random bytes keying nonces, flow tokens and
//! Record-Route signatures. It must survive restarts (dialogs and
//! registrations carry flow tokens), so it lives in a file, written once
//! with mode 0600 as 64 hex digits.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::ShellError;

fn invalid(path: &Path, message: String) -> ShellError {
    ShellError::Daemon(rtc_daemon::Error::invalid(path, "secret_file", message))
}

/// Read the key at `path`, creating it when the file does not exist.
pub(crate) fn load_or_create(path: &Path) -> Result<[u8; 32], ShellError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|_| invalid(path, "not 64 hex digits".into()))?;
            bytes.try_into().map_err(|_| invalid(path, "not 64 hex digits".into()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::getrandom(&mut key).map_err(ShellError::Random)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| invalid(path, format!("cannot create: {e}")))?;
            writeln!(file, "{}", hex::encode(key))
                .and_then(|()| file.sync_all())
                .map_err(|e| invalid(path, format!("cannot write: {e}")))?;
            tracing::info!("created the server key {}", path.display());
            Ok(key)
        }
        Err(e) => Err(invalid(path, format!("cannot read: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let a = load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), a);
        std::fs::write(&path, "short\n").unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("secret_file: not 64 hex digits"), "{e}");
    }
}
