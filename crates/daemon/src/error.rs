//! The one error type of this crate.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the daemon plumbing can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A configuration file was read but its content is not acceptable.
    ///
    /// Shown as `FILE:LINE:COLUMN: KEY: MESSAGE`, leaving out what is unknown.
    #[error("{}", invalid_display(path, *line, *column, key, message))]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// 1-based column, when the parser knows it.
        column: Option<usize>,
        /// Dotted key path such as `relay.ports[0].min`; empty for the document root.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A log filter (from the config or `RUST_LOG`) is not valid.
    #[error("invalid log filter {filter:?} (from {origin}): {message}")]
    LogFilter {
        /// The rejected filter text.
        filter: String,
        /// Where it came from: `config` or `RUST_LOG`.
        origin: &'static str,
        /// What the filter parser reported.
        message: String,
    },
    /// A global logger was already installed.
    #[error("logging is already initialised")]
    LoggingAlreadyInitialised,
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] io::Error),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the readiness line to stdout failed.
    #[error("cannot write the READY line: {0}")]
    Ready(#[source] io::Error),
}

impl Error {
    /// An error found by a daemon's own validation after parsing (for example
    /// `min > max`), reported in the same `FILE: KEY: MESSAGE` shape.
    pub fn invalid(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::ConfigInvalid {
            path: path.into(),
            line: None,
            column: None,
            key: key.into(),
            message: message.into(),
        }
    }
}

fn invalid_display(
    path: &Path,
    line: Option<usize>,
    column: Option<usize>,
    key: &str,
    message: &str,
) -> String {
    let mut out = path.display().to_string();
    if let Some(line) = line {
        let _ = write!(out, ":{line}");
        if let Some(column) = column {
            let _ = write!(out, ":{column}");
        }
    }
    out.push_str(": ");
    if !key.is_empty() {
        out.push_str(key);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_config_shows_file_line_column_key_message() {
        let e = Error::ConfigInvalid {
            path: "/etc/turnd/turnd.yaml".into(),
            line: Some(12),
            column: Some(3),
            key: "relay.ports.min".into(),
            message: "invalid value".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/turnd/turnd.yaml:12:3: relay.ports.min: invalid value"
        );
    }

    #[test]
    fn unknown_parts_are_left_out() {
        let e = Error::invalid("/etc/sipd/sipd.yaml", "", "empty document");
        assert_eq!(e.to_string(), "/etc/sipd/sipd.yaml: empty document");
        let e = Error::invalid("x.yaml", "a.b", "min must not exceed max");
        assert_eq!(e.to_string(), "x.yaml: a.b: min must not exceed max");
    }
}
