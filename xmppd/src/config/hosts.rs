//! Virtual hosts: entries of `hosts:` and drop-in files matched by `include:`
//! (`/etc/xmppd/conf.d/*.yaml`, one host per file, like Prosody's `conf.d/`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// Most drop-in files read from one `include:` pattern.
const MAX_DROP_INS: usize = 10_000;

/// One virtual host (Prosody's `VirtualHost "falcot.com"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// The domain, e.g. `falcot.com`.
    pub domain: String,
    /// A disabled host is not served (`host-unknown`). Default: true.
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// The host's certificate, chosen by SNI.
    #[serde(default)]
    pub tls: Option<HostTls>,
    /// The drop-in file the host came from (`None`: the main file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `tls:` of a host: its certificate chain and key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

impl HostTls {
    /// The certificate as `rtc-tls` configures it: selected by SNI for the
    /// host's domain (whatever other names the certificate carries).
    pub fn certificate(&self, domain: &str) -> rtc_tls::CertificateConfig {
        rtc_tls::CertificateConfig::new(&self.cert, &self.key).with_names([domain.to_owned()])
    }
}

impl HostConfig {
    /// Checks serde cannot do; the error is `(key, message)`.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        match crate::core::Jid::domain_only(&self.domain) {
            Ok(j) if j.domain() == self.domain => Ok(()),
            Ok(j) => Err((
                "domain",
                format!("write the domain in its normal form: {}", j.domain()),
            )),
            Err(e) => Err(("domain", format!("not a valid domain: {e}"))),
        }
    }
}

/// Why the drop-ins could not be read.
#[derive(Debug)]
pub(super) enum DropInError {
    /// A file is wrong; the error names it.
    Config(ConfigError),
    /// The pattern itself is unusable.
    Pattern(String),
}

/// Append the hosts of every file matching `pattern` (`DIR/PREFIX*SUFFIX`,
/// one `*` in the file name only), in file-name order. A missing directory
/// means no drop-ins.
pub(super) fn load_drop_ins(pattern: &Path, hosts: &mut Vec<HostConfig>) -> Result<(), DropInError> {
    let (dir, prefix, suffix) = split_pattern(pattern).map_err(DropInError::Pattern)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DropInError::Pattern(format!("cannot read {}: {e}", dir.display()))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| matches(n, &prefix, suffix.as_deref()))
        })
        .filter(|p| p.is_file())
        .collect();
    if files.len() > MAX_DROP_INS {
        return Err(DropInError::Pattern(format!("more than {MAX_DROP_INS} files match")));
    }
    files.sort();
    for file in files {
        let mut host: HostConfig = rtc_daemon::load_yaml(&file).map_err(DropInError::Config)?;
        host.check()
            .map_err(|(k, m)| DropInError::Config(ConfigError::invalid(&file, k, m)))?;
        host.source = Some(file);
        hosts.push(host);
    }
    Ok(())
}

/// Whether file `name` matches `prefix*suffix` (`suffix: None`: exactly
/// `prefix`). Hidden files never match a wildcard.
fn matches(name: &str, prefix: &str, suffix: Option<&str>) -> bool {
    match suffix {
        None => name == prefix,
        Some(suffix) => {
            !name.starts_with('.')
                && name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
        }
    }
}

fn split_pattern(pattern: &Path) -> Result<(PathBuf, String, Option<String>), String> {
    let dir = pattern.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.to_string_lossy().contains('*') {
        return Err("`*` may only appear in the file name".into());
    }
    let name = pattern
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| "expected DIRECTORY/*.yaml".to_owned())?;
    match name.split_once('*') {
        Some((_, suffix)) if suffix.contains('*') => Err("at most one `*` is allowed".into()),
        Some((prefix, suffix)) => Ok((dir, prefix.into(), Some(suffix.into()))),
        None => Ok((dir, name.into(), None)),
    }
}

/// No domain may be declared twice; the error names the second declaration.
pub(super) fn check_unique(main: &Path, hosts: &[HostConfig]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for h in hosts {
        let origin = h.source.as_deref().unwrap_or(main);
        if let Some(first) = seen.insert(&h.domain, origin) {
            return Err(ConfigError::invalid(
                origin,
                "domain",
                format!("host {} is already declared in {}", h.domain, first.display()),
            ));
        }
    }
    Ok(())
}
