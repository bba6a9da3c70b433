//! `turnd`: a STUN/TURN server (RFC 8489, RFC 8656, RFC 5780, RFC 6062, RFC 6156).
//!
//! The crate has two halves. [`core`] is a sans-IO protocol engine: it takes
//! packets, key-lookup answers and the current time, and returns packets to
//! send, requests for I/O and its next deadline. It never reads the clock,
//! touches a socket or a database, or spawns a task, so every behaviour is
//! tested on a virtual clock. The tokio shell (sockets, UDP batching, TCP/TLS
//! listeners, relay sockets, configuration files) wraps one core per worker.
//! [`config`] reads `/etc/turnd/turnd.yaml` for both the daemon and
//! `turnadmin`, whose logic (coturn-compatible flags) lives in [`admin`].
//!
//! Deliberately not here: the STUN wire codec (the `rtc-stun` crate), the user
//! database and password hashing (`rtc-userdb`), and TURN client behaviour.
#![deny(missing_docs)]

pub mod admin;
pub mod config;
pub mod core;
pub mod shell;
