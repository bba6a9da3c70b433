//! `sipd`: a SIP proxy and registrar for Debian servers, replacing
//! kamailio/repro (RFC 3261 §10 and §16, RFC 3327, RFC 3581, RFC 5626).
//!
//! What it does: the [`core`] module is a sans-IO engine — transactions,
//! a stateful forking proxy, a registrar, digest authentication, NAT and
//! RFC 5626 flow handling, static routes and abuse limits. It takes bytes,
//! the flow they came from and `now`, and returns datagrams/stream writes to
//! send, events asking the shell for database work, and its next deadline.
//!
//! What it deliberately does not do (in the core): read clocks, open sockets,
//! resolve DNS, touch the database, terminate TLS/WebSocket, answer CRLF
//! keepalives, or look inside SDP (no media relaying, no B2BUA features).
//!
//! Around it: [`config`] reads `/etc/sipd/sipd.yaml` for both the daemon and
//! `sipctl`; [`shell`] is the tokio shell (UDP, TCP, TLS, WS and WSS
//! listeners, the connection registry, the database, reload and drain) that
//! the `sipd` binary runs; [`admin`] is `sipctl`, the kamctl-like tool.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod admin;
pub mod config;
pub mod core;
pub mod shell;
