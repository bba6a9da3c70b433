//! The daemon lifecycle: SIGHUP asks for a reload, SIGTERM or SIGINT for a graceful
//! stop, and a second SIGTERM or SIGINT for an immediate one.
//!
//! A daemon's `main` looks like this:
//!
//! ```no_run
//! # async fn demo() -> Result<(), rtc_daemon::Error> {
//! use rtc_daemon::{Event, Lifecycle};
//! let mut life = Lifecycle::new();
//! life.install_signals()?;
//! // spawn listeners with life.shutdown() and life.tracker() ...
//! loop {
//!     match life.next_event().await {
//!         Event::Reload => { /* rtc_daemon::notify::reloading(); re-read config; rtc_daemon::notify::ready(); */ }
//!         Event::Shutdown => break,
//!     }
//! }
//! rtc_daemon::notify::stopping();
//! let _outcome = life.drain(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::shutdown::{drain, Drain, Shutdown, ShutdownTrigger, TaskTracker};

/// What the main loop should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Re-read the configuration and certificates (SIGHUP).
    Reload,
    /// Stop accepting work and drain (SIGTERM, SIGINT).
    Shutdown,
}

/// Shutdown, reload and task tracking for one daemon process.
#[derive(Debug)]
pub struct Lifecycle {
    stop: ShutdownTrigger,
    force: ShutdownTrigger,
    reload_tx: mpsc::Sender<()>,
    reload_rx: mpsc::Receiver<()>,
    tracker: TaskTracker,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A lifecycle driven only by method calls; add [`install_signals`](Self::install_signals)
    /// for a real daemon.
    pub fn new() -> Self {
        let (stop, _) = ShutdownTrigger::new();
        let (force, _) = ShutdownTrigger::new();
        // Capacity one: reload requests arriving during a reload collapse into one.
        let (reload_tx, reload_rx) = mpsc::channel(1);
        Self {
            stop,
            force,
            reload_tx,
            reload_rx,
            tracker: TaskTracker::new(),
        }
    }

    /// Listen for SIGHUP, SIGTERM and SIGINT. Must be called inside a tokio runtime.
    pub fn install_signals(&self) -> Result<()> {
        let mut hup = signal(SignalKind::hangup()).map_err(Error::Signals)?;
        let mut term = signal(SignalKind::terminate()).map_err(Error::Signals)?;
        let mut int = signal(SignalKind::interrupt()).map_err(Error::Signals)?;
        let reload = self.reload_tx.clone();
        let stop = self.stop.clone();
        let handle = self.handle();
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    Some(()) = hup.recv() => {
                        tracing::info!("SIGHUP received: reloading");
                        let _ = reload.try_send(());
                        continue;
                    }
                    Some(()) = term.recv() => "SIGTERM",
                    Some(()) = int.recv() => "SIGINT",
                    else => return,
                };
                if stop.is_triggered() {
                    tracing::warn!("{name} received again: stopping now");
                } else {
                    tracing::info!("{name} received: shutting down");
                }
                handle.stop();
            }
        });
        Ok(())
    }

    /// A handle that can request reloads and stops from other tasks.
    pub fn handle(&self) -> LifecycleHandle {
        LifecycleHandle {
            stop: self.stop.clone(),
            force: self.force.clone(),
            reload: self.reload_tx.clone(),
        }
    }

    /// The token that tasks watch to know when to stop.
    pub fn shutdown(&self) -> Shutdown {
        self.stop.token()
    }

    /// The tracker for tasks that shutdown should wait for.
    pub fn tracker(&self) -> TaskTracker {
        self.tracker.clone()
    }

    /// Wait for the next reload or shutdown request. Once shutdown has been
    /// requested this returns [`Event::Shutdown`] immediately, every time.
    pub async fn next_event(&mut self) -> Event {
        if self.stop.is_triggered() {
            return Event::Shutdown;
        }
        let stop = self.stop.token();
        tokio::select! {
            biased;
            () = stop.wait() => Event::Shutdown,
            Some(()) = self.reload_rx.recv() => Event::Reload,
        }
    }

    /// After shutdown: wait up to `grace` for tracked tasks, cut short by a second stop signal.
    pub async fn drain(&self, grace: Duration) -> Drain {
        let force = self.force.token();
        let outcome = drain(&self.tracker, grace, Some(&force)).await;
        if let Drain::Abandoned { remaining } = outcome {
            tracing::warn!(remaining, "stopping with tasks still running");
        }
        outcome
    }
}

/// Requests reloads and stops from anywhere (an admin socket, a test).
#[derive(Debug, Clone)]
pub struct LifecycleHandle {
    stop: ShutdownTrigger,
    force: ShutdownTrigger,
    reload: mpsc::Sender<()>,
}

impl LifecycleHandle {
    /// Ask for a reload, as SIGHUP does.
    pub fn reload(&self) {
        let _ = self.reload.try_send(());
    }

    /// Ask for a graceful stop, as SIGTERM does; a second call forces it.
    pub fn stop(&self) {
        if self.stop.is_triggered() {
            self.force.trigger();
        } else {
            self.stop.trigger();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reload_requests_collapse_and_stop_wins() {
        let mut life = Lifecycle::new();
        let handle = life.handle();
        handle.reload();
        handle.reload();
        handle.reload();
        assert_eq!(life.next_event().await, Event::Reload);
        handle.reload();
        handle.stop();
        // Shutdown takes priority over a pending reload, and stays reported.
        assert_eq!(life.next_event().await, Event::Shutdown);
        assert_eq!(life.next_event().await, Event::Shutdown);
        assert!(life.shutdown().is_triggered());
    }

    #[tokio::test(start_paused = true)]
    async fn second_stop_request_ends_the_drain_early() {
        let life = Lifecycle::new();
        let handle = life.handle();
        let token = life.shutdown();
        // A connection that ignores shutdown entirely.
        life.tracker()
            .spawn(async { std::future::pending::<()>().await });
        // One that closes a second after shutdown.
        life.tracker().spawn(async move {
            token.wait().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        handle.stop();
        let second = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            second.stop();
        });
        let start = tokio::time::Instant::now();
        assert_eq!(
            life.drain(Duration::from_secs(60)).await,
            Drain::Abandoned { remaining: 1 }
        );
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }
}
