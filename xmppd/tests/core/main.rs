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
mod web_features;
mod login;
mod mam;
mod muc;
mod offline;
mod pep;
mod presence;
mod routing;
mod s2s;
mod sm;
mod streams;
mod subscriptions;
mod timers;
