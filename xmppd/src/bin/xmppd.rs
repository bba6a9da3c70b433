//! `xmppd`: the XMPP server daemon.
//!
//! Parses the command line, loads the configuration (with its drop-in host
//! files), starts logging, and hands over to [`xmppd::shell::run`]. Exit
//! status: 0 after a clean stop, 2 for a configuration error, 1 for anything
//! else that prevents serving.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use argh::FromArgs;
use rtc_daemon::cli::{daemon_main, DaemonArgs};
use rtc_daemon::Lifecycle;
use xmppd::config::{XmppdConfig, DEFAULT_CONFIG_PATH};
use xmppd::shell::{self, Startup};

/// XMPP server (RFC 6120, RFC 6121 and the usual server XEPs).
#[derive(FromArgs, Debug)]
struct Args {
    /// configuration file (default: /etc/xmppd/xmppd.yaml)
    #[argh(option, short = 'c', default = "PathBuf::from(DEFAULT_CONFIG_PATH)")]
    config: PathBuf,
    /// check the configuration, drop-in files and certificates, print "configuration OK" and exit
    #[argh(switch)]
    check_config: bool,
    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let daemon = DaemonArgs {
        name: "xmppd",
        version: env!("CARGO_PKG_VERSION"),
        config: &args.config,
        check_config: args.check_config,
        print_version: args.version,
    };
    let path = args.config.clone();
    daemon_main(daemon, XmppdConfig::load, shell::check_certificates, |config| serve(path, config))
}

fn serve(config_path: PathBuf, config: XmppdConfig) -> anyhow::Result<()> {
    let log = rtc_daemon::logging::init_logging(&config.log).context("cannot start logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(shell::worker_count(config.workers))
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let startup = Startup { config_path, config, log: Some(log) };
    runtime.block_on(async { shell::run(startup, Lifecycle::new()).await })?;
    Ok(())
}
