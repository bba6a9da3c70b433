//! Scenario tests of the sans-IO core: literal XML in, literal XML out, on a
//! virtual clock, with an in-memory storage standing in for the shell.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod harness;
mod scram_client;

mod features;
mod login;
mod muc;
mod offline;
mod presence;
mod routing;
mod sm;
mod streams;
mod subscriptions;
mod timers;
