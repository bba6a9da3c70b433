//! xmppd: an XMPP server (a Prosody replacement) for Debian systems.
//!
//! What it does: [`core`] is the sans-IO protocol engine — client streams
//! (RFC 6120), instant messaging and presence (RFC 6121) and the usual
//! server XEPs — for several virtual hosts. It consumes bytes, connection
//! events, storage answers and time, and produces bytes, events and
//! deadlines.
//!
//! What it deliberately does not do (in this crate's core): sockets, TLS,
//! timers, databases or configuration files — a tokio shell drives the core
//! and owns those; server-to-server federation, components and MUC are not
//! implemented yet (the router has the place where they attach).
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

pub mod config;
pub mod core;
pub mod shell;

pub use crate::core::Error;
