//! `sipctl`: manage sipd's subscribers, registrations, local domains and
//! static routes, in the spirit of `kamctl` (`sipctl add roland
//! secret_password`, `sipctl ul show`, `sipctl online`...).
//!
//! It finds the database through the same configuration file as the daemon
//! (`-c`, default `/etc/sipd/sipd.yaml`), so both always agree, and works
//! while sipd runs. It never stores a password: subscribers get the digest
//! keys `rtc-userdb` derives (HA1 with MD5 and SHA-256, realm = domain).
//! Listings read the database page by page, so `ul show` on a large site
//! never holds all registrations in memory.

pub mod cli;
mod ops;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rtc_userdb::DatabaseConfig;

use crate::config::{AdminSettings, ConfigError, DEFAULT_CONFIG_PATH};
use cli::{Args, Command};

/// Everything `sipctl` can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The command line is wrong.
    #[error("{0} (see sipctl --help)")]
    Usage(String),
    /// The configuration file cannot be read or parsed.
    #[error("{source}\n(point to the sipd configuration with -c PATH)")]
    Config {
        /// What went wrong, naming the file.
        source: ConfigError,
    },
    /// A password could not be read.
    #[error("cannot read the password: {0}")]
    PasswordRead(#[source] std::io::Error),
    /// The SQLite file does not exist yet.
    #[error("SQLite database {} does not exist (sipd or the first sipctl add creates it)", .0.display())]
    NoDatabase(PathBuf),
    /// The record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The record exists already.
    #[error("{0}")]
    Exists(String),
    /// A name, password, pattern or URI was refused.
    #[error("{0}")]
    Invalid(String),
    /// The database could not be opened or reported an error.
    #[error("{database}: {source}")]
    Database {
        /// Which database (passwords left out).
        database: String,
        /// What the database layer reported.
        source: rtc_userdb::Error,
    },
    /// Writing the output failed (a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
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

/// Parse the process arguments, run the command and report: the `main` of `sipctl`.
pub fn main_from_env() -> ExitCode {
    let mut strings = Vec::new();
    for arg in std::env::args_os() {
        match arg.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                eprintln!("sipctl: argument {bad:?} is not valid UTF-8");
                return ExitCode::from(2);
            }
        }
    }
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    let args: Args = match argh::FromArgs::from_args(&["sipctl"], &rest) {
        Ok(a) => a,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    println!("{}", early.output);
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    eprintln!("{}", early.output);
                    ExitCode::from(2)
                }
            };
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipctl: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

/// Run one parsed command line.
pub fn run(args: &Args) -> Result<(), AdminError> {
    let path = args.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let settings = AdminSettings::load(&path).map_err(|source| AdminError::Config { source })?;
    if let DatabaseConfig::Sqlite(s) = &settings.database {
        let creates = matches!(&args.command, Command::Add(_) | Command::Domain(_) | Command::Route(_));
        if !creates && !s.path.exists() {
            return Err(AdminError::NoDatabase(s.path.clone()));
        }
    }
    let password = match &args.command {
        Command::Add(a) => Some(obtain_password(a.password.as_deref())?),
        Command::Passwd(p) => Some(obtain_password(p.password.as_deref())?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(AdminError::Runtime)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    runtime.block_on(ops::execute(&settings, &args.command, password, &mut out))?;
    out.flush().map_err(AdminError::Output)
}

/// The password from the command line, a prompt without echo, or one line of
/// standard input.
fn obtain_password(given: Option<&str>) -> Result<String, AdminError> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("password: ").map_err(AdminError::PasswordRead)?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(AdminError::PasswordRead)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if line.is_empty() {
        return Err(AdminError::Invalid("the password is empty".into()));
    }
    Ok(line)
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
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The directory of an SQLite file, which must exist before it is created.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_passwords_are_left_out_of_messages() {
        let d = describe(&DatabaseConfig::mysql("mysql://sipd:hunter2@db.falcot.com:3306/rtc"));
        assert_eq!(d, "MySQL database mysql://sipd@db.falcot.com:3306/rtc");
        assert_eq!(redact("mysql://db/rtc"), "mysql://db/rtc");
        assert_eq!(parent_dir(Path::new("x.sqlite")), Path::new("."));
    }
}
