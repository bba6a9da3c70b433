//! Default file locations, following the Debian layout.

use std::path::PathBuf;

/// `/etc/<daemon>/<daemon>.yaml`: where the daemon and its admin tool look for
/// the configuration unless `--config` says otherwise.
pub fn default_config_path(daemon: &str) -> PathBuf {
    PathBuf::from(format!("/etc/{daemon}/{daemon}.yaml"))
}

/// `/var/lib/<daemon>/`: databases and generated files (matches systemd `StateDirectory=`).
pub fn default_state_dir(daemon: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/{daemon}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_paths() {
        assert_eq!(
            default_config_path("turnd"),
            PathBuf::from("/etc/turnd/turnd.yaml")
        );
        assert_eq!(default_state_dir("xmppd"), PathBuf::from("/var/lib/xmppd"));
    }
}
