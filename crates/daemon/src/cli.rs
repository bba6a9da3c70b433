//! Helpers shared by the daemons' command lines. Each daemon keeps its own
//! `argh` struct; this module holds what their `--check-config` paths share.

use std::fmt::Display;
use std::path::Path;
use std::process::ExitCode;

use serde::de::DeserializeOwned;

use crate::config::load_yaml;

/// Exit status of a daemon or tool whose configuration is invalid.
pub const EXIT_CONFIG_ERROR: u8 = 2;

/// The outcome of a configuration check: the exit status and the line to print
/// (to stdout on success, stderr on failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// 0 when the configuration is valid, [`EXIT_CONFIG_ERROR`] otherwise.
    pub status: u8,
    /// `configuration OK: <path>` or the error.
    pub message: String,
}

impl CheckReport {
    /// Print the message where it belongs and turn the status into an [`ExitCode`].
    pub fn finish(self) -> ExitCode {
        if self.status == 0 {
            println!("{}", self.message);
        } else {
            eprintln!("{}", self.message);
        }
        ExitCode::from(self.status)
    }
}

/// Load `path` as `T`, then run the daemon's own `validate` (which may load
/// certificates, open the database read-only, compare ranges...).
pub fn check_report<T, E, F>(path: &Path, validate: F) -> CheckReport
where
    T: DeserializeOwned,
    E: Display,
    F: FnOnce(&T) -> Result<(), E>,
{
    let outcome = load_yaml::<T>(path)
        .map_err(|e| e.to_string())
        .and_then(|config| validate(&config).map_err(|e| e.to_string()));
    match outcome {
        Ok(()) => CheckReport {
            status: 0,
            message: format!("configuration OK: {}", path.display()),
        },
        Err(message) => CheckReport {
            status: EXIT_CONFIG_ERROR,
            message,
        },
    }
}

/// `--check-config`: parse only. Prints `configuration OK: <path>` and exits 0,
/// or prints the error and exits 2.
pub fn check_config<T: DeserializeOwned>(path: &Path) -> ExitCode {
    check_report::<T, std::convert::Infallible, _>(path, |_| Ok(())).finish()
}

/// `--check-config` with the daemon's semantic checks after parsing.
pub fn check_config_with<T, E, F>(path: &Path, validate: F) -> ExitCode
where
    T: DeserializeOwned,
    E: Display,
    F: FnOnce(&T) -> Result<(), E>,
{
    check_report(path, validate).finish()
}

/// The number of worker threads for a configured `workers` value: 0 means one
/// per available core; the result is kept within `1..=max`.
pub fn worker_count(configured: usize, max: usize) -> usize {
    let n = if configured == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    } else {
        configured
    };
    n.clamp(1, max.max(1))
}

/// What a daemon's `main` was asked to do, from its own `argh` flags.
#[derive(Debug, Clone, Copy)]
pub struct DaemonArgs<'a> {
    /// The daemon's name, for `--version` and error prefixes.
    pub name: &'a str,
    /// The daemon's version, printed by `--version`.
    pub version: &'a str,
    /// `--config PATH`.
    pub config: &'a Path,
    /// `--check-config`: stop after loading and checking.
    pub check_config: bool,
    /// `--version`: print the version and stop.
    pub print_version: bool,
}

/// The shared body of every daemon's `main`: `--version`; load the configuration;
/// check what loading alone cannot (certificates...); `--check-config`; serve.
///
/// Exit status: 0 after a clean stop, [`EXIT_CONFIG_ERROR`] for a configuration
/// error (printed as it comes: file, line and key), 1 when serving fails.
pub fn daemon_main<C, E1, E2, E3>(
    args: DaemonArgs<'_>,
    load: impl FnOnce(&Path) -> Result<C, E1>,
    check: impl FnOnce(&Path, &C) -> Result<(), E2>,
    serve: impl FnOnce(C) -> Result<(), E3>,
) -> ExitCode
where
    E1: Display,
    E2: Display,
    E3: Display,
{
    if args.print_version {
        println!("{} {}", args.name, args.version);
        return ExitCode::SUCCESS;
    }
    let config = match load(args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG_ERROR);
        }
    };
    if let Err(e) = check(args.config, &config) {
        eprintln!("{e}");
        return ExitCode::from(EXIT_CONFIG_ERROR);
    }
    if args.check_config {
        println!("configuration OK: {}", args.config.display());
        return ExitCode::SUCCESS;
    }
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e:#}", args.name);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        min: u16,
        max: u16,
    }

    #[test]
    fn worker_count_is_kept_within_bounds() {
        assert_eq!(worker_count(3, 256), 3);
        assert_eq!(worker_count(1000, 256), 256);
        assert!(worker_count(0, 256) >= 1);
        assert_eq!(worker_count(5, 0), 1);
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    fn ordered(c: &Cfg) -> Result<(), crate::Error> {
        if c.min > c.max {
            return Err(crate::Error::invalid("cfg", "min", "must not exceed max"));
        }
        Ok(())
    }

    #[test]
    fn valid_file_reports_ok_with_its_path() {
        let f = write("min: 1\nmax: 2\n");
        let r = check_report(f.path(), ordered);
        assert_eq!(
            r,
            CheckReport {
                status: 0,
                message: format!("configuration OK: {}", f.path().display())
            }
        );
    }

    #[test]
    fn parse_error_exits_2_with_file_line_and_key() {
        let f = write("min: 1\nmax: 2\nmix: 3\n");
        let r = check_report(f.path(), ordered);
        assert_eq!(r.status, 2);
        assert!(
            r.message.starts_with(&format!(
                "{}:3:1: mix: unknown field `mix`",
                f.path().display()
            )),
            "{}",
            r.message
        );
    }

    #[test]
    fn validation_error_exits_2() {
        let f = write("min: 5\nmax: 2\n");
        let r = check_report(f.path(), ordered);
        assert_eq!(
            r,
            CheckReport {
                status: 2,
                message: "cfg: min: must not exceed max".into()
            }
        );
    }

    #[test]
    fn missing_file_exits_2_naming_it() {
        let r = check_report::<Cfg, crate::Error, _>(Path::new("/nonexistent/x.yaml"), |_| Ok(()));
        assert_eq!(r.status, 2);
        assert!(
            r.message.starts_with("/nonexistent/x.yaml: cannot read"),
            "{}",
            r.message
        );
    }
}
