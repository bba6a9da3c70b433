//! `xmppctl`: manage `xmppd` accounts and check its setup (`prosodyctl` for
//! this server). It reads the daemon's configuration file to find the same
//! database and hosts, and works while `xmppd` runs.
//!
//! Exit status: 0 on success, 1 when the operation failed (unknown account,
//! database error, problems found by `check`), 2 for a configuration or
//! usage error, 3 from `status` when xmppd is not running.

mod check;
mod dbfile;
mod password;

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use rtc_userdb::XmppStore;
use xmppd::config::{XmppdConfig, DEFAULT_CONFIG_PATH};
use xmppd::core::Jid;

/// Manage xmppd accounts and check its configuration.
#[derive(FromArgs, Debug)]
#[argh(example = "xmppctl adduser joe@falcot.com\nxmppctl register joe falcot.com 'secret'\nxmppctl check")]
struct Args {
    /// configuration file (default: /etc/xmppd/xmppd.yaml)
    #[argh(option, short = 'c', default = "PathBuf::from(DEFAULT_CONFIG_PATH)")]
    config: PathBuf,
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    AddUser(AddUser),
    Passwd(Passwd),
    DelUser(DelUser),
    Register(Register),
    Check(Check),
    Status(Status),
}

/// create an account; the password is asked twice on a terminal, else read from stdin
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "adduser")]
struct AddUser {
    /// the account, user@host
    #[argh(positional)]
    jid: String,
}

/// set a new password; asked twice on a terminal, else read from stdin
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "passwd")]
struct Passwd {
    /// the account, user@host
    #[argh(positional)]
    jid: String,
}

/// delete an account with its roster, offline messages and stored data
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "deluser")]
struct DelUser {
    /// the account, user@host
    #[argh(positional)]
    jid: String,
}

/// create an account non-interactively
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "register")]
struct Register {
    /// the user name
    #[argh(positional)]
    user: String,
    /// the virtual host
    #[argh(positional)]
    host: String,
    /// the password
    #[argh(positional)]
    password: String,
}

/// check the configuration, certificates and DNS records
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
struct Check {
    /// skip the DNS SRV lookups (offline machines)
    #[argh(switch)]
    no_dns: bool,
}

/// tell whether xmppd is running and count accounts
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
struct Status {}

/// What went wrong, and with which exit status.
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    fn op(message: impl Into<String>) -> Self {
        Self { status: 1, message: message.into() }
    }
    fn usage(message: impl Into<String>) -> Self {
        Self { status: 2, message: message.into() }
    }
}

impl From<rtc_userdb::Error> for Failure {
    fn from(e: rtc_userdb::Error) -> Self {
        Self::op(e.to_string())
    }
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let config = match XmppdConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xmppctl: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xmppctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(&args, &config)) {
        Ok(status) => ExitCode::from(status),
        Err(f) => {
            eprintln!("xmppctl: {}", f.message);
            ExitCode::from(f.status)
        }
    }
}

async fn dispatch(args: &Args, config: &XmppdConfig) -> Result<u8, Failure> {
    match &args.command {
        Command::Check(c) => return Ok(check::run(&args.config, config, !c.no_dns).await),
        Command::Status(_) => return check::status(config).await,
        _ => {}
    }
    let db = dbfile::open(&config.database).await?;
    let outcome = accounts(&args.command, config, &db.xmpp()).await;
    let closed = dbfile::close(db, &config.database).await;
    outcome?;
    closed?;
    Ok(0)
}

/// The account commands (adduser, passwd, deluser, register).
async fn accounts(command: &Command, config: &XmppdConfig, store: &XmppStore) -> Result<(), Failure> {
    match command {
        Command::AddUser(a) => {
            let (user, host) = account(config, &a.jid)?;
            if store.account_exists(&host, &user).await? {
                return Err(Failure::op(format!("{user}@{host} already exists; use `xmppctl passwd {user}@{host}`")));
            }
            let pw = password::obtain(true)?;
            store.create_account(&host, &user, &pw).await?;
            println!("created {user}@{host}");
        }
        Command::Passwd(p) => {
            let (user, host) = account(config, &p.jid)?;
            if !store.account_exists(&host, &user).await? {
                return Err(Failure::op(format!("no account {user}@{host}")));
            }
            let pw = password::obtain(true)?;
            store.set_password(&host, &user, &pw).await?;
            println!("password of {user}@{host} changed");
        }
        Command::DelUser(d) => {
            let (user, host) = account(config, &d.jid)?;
            match store.delete_account(&host, &user).await {
                Ok(()) => println!("deleted {user}@{host}"),
                Err(rtc_userdb::Error::NotFound(_)) => return Err(Failure::op(format!("no account {user}@{host}"))),
                Err(e) => return Err(e.into()),
            }
        }
        Command::Register(r) => {
            let (user, host) = account(config, &format!("{}@{}", r.user, r.host))?;
            match store.create_account(&host, &user, &r.password).await {
                Ok(()) => println!("created {user}@{host}"),
                Err(rtc_userdb::Error::AlreadyExists(_)) => {
                    return Err(Failure::op(format!("{user}@{host} already exists")))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Check(_) | Command::Status(_) => {}
    }
    Ok(())
}

/// `user@host` → normalised (user, host); the host must be configured.
fn account(config: &XmppdConfig, jid: &str) -> Result<(String, String), Failure> {
    let j = Jid::parse(jid).map_err(|e| Failure::usage(format!("{jid}: not a valid JID: {e}")))?;
    let Some(user) = j.node() else {
        return Err(Failure::usage(format!("{jid}: give an account as user@host")));
    };
    if !j.is_bare() {
        return Err(Failure::usage(format!("{jid}: leave out the /resource")));
    }
    let host = j.domain();
    if !config.hosts.iter().any(|h| h.domain == host) {
        let known: Vec<&str> = config.hosts.iter().map(|h| h.domain.as_str()).collect();
        return Err(Failure::usage(format!(
            "{host} is not a virtual host of this server (configured: {})",
            known.join(", ")
        )));
    }
    Ok((user.to_owned(), host.to_owned()))
}
