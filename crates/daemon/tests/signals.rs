//! Real signals delivered to this test process with kill(1).
//!
//! This file holds a single test so that no other test shares the process
//! while it receives SIGHUP and SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use rtc_daemon::{Drain, Event, Lifecycle};

fn kill(signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(std::process::id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn next(life: &mut Lifecycle) -> Event {
    tokio::time::timeout(Duration::from_secs(10), life.next_event())
        .await
        .expect("no event within 10 s")
}

#[tokio::test]
async fn sighup_reloads_sigterm_drains_and_a_second_sigterm_forces() {
    let mut life = Lifecycle::new();
    life.install_signals().unwrap();
    let token = life.shutdown();

    kill("HUP");
    assert_eq!(next(&mut life).await, Event::Reload);
    assert!(!token.is_triggered());

    let _stuck = life.tracker().track();
    kill("TERM");
    assert_eq!(next(&mut life).await, Event::Shutdown);
    assert!(token.is_triggered());

    let drain = tokio::spawn(async move { life.drain(Duration::from_secs(600)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !drain.is_finished(),
        "drain should wait for the tracked task"
    );
    kill("TERM");
    let outcome = tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Drain::Abandoned { remaining: 1 });
}
