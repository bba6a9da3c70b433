//! Opening the account database as root without taking it from the daemon.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use rtc_userdb::{DatabaseConfig, UserDb};

use super::Failure;

/// Open the configured database; a SQLite file root creates (or finds owned
/// by root) in the daemon's directory is given to that directory's owner.
pub(super) async fn open(config: &DatabaseConfig) -> Result<UserDb, Failure> {
    let db = UserDb::open(config).await?;
    hand_over(config);
    Ok(db)
}

/// Close the database, then hand over any `-wal`/`-shm` file left by root.
pub(super) async fn close(db: UserDb, config: &DatabaseConfig) -> Result<(), Failure> {
    let closed = db.close().await;
    hand_over(config);
    Ok(closed?)
}

/// With `/var/lib/xmppd` owned by `xmppd`, a database file created by root
/// would lock the daemon (`User=xmppd`) out of its own accounts. Failures
/// are ignored: an unprivileged caller cannot chown and does not need to.
fn hand_over(config: &DatabaseConfig) {
    let DatabaseConfig::Sqlite(sqlite) = config else { return };
    let db = sqlite.path.as_path();
    let parent = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(dir) = std::fs::metadata(parent) else { return };
    if dir.uid() == 0 {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if std::fs::metadata(&file).is_ok_and(|m| m.uid() == 0) {
            let _ = std::os::unix::fs::chown(&file, Some(dir.uid()), Some(dir.gid()));
        }
    }
}
