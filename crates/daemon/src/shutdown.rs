//! Shutdown tokens, task tracking and draining. No signals here; see [`crate::signals`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A cloneable token telling tasks to stop accepting work and finish.
///
/// Obtained from [`ShutdownTrigger::new`] or [`crate::Lifecycle::shutdown`].
/// If the trigger is dropped without firing, the token counts as triggered, so
/// tasks never wait forever on a daemon that is gone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Whether shutdown has been requested.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Wait until shutdown is requested (returns at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        // An error means the trigger was dropped: treat it as shutdown.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}

/// The sending side of a [`Shutdown`] token. Clones fire the same tokens.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    tx: Arc<watch::Sender<bool>>,
}

impl ShutdownTrigger {
    /// A new trigger and its token.
    pub fn new() -> (Self, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Self { tx: Arc::new(tx) }, Shutdown { rx })
    }

    /// Request shutdown. Idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`trigger`](Self::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Another token for the same trigger.
    pub fn token(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

/// Counts running tasks (connections, transactions) so shutdown can wait for them.
#[derive(Debug, Clone)]
pub struct TaskTracker {
    count: watch::Sender<usize>,
}

impl Default for TaskTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self {
            count: watch::Sender::new(0),
        }
    }

    /// Count one task until the returned guard is dropped.
    pub fn track(&self) -> TaskGuard {
        self.count.send_modify(|n| *n += 1);
        TaskGuard {
            count: self.count.clone(),
        }
    }

    /// Spawn `future` on tokio, counted until it completes.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = self.track();
        tokio::spawn(async move {
            let out = future.await;
            drop(guard);
            out
        })
    }

    /// Number of tasks currently counted.
    pub fn active(&self) -> usize {
        *self.count.borrow()
    }

    /// Wait until no task is counted.
    pub async fn wait_idle(&self) {
        let mut rx = self.count.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Keeps one task counted in a [`TaskTracker`] while alive.
#[derive(Debug)]
#[must_use = "the task is only counted while the guard is alive"]
pub struct TaskGuard {
    count: watch::Sender<usize>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How draining ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every tracked task finished within the grace period.
    Complete,
    /// The grace period ran out (or a forced stop came) with this many tasks still running.
    Abandoned {
        /// Tasks still counted.
        remaining: usize,
    },
}

/// Wait up to `grace` for all tasks of `tracker` to finish, or until `force` fires.
///
/// Call after triggering shutdown; the caller then returns from `main`, which
/// drops whatever is still running.
pub async fn drain(tracker: &TaskTracker, grace: Duration, force: Option<&Shutdown>) -> Drain {
    let forced = async {
        match force {
            Some(f) => f.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tracker.wait_idle() => return Drain::Complete,
        () = tokio::time::sleep(grace) => {}
        () = forced => {}
    }
    match tracker.active() {
        0 => Drain::Complete,
        remaining => Drain::Abandoned { remaining },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_reports_and_wakes_on_trigger() {
        let (trigger, token) = ShutdownTrigger::new();
        let other = token.clone();
        assert!(!token.is_triggered());
        let waiter = tokio::spawn(async move { other.wait().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        trigger.trigger();
        waiter.await.unwrap();
        assert!(token.is_triggered());
        token.wait().await; // already triggered: returns at once
    }

    #[tokio::test]
    async fn dropping_the_trigger_counts_as_shutdown() {
        let (trigger, token) = ShutdownTrigger::new();
        drop(trigger);
        assert!(token.is_triggered());
        token.wait().await;
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_tasks_that_finish_within_grace() {
        let tracker = TaskTracker::new();
        let (trigger, token) = ShutdownTrigger::new();
        for delay in [1u64, 3, 5] {
            let token = token.clone();
            tracker.spawn(async move {
                token.wait().await;
                tokio::time::sleep(Duration::from_secs(delay)).await;
            });
        }
        assert_eq!(tracker.active(), 3);
        trigger.trigger();
        let start = tokio::time::Instant::now();
        assert_eq!(
            drain(&tracker, Duration::from_secs(10), None).await,
            Drain::Complete
        );
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_grace_and_reports_stragglers() {
        let tracker = TaskTracker::new();
        let quick = tracker.track();
        let _stuck = tracker.track();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(quick);
        });
        let start = tokio::time::Instant::now();
        let outcome = drain(&tracker, Duration::from_secs(30), None).await;
        assert_eq!(outcome, Drain::Abandoned { remaining: 1 });
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn forced_stop_cuts_the_grace_period_short() {
        let tracker = TaskTracker::new();
        let _stuck = tracker.track();
        let (force, force_token) = ShutdownTrigger::new();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            force.trigger();
        });
        let start = tokio::time::Instant::now();
        let outcome = drain(&tracker, Duration::from_secs(30), Some(&force_token)).await;
        assert_eq!(outcome, Drain::Abandoned { remaining: 1 });
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn drain_with_nothing_running_is_immediate() {
        let tracker = TaskTracker::new();
        assert_eq!(
            drain(&tracker, Duration::from_secs(3600), None).await,
            Drain::Complete
        );
    }
}
