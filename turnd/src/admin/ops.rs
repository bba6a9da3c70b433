//! Carrying out one [`Command`] on the account database.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rtc_userdb::{Change, DatabaseConfig, UserDb};

use super::cli::Command;
use super::{describe, parent_dir, password, AdminError};

/// Append one line to the command's output (writing to a `String` cannot fail).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Ask for the password of `-a`/`-A` when `-p` was left out.
pub(super) fn ask_password(command: Command) -> Result<Command, AdminError> {
    Ok(match command {
        Command::AddUser {
            user,
            realm,
            password: p,
        } => Command::AddUser {
            user,
            realm,
            password: Some(password::obtain(p.as_deref(), true)?),
        },
        Command::AddAdmin {
            user,
            realm,
            password: p,
        } => Command::AddAdmin {
            user,
            realm,
            password: Some(password::obtain(p.as_deref(), true)?),
        },
        other => other,
    })
}

/// Open the database, run `command`, close; returns what to print on stdout.
pub(super) async fn execute(
    database: &DatabaseConfig,
    command: &Command,
) -> Result<String, AdminError> {
    let name = describe(database);
    let db_error = |source: rtc_userdb::Error| match source {
        rtc_userdb::Error::InvalidInput { .. } => AdminError::Invalid(source),
        source => AdminError::Database {
            database: name.clone(),
            source,
        },
    };
    let db = UserDb::open(database).await.map_err(db_error)?;
    let sqlite = match database {
        DatabaseConfig::Sqlite(s) => Some(s.path.as_path()),
        DatabaseConfig::Mysql(_) => None,
    };
    if let Some(path) = sqlite {
        hand_over_to_directory_owner(path);
    }
    let mut out = String::new();
    let outcome = apply(&db, command, &mut out).await;
    let closed = db.close().await;
    if let Some(path) = sqlite {
        hand_over_to_directory_owner(path);
    }
    outcome?.map_err(db_error)?;
    closed.map_err(db_error)?;
    Ok(out)
}

/// The command's own errors, or (inner) those of the database layer.
type Outcome = Result<Result<(), rtc_userdb::Error>, AdminError>;

async fn apply(db: &UserDb, command: &Command, out: &mut String) -> Outcome {
    let turn = db.turn();
    let r = match command {
        Command::AddUser {
            user,
            realm,
            password,
        } => {
            let realm = realm_of(realm.as_deref())?;
            let pw = password.as_deref().unwrap_or_default();
            turn.set_user(realm, user, pw).await.map(|change| {
                say!(out, "{} user {user} in realm {realm}", verb(change));
            })
        }
        Command::AddAdmin {
            user,
            realm,
            password,
        } => {
            let pw = password.as_deref().unwrap_or_default();
            turn.set_admin(user, realm.as_deref(), pw)
                .await
                .map(|change| {
                    let scope = realm
                        .as_deref()
                        .map_or("all realms".to_owned(), |r| format!("realm {r}"));
                    say!(out, "{} administrator {user} ({scope})", verb(change));
                })
        }
        Command::DeleteUser { user, realm } => {
            let realm = realm_of(realm.as_deref())?;
            match turn.delete_user(realm, user).await {
                Err(rtc_userdb::Error::NotFound(_)) => {
                    return Err(AdminError::NotFound(format!(
                        "user {user} in realm {realm}"
                    )))
                }
                r => r.map(|()| say!(out, "deleted user {user} from realm {realm}")),
            }
        }
        Command::DeleteAdmin { user } => match turn.delete_admin(user).await {
            Err(rtc_userdb::Error::NotFound(_)) => {
                return Err(AdminError::NotFound(format!("administrator {user}")))
            }
            r => r.map(|()| say!(out, "deleted administrator {user}")),
        },
        Command::ListUsers { realm } => turn.list_users(realm.as_deref()).await.map(|users| {
            for u in &users {
                say!(out, "{}\t{}", u.realm, u.name);
            }
            if users.is_empty() {
                eprintln!("turnadmin: no users");
            }
        }),
        Command::ListAdmins => turn.list_admins().await.map(|admins| {
            for a in &admins {
                match &a.realm {
                    Some(r) => say!(out, "{}\t{r}", a.name),
                    None => say!(out, "{}", a.name),
                }
            }
            if admins.is_empty() {
                eprintln!("turnadmin: no administrators");
            }
        }),
        Command::AddSecret { secret, realm } => {
            let realm = realm_of(realm.as_deref())?;
            match turn.add_secret(realm, secret).await {
                Err(rtc_userdb::Error::AlreadyExists(_)) => {
                    say!(out, "realm {realm} already has this shared secret");
                    Ok(())
                }
                r => r.map(|()| say!(out, "added a shared secret to realm {realm}")),
            }
        }
        Command::ShowSecrets { realm } => turn.list_secrets(realm.as_deref()).await.map(|list| {
            for s in &list {
                say!(out, "{}\t{}", s.realm, s.secret);
            }
            if list.is_empty() {
                eprintln!("turnadmin: no shared secrets");
            }
        }),
        Command::DeleteSecret { secret, realm } => {
            let realm = realm_of(realm.as_deref())?;
            match turn.delete_secret(realm, secret).await {
                Err(rtc_userdb::Error::NotFound(_)) => {
                    return Err(AdminError::NotFound(format!(
                        "this shared secret in realm {realm}"
                    )))
                }
                r => r.map(|()| say!(out, "deleted a shared secret from realm {realm}")),
            }
        }
        Command::DeleteAllSecrets { realm } => {
            let realm = realm_of(realm.as_deref())?;
            turn.delete_secrets(realm)
                .await
                .map(|n| say!(out, "deleted {n} shared secret(s) from realm {realm}"))
        }
        Command::Key { .. } => Ok(()),
    };
    Ok(r)
}

fn realm_of(realm: Option<&str>) -> Result<&str, AdminError> {
    realm.ok_or_else(|| AdminError::Usage("no realm: add -r REALM".into()))
}

fn verb(change: Change) -> &'static str {
    match change {
        Change::Created => "added",
        Change::Updated => "updated the password of",
    }
}

/// When root creates or touches the SQLite file in a directory owned by the
/// daemon's user (`/var/lib/turnd`, owned by `turnd`), give the file to that
/// user: otherwise the daemon could no longer open its own database. SQLite
/// gives its `-wal`/`-shm` files the owner of the database file by itself,
/// but any left over from before are handed over too. Failures are ignored:
/// an unprivileged caller cannot chown and does not need to.
fn hand_over_to_directory_owner(db: &Path) {
    let Ok(dir) = fs::metadata(parent_dir(db)) else {
        return;
    };
    if dir.uid() == 0 {
        return;
    }
    let mut files: Vec<PathBuf> = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    for file in files {
        if fs::metadata(&file).is_ok_and(|m| m.uid() == 0) {
            let _ = std::os::unix::fs::chown(&file, Some(dir.uid()), Some(dir.gid()));
        }
    }
}
