//! Logging to stderr with `tracing`, in a plain single-line format that suits journald.
//!
//! The level comes from the config file (`"info"`, `"turnd=debug,rtc_stun=trace"`,
//! any `EnvFilter` directive list); a non-empty `RUST_LOG` overrides it. When
//! systemd connects stderr to the journal (it sets `JOURNAL_STREAM`), lines carry
//! no timestamp (journald adds its own) and no colour; otherwise they carry a
//! timestamp and are coloured only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use crate::error::{Error, Result};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStyle {
    /// Prefix each line with a timestamp.
    pub timestamps: bool,
    /// Use ANSI colours.
    pub ansi: bool,
}

impl LogStyle {
    /// The style for a process whose stderr is (or is not) the journal or a terminal.
    pub fn for_environment(journal_stream: bool, stderr_is_tty: bool) -> Self {
        if journal_stream {
            Self {
                timestamps: false,
                ansi: false,
            }
        } else {
            Self {
                timestamps: true,
                ansi: stderr_is_tty,
            }
        }
    }

    /// The style for this process, from `JOURNAL_STREAM` and stderr.
    pub fn detect() -> Self {
        Self::for_environment(
            std::env::var_os("JOURNAL_STREAM").is_some(),
            std::io::stderr().is_terminal(),
        )
    }
}

/// Which filter applies: a non-empty `RUST_LOG` wins over the configured level.
fn choose_filter<'a>(configured: &'a str, rust_log: Option<&'a str>) -> (&'a str, &'static str) {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(env) => (env, "RUST_LOG"),
        None => (configured, "config"),
    }
}

fn parse_filter(filter: &str, origin: &'static str) -> Result<EnvFilter> {
    EnvFilter::builder()
        .parse(filter)
        .map_err(|e| Error::LogFilter {
            filter: filter.to_owned(),
            origin,
            message: e.to_string(),
        })
}

/// Changes the log level after start-up, for example on SIGHUP.
#[derive(Debug)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    env_override: Option<String>,
}

impl LogHandle {
    /// Apply a new configured level. Ignored (returns `Ok`) while `RUST_LOG` overrides it.
    pub fn set_level(&self, level: &str) -> Result<()> {
        if self.env_override.is_some() {
            return Ok(());
        }
        let filter = parse_filter(level, "config")?;
        // Fails only if the subscriber is gone, in which case there is nothing to update.
        let _ = self.filter.reload(filter);
        Ok(())
    }
}

/// Install the global logger writing to stderr. Call once, early in `main`.
pub fn init_logging(level: &str) -> Result<LogHandle> {
    init_logging_with(level, LogStyle::detect())
}

/// [`init_logging`] with an explicit style.
pub fn init_logging_with(level: &str, style: LogStyle) -> Result<LogHandle> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (text, origin) = choose_filter(level, rust_log.as_deref());
    let filter = parse_filter(text, origin)?;
    let (filter_layer, handle) = reload::Layer::new(filter);
    let timed = style.timestamps.then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(style.ansi)
    });
    let untimed = (!style.timestamps).then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(style.ansi)
            .without_time()
    });
    tracing_subscriber::registry()
        .with(filter_layer)
        .with(timed)
        .with(untimed)
        .try_init()
        .map_err(|_| Error::LoggingAlreadyInitialised)?;
    let env_override = (origin == "RUST_LOG").then(|| text.to_owned());
    Ok(LogHandle {
        filter: handle,
        env_override,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_gets_no_timestamps_and_no_colour() {
        assert_eq!(
            LogStyle::for_environment(true, true),
            LogStyle {
                timestamps: false,
                ansi: false
            }
        );
    }

    #[test]
    fn terminal_gets_timestamps_and_colour_pipe_gets_no_colour() {
        assert_eq!(
            LogStyle::for_environment(false, true),
            LogStyle {
                timestamps: true,
                ansi: true
            }
        );
        assert_eq!(
            LogStyle::for_environment(false, false),
            LogStyle {
                timestamps: true,
                ansi: false
            }
        );
    }

    #[test]
    fn rust_log_overrides_the_configured_level_unless_empty() {
        assert_eq!(
            choose_filter("info", Some("turnd=trace")),
            ("turnd=trace", "RUST_LOG")
        );
        assert_eq!(choose_filter("info", Some("  ")), ("info", "config"));
        assert_eq!(choose_filter("info", None), ("info", "config"));
    }

    #[test]
    fn bad_filter_is_reported_with_its_origin() {
        let err = parse_filter("turnd=loud", "config").unwrap_err();
        assert!(
            matches!(
                err,
                Error::LogFilter {
                    origin: "config",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"turnd=loud\""), "{err}");
        assert!(parse_filter("info,turnd=debug,rtc_stun=trace", "config").is_ok());
    }
}
