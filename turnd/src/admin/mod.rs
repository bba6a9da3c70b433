//! `turnadmin`: manage turnd's users, administrators and REST secrets.
//!
//! It accepts coturn's `turnadmin` flags (`-a -u roland -p secret_password -r
//! falcot.com`, `-A`, `-k`, `-l`, `-d`, `-L`, `-D`, `-s`, `-S`, `-X`, `-b`)
//! and finds the database through the same configuration file as the daemon
//! (`-c`, default `/etc/turnd/turnd.yaml`), so both always agree. The running
//! daemon sees changes without a restart (SQLite waits for its locks).
//!
//! It never prints or stores a password: users get the two RFC 8489 keys and
//! administrators an argon2id hash, both derived in `rtc-userdb`.

pub mod cli;
mod ops;
mod password;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rtc_userdb::DatabaseConfig;

use crate::config::{AdminSettings, ConfigError, DEFAULT_CONFIG_PATH};
use cli::{Args, Command, RealmArg};

/// Everything `turnadmin` can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The command line is wrong.
    #[error("{0} (see turnadmin --help)")]
    Usage(String),
    /// The configuration file cannot be read or parsed.
    #[error("{source}\n(point to the turnd configuration with -c PATH, or to an SQLite file with -b FILE)")]
    Config {
        /// What went wrong, naming the file.
        source: ConfigError,
    },
    /// A password could not be read.
    #[error("cannot read the password: {0}")]
    PasswordRead(#[source] std::io::Error),
    /// The two passwords typed differ.
    #[error("the passwords do not match")]
    PasswordMismatch,
    /// The SQLite file to read or delete from does not exist.
    #[error("SQLite database {} does not exist (it is created by the first -a, -A or -s)", .0.display())]
    NoDatabase(PathBuf),
    /// The record to delete does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A name, realm, password or secret was refused before reaching the database.
    #[error("{0}")]
    Invalid(rtc_userdb::Error),
    /// The database could not be opened or reported an error.
    #[error("{database}: {source}")]
    Database {
        /// Which database (passwords left out).
        database: String,
        /// What the database layer reported.
        source: rtc_userdb::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start: {0}")]
    Runtime(#[source] std::io::Error),
}

impl AdminError {
    /// The process exit status: 2 for usage and configuration errors, else 1.
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Config { .. } => 2,
            _ => 1,
        }
    }
}

/// Parse the process arguments, run the command and report: the `main` of `turnadmin`.
pub fn main_from_env() -> ExitCode {
    let args = match parse_env() {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    match run(&args) {
        Ok(output) => emit(&output),
        Err(e) => {
            eprintln!("turnadmin: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

/// The command line as [`Args`]; `--help` and parse errors are printed here,
/// with status 0 and 2 respectively.
fn parse_env() -> Result<Args, ExitCode> {
    let mut strings = Vec::new();
    for arg in std::env::args_os() {
        match arg.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                eprintln!("turnadmin: argument {bad:?} is not valid UTF-8");
                return Err(ExitCode::from(2));
            }
        }
    }
    let name = strings
        .first()
        .and_then(|p| Path::new(p).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("turnadmin");
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    argh::FromArgs::from_args(&[name], &rest).map_err(|early| match early.status {
        Ok(()) => emit(&format!("{}\n", early.output)),
        Err(()) => {
            eprintln!("{}", early.output);
            ExitCode::from(2)
        }
    })
}

/// Write the command's output to stdout. A reader that went away early
/// (`turnadmin -l | head`) is not an error; any other write error is.
fn emit(output: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turnadmin: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run one parsed command line; returns what to print on stdout.
pub fn run(args: &Args) -> Result<String, AdminError> {
    let command = args.command()?;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let uses_database = !matches!(command, Command::Key { .. });
    let needs_config =
        (uses_database && args.db.is_none()) || command.realm_arg() == Some(RealmArg::FromConfig);
    let settings = if needs_config {
        Some(AdminSettings::load(&config_path).map_err(|source| AdminError::Config { source })?)
    } else {
        None
    };
    let realm = match (command.realm_arg(), &settings) {
        (Some(RealmArg::FromConfig), Some(s)) => {
            eprintln!(
                "turnadmin: no -r given: using realm {:?} from {}",
                s.realm,
                config_path.display()
            );
            Some(s.realm.clone())
        }
        _ => None,
    };
    let command = with_realm(command, realm);

    if let Command::Key {
        user,
        realm,
        password,
    } = &command
    {
        let Some(realm) = realm.as_deref() else {
            return Err(AdminError::Usage("-k needs a realm: add -r REALM".into()));
        };
        let password = password::obtain(password.as_deref(), false)?;
        let key = rtc_userdb::credentials::ha1_md5(user, realm, &password);
        return Ok(format!("0x{}\n", hex::encode(key)));
    }

    let database = match (&args.db, &settings) {
        (Some(file), _) => DatabaseConfig::sqlite(file),
        (None, Some(s)) => s.database.clone(),
        (None, None) => {
            return Err(AdminError::Usage(
                "no database: give -b FILE or -c PATH".into(),
            ))
        }
    };
    if let DatabaseConfig::Sqlite(s) = &database {
        if !command.creates_records() && !s.path.exists() {
            return Err(AdminError::NoDatabase(s.path.clone()));
        }
    }
    let command = ops::ask_password(command)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AdminError::Runtime)?;
    runtime.block_on(ops::execute(&database, &command))
}

/// Fill in the configuration's realm where the command line left it out.
fn with_realm(command: Command, fallback: Option<String>) -> Command {
    let Some(fallback) = fallback else {
        return command;
    };
    let fill = |r: Option<String>| Some(r.unwrap_or(fallback));
    match command {
        Command::Key {
            user,
            realm,
            password,
        } => Command::Key {
            user,
            realm: fill(realm),
            password,
        },
        Command::AddUser {
            user,
            realm,
            password,
        } => Command::AddUser {
            user,
            realm: fill(realm),
            password,
        },
        Command::DeleteUser { user, realm } => Command::DeleteUser {
            user,
            realm: fill(realm),
        },
        Command::AddSecret { secret, realm } => Command::AddSecret {
            secret,
            realm: fill(realm),
        },
        Command::DeleteSecret { secret, realm } => Command::DeleteSecret {
            secret,
            realm: fill(realm),
        },
        Command::DeleteAllSecrets { realm } => Command::DeleteAllSecrets { realm: fill(realm) },
        other => other,
    }
}

/// How a database is named in messages: the SQLite path, or the MySQL URL
/// without its password.
fn describe(database: &DatabaseConfig) -> String {
    match database {
        DatabaseConfig::Sqlite(s) => format!("SQLite database {}", s.path.display()),
        DatabaseConfig::Mysql(m) => format!("MySQL database {}", redact(&m.url)),
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mysql_passwords_are_left_out_of_messages() {
        let d = describe(&DatabaseConfig::mysql(
            "mysql://turnd:hunter2@db.falcot.com:3306/rtc",
        ));
        assert_eq!(d, "MySQL database mysql://turnd@db.falcot.com:3306/rtc");
        assert_eq!(redact("mysql://db/rtc"), "mysql://db/rtc");
    }

    #[test]
    fn config_realm_fills_only_missing_realms() {
        let c = Command::AddUser {
            user: "u".into(),
            realm: None,
            password: None,
        };
        assert_eq!(
            with_realm(c, Some("falcot.com".into())),
            Command::AddUser {
                user: "u".into(),
                realm: Some("falcot.com".into()),
                password: None
            }
        );
        let c = Command::DeleteUser {
            user: "u".into(),
            realm: Some("x".into()),
        };
        assert_eq!(with_realm(c.clone(), Some("y".into())), c);
    }

    #[test]
    fn parent_of_a_bare_file_is_the_current_directory() {
        assert_eq!(parent_dir(Path::new("x.sqlite")), Path::new("."));
        assert_eq!(
            parent_dir(Path::new("/var/lib/turnd/x")),
            Path::new("/var/lib/turnd")
        );
    }
}
