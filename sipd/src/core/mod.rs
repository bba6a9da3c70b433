//! The sans-IO SIP proxy/registrar core (RFC 3261 §10, §16, §17; RFC 3327,
//! RFC 3581, RFC 5626, RFC 8760).
//!
//! A [`Core`] is one worker's engine. It takes received messages, the
//! shell's database answers and `now`; it returns messages to send, requests
//! for database work ([`Event`]) and its next deadline. It never reads the
//! clock, touches a socket or a database, resolves a name, or spawns.
//!
//! # Run loop
//!
//! ```text
//! let mut core = Core::new(config, listeners, secret, epoch, seed)?;
//! loop {
//!     match core.poll_output() {
//!         Output::Transmit(t) => send t.bytes from listener t.listener to t.destination
//!                                (Connection: that connection only; Addr: UDP datagram or a
//!                                 reused/new connection; Resolve: RFC 3263 lookup first);
//!                                on failure, if t.failure_token is Some(k): core.handle_transmit_failed(k, now)
//!         Output::Event(e)    => do what the table below says (may call back at once: see "Caching")
//!         Output::Timeout(at) => break, // wait for input or `at`, then core.handle_timeout(now)
//!     }
//! }
//! on a datagram / framed stream message / WebSocket message: core.handle_message(flow, &bytes, now)
//! on a stream connection closing:                            core.handle_flow_closed(connection, now)
//! on SIGHUP:                                                  core.set_config(new)?; core.handle_domains_changed(db_domains)
//! ```
//!
//! Drain `poll_output` after every `handle_*` call until it returns `Timeout`.
//! The shell answers RFC 5626 CRLF keepalives itself (double CRLF in, CRLF out)
//! and must frame TCP/TLS streams with [`rtc_sip::Framer`]; lone CRLFs handed to
//! the core are ignored.
//!
//! # Events and their answers
//!
//! | event | the shell does | then calls |
//! | --- | --- | --- |
//! | [`Event::NeedCredentials`] | reads the user's derived digest keys for the realm, and the bindings of `bindings_of` (a REGISTER's AoR) if it can in the same trip | [`Core::handle_credentials`] (`Ok(None)`: no such user), or [`Core::handle_credentials_and_bindings`] |
//! | [`Event::NeedBindings`] | reads every binding of the AoR, expired ones with `expires: 0` | [`Core::handle_location`] |
//! | [`Event::SaveBindings`] | applies the [`BindingChanges`] in one DB transaction, `expires` as now + seconds | [`Core::handle_saved`] with the AoR's bindings afterwards |
//! | [`Event::FlowBindingsGone`] | deletes bindings with that connection and `via_flow` | – |
//! | [`Event::AuthFailed`] | logs it (fail2ban-friendly) | – |
//! | [`Event::SourceBanned`] | logs it | – |
//!
//! A database error is answered with `Err(LookupFailed)` (the request gets
//! 500). Unanswered lookups time out after `limits.lookup_timeout_secs` (500).
//! At most `limits.max_pending_lookups` requests wait at once (then 503).
//!
//! # Caching
//!
//! The shell may answer an event from a cache immediately, from inside its
//! `poll_output` loop (the core queues what follows). Invalidate cached
//! bindings of an AoR on `SaveBindings` and `FlowBindingsGone`.
//!
//! # Workers
//!
//! Run one `Core` per worker thread and route every message by
//! [`Core::shard`] (a hash of the Call-ID): a transaction's retransmissions,
//! its CANCEL, its ACK and the responses to the requests it forwarded all
//! share the Call-ID, so they reach the core that owns the transaction.
//! Give every worker the same `secret` and `epoch` (nonces, flow tokens and
//! Record-Route signatures are then valid on all of them) and its own `seed`.
//! Broadcast `handle_flow_closed`, `set_config` and `handle_domains_changed`
//! (each core then emits its own `FlowBindingsGone`: deleting is idempotent).
//! Per-worker state: nonce-count records (a captured credential could be
//! replayed once per other worker within the nonce lifetime, with another
//! Call-ID), flood and auth-failure buckets (divide the limits by the worker
//! count, or use one worker when exactness matters).
//!
//! # Policy choices
//!
//! - Processing order follows kamailio's default script with WITH_AUTH and
//!   WITH_USRLOCDB (see `proxy/request.rs`); Route headers of initial requests
//!   are removed, as that script does.
//! - REGISTER always needs digest auth (401); other requests from a local
//!   domain need it (407) unless the source is in `trusted_sources`.
//!   Foreign-to-foreign requests get 403 "Relaying Forbidden".
//! - Oversized requests get 513, long Request-URIs 414 (kamailio says 403 for both).
//! - Record-Routes carry a `dlg` signature of the Call-ID; in-dialog requests
//!   whose top Route is ours but unsigned get 403, without our Route 404.
//! - Flow tokens ([`CoreConfig::flow_tokens`]): clients on streams, WebSocket or
//!   behind NAT get a token in the Record-Route facing them; the proxy then
//!   double-record-routes so the direction is never ambiguous.
//! - Static routes ([`RouteConfig`]) win over the location service for the
//!   numbers they match; they apply to initial requests for local domains,
//!   after authentication, and `callers: local` routes only to authenticated
//!   local users and trusted sources (no toll fraud from outside).
//! - Digest: SHA-256 and MD5 challenges, qop=auth; qop-less responses are
//!   accepted when `auth.allow_no_qop` (single-use nonces). Stale nonces are
//!   re-challenged with `stale=true` without a database lookup.
//! - Forking is parallel to every live binding, highest q first, at most
//!   `limits.max_branches`.

mod auth;
mod config;
mod crypto;
mod engine;
mod error;
mod flow;
mod metrics;
mod msg;
mod net;
mod proxy;
mod registrar;
mod reply;
mod routing;
mod table;
mod transaction;
mod types;

#[cfg(test)]
mod tests;

pub use config::{
    AuthConfig, Callers, CoreConfig, DigestAlgorithm, FloodConfig, LimitConfig, RecordRoute,
    RegistrarConfig, RouteConfig, TimerConfig, DEFAULT_SCANNERS,
};
pub use engine::Core;
pub use error::{Error, RouteProblem};
pub use metrics::Metrics;
pub use rtc_daemon::ratelimit::RateLimit;
pub use types::{
    Aor, Binding, BindingChanges, ConnectionId, Destination, DigestKeys, Event, Flow, Listener,
    ListenerId, LookupFailed, LookupId, Output, Transmit, Transport,
};
