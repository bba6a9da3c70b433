//! systemd service notifications (`sd_notify(3)`). Every function is a no-op
//! when `NOTIFY_SOCKET` is unset, i.e. when not started by systemd with
//! `Type=notify` or `Type=notify-reload`.
//!
//! Failures are logged, not returned: a daemon keeps serving even if the
//! service manager cannot be told about it.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("sd_notify failed: {e}");
    }
}

/// Start-up or reload finished: `READY=1`.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A reload (SIGHUP) has started: `RELOADING=1` with `MONOTONIC_USEC`, which
/// systemd 253 and later require for `Type=notify-reload`. Send [`ready`] when
/// the reload is done, whether it succeeded or not.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::warn!("cannot read CLOCK_MONOTONIC for sd_notify: {e}");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// Graceful shutdown has started: `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A one-line status shown by `systemctl status`: `STATUS=...`.
pub fn status(text: &str) {
    // A newline would end the assignment early and start a bogus one.
    let line = text.replace(['\n', '\r'], " ");
    send(&[NotifyState::Status(&line)]);
}

/// The watchdog interval if systemd enabled one (`WatchdogSec=`) for this process.
/// Call [`watchdog`] at least twice per interval.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Keep-alive ping for the systemd watchdog: `WATCHDOG=1`.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}
