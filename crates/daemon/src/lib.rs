//! Plumbing shared by the `turnd`, `sipd` and `xmppd` daemons.
//!
//! What it does, one module each:
//! - [`config`]: YAML files into serde types, with errors naming file, line,
//!   column and key (`/etc/turnd/turnd.yaml:12:3: relay.ports.min: ...`);
//! - [`logging`]: `tracing` to stderr, journald-friendly, level from config or `RUST_LOG`;
//! - [`signals`] and [`shutdown`]: SIGHUP reload, SIGTERM/SIGINT graceful stop,
//!   shutdown tokens, task tracking and a bounded drain;
//! - [`notify`]: systemd `sd_notify` (ready, reloading, stopping, status);
//! - [`mod@ready`]: one log line per listener and the machine-readable `READY {json}`
//!   line on stdout that integration tests wait for;
//! - [`metrics`]: a minimal Prometheus scrape endpoint;
//! - [`cli`]: the shared `--check-config` behaviour; [`paths`]: Debian default paths;
//! - [`ratelimit`]: keyed token buckets for floods and authentication failures.
//!
//! What it deliberately does not do: speak any RTC protocol, own any protocol
//! socket, or define a daemon's configuration schema. Daemons bring their own
//! config structs and argument parsers and call into these helpers.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod cli;
pub mod config;
mod error;
mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod ratelimit;
pub mod ready;
pub mod shutdown;
pub mod signals;

pub use config::{load_yaml, load_yaml_str};
pub use error::{Error, Result};
pub use metrics::{MetricsConfig, MetricsServer, SharedRegistry};
pub use ready::{announce, ready, Listener, Proto};
pub use shutdown::{drain, Drain, Shutdown, ShutdownTrigger, TaskGuard, TaskTracker};
pub use signals::{Event, Lifecycle, LifecycleHandle};

/// The error type of [`load_yaml`]; the crate has a single error enum.
pub type ConfigError = Error;

pub use prometheus_client;
