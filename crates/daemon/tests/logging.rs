//! What the log looks like on stderr, checked in a child process (the global
//! logger can only be installed once per process).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

const CHILD: &str = "RTC_DAEMON_LOGGING_CHILD";

/// Not a test by itself: the tests below run it in a child process, where it
/// installs the logger with the level in `RTC_DAEMON_LOGGING_CHILD` and logs.
#[test]
#[ignore = "helper run in a child process by the other tests of this file"]
fn child_logs_two_lines() {
    let level = std::env::var(CHILD).expect("run by the other tests of this file");
    let handle = rtc_daemon::logging::init_logging(&level).unwrap();
    tracing::warn!("hello from warn");
    tracing::info!("hello from info");
    tracing::debug!("hello from debug");
    handle.set_level("debug").unwrap();
    tracing::debug!("debug after reload");
}

fn run_child(level: &str, envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_logs_two_lines",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, level)
    .env_remove("RUST_LOG")
    .env_remove("JOURNAL_STREAM");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

fn line_with<'a>(stderr: &'a str, needle: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in {stderr:?}"))
}

#[test]
fn journald_lines_have_no_timestamp_and_no_colour() {
    let stderr = run_child("info", &[("JOURNAL_STREAM", "8:12345")]);
    let line = line_with(&stderr, "hello from info");
    assert!(
        line.starts_with(" INFO") || line.starts_with("INFO"),
        "{line:?}"
    );
    assert!(!line.contains('\x1b'), "{line:?}");
    assert!(!stderr.contains("hello from debug"), "{stderr}");
}

#[test]
fn piped_lines_have_a_timestamp_and_no_colour() {
    let stderr = run_child("info", &[]);
    let line = line_with(&stderr, "hello from info");
    // RFC 3339 timestamp first, e.g. 2026-01-01T00:00:00.000000Z
    let first = line.split_whitespace().next().unwrap();
    assert!(
        first.len() >= 20 && first.as_bytes()[4] == b'-' && first.contains('T'),
        "{line:?}"
    );
    assert!(!line.contains('\x1b'), "{line:?}");
}

#[test]
fn rust_log_overrides_the_configured_level_and_its_reload() {
    let stderr = run_child("debug", &[("RUST_LOG", "warn")]);
    assert!(stderr.contains("hello from warn"), "{stderr}");
    assert!(!stderr.contains("hello from info"), "{stderr}");
    assert!(!stderr.contains("debug after reload"), "{stderr}");
    let stderr = run_child("warn", &[("RUST_LOG", "logging=debug")]);
    assert!(stderr.contains("hello from debug"), "{stderr}");
}

#[test]
fn reload_changes_the_configured_level() {
    let stderr = run_child("info", &[]);
    assert!(!stderr.contains("hello from debug"), "{stderr}");
    assert!(stderr.contains("debug after reload"), "{stderr}");
}
