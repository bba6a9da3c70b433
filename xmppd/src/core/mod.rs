//! The sans-IO XMPP server core: c2s streams (RFC 6120), IM and presence
//! (RFC 6121) and the XEPs listed below, for any number of virtual hosts.
//!
//! A [`Server`] takes bytes from client connections, connection events,
//! storage answers and `now`; it returns bytes to write, [`Event`]s (TLS,
//! close, flow control, storage requests) and its next deadline. It never
//! reads the clock, touches a socket or a database, or spawns anything.
//!
//! # Run loop
//!
//! ```text
//! let mut core = Server::new(config, &hosts, seed, now, unix_now);
//! on accept:         match core.handle_connection_opened(peer, Listener::Starttls, now) {
//!                        Ok(conn) => remember conn for the socket,
//!                        Err(_)   => close the socket }
//! on TLS done:       core.handle_tls_established(conn, TlsInfo { server_end_point, exporter }, now)
//! on bytes:          core.handle_bytes(conn, &decrypted, now)
//! on EOF / error:    core.handle_connection_closed(conn, now)
//! on storage reply:  core.handle_storage(id, result, now)
//! at the deadline:   core.handle_timeout(now)
//! after each call:   loop {
//!     match core.poll_output() {
//!         Output::Transmit(t) => write t.data to t.conn (in order),
//!         Output::Event(e)    => act on e (table below),
//!         Output::Timeout(at) => { sleep until `at` or the next input; break }
//!     }
//! }
//! ```
//!
//! One `Server` serves all connections: XMPP routing needs every session's
//! state, so the shell runs the core in one task and passes bytes to and
//! from per-connection I/O tasks.
//!
//! # Events
//!
//! | event | the shell does | then calls |
//! | --- | --- | --- |
//! | [`Event::StartTls`] | writes what was queued (`<proceed/>`), runs the TLS server handshake, computes `tls-server-end-point` (hash of its certificate, RFC 5929 §4.1) and, for TLS 1.3, `tls-exporter` (RFC 9266) | [`Server::handle_tls_established`] |
//! | [`Event::Close`] | writes what was queued, then closes the socket; the core has forgotten the connection | – |
//! | [`Event::PauseReading`] / [`Event::ResumeReading`] | stops / restarts reading that socket (byte-rate limit, or the core waits for storage) | – |
//! | [`Event::Storage`] | performs the [`StorageRequest`]; writes for one account in order | [`Server::handle_storage`] |
//! | [`Event::Authenticated`], [`Event::AuthFailed`] | logs (fail2ban-friendly) | – |
//! | [`Event::ConnectS2s`] | resolves the domain, connects (TLS first for direct TLS); on [`Event::StartTls`] for that connection runs a TLS *client* handshake | [`Server::handle_s2s_connected`] or [`Server::handle_connection_closed`] |
//! | [`Event::S2sAuthenticated`], [`Event::S2sAuthFailed`] | logs | – |
//!
//! For [`Listener::DirectTls`] (XEP-0368) the shell completes the handshake
//! first and calls [`Server::handle_tls_established`] before any bytes.
//! Other calls: [`Server::reconfigure`] on SIGHUP, [`Server::shutdown`] on
//! SIGTERM (`<system-shutdown/>` to everyone), [`Server::set_wall_clock`]
//! after the system clock was stepped.
//!
//! # Storage
//!
//! The core keeps an account's roster, block list and counters in memory
//! while the account is in use and loads it with
//! [`StorageRequest::LoadAccount`]. Anything acknowledged to a client has
//! been confirmed by storage first: an IQ result for a roster, vCard,
//! private-XML or block-list change is sent after the write's `Done`; a
//! message to an offline user is counted as handled for XEP-0198 only once
//! [`StorageRequest::StoreOffline`] is confirmed (and bounced if it fails).
//! Offline messages are deleted only after delivery (with XEP-0198: after
//! the client acknowledged them). [`encode_element`] and [`decode_element`]
//! convert stored XML.
//!
//! # Policy
//!
//! - TLS is required before authentication by default; PLAIN only ever over
//!   TLS, checked against the stored SCRAM keys (no password is stored).
//!   `-PLUS` mechanisms are offered only when channel-binding data exists;
//!   a client claiming `y` while they are offered fails (downgrade).
//! - Failed authentications are throttled per source IP (and the stream is
//!   closed after `auth_attempts_per_connection`); unknown users are
//!   indistinguishable from wrong passwords.
//! - Byte-rate limits are enforced by the shell on the core's request
//!   (pause/resume events), stanza sizes by `rtc-xmlstream`.
//! - Stanzas for configured component domains go to the component
//!   (`component.rs`).
//! - Stanzas for other domains go to [`s2s`] (federation): queued,
//!   [`Event::ConnectS2s`] asks the shell for a connection, and what cannot
//!   be delivered is bounced.
//!
//! # Supported protocols
//!
//! RFC 6120 (c2s, STARTTLS, SASL, binding), RFC 6121 (roster with
//! versioning and pre-approval, full subscription state machine, presence,
//! message routing), XEP-0030, XEP-0049, XEP-0054 + XEP-0153, XEP-0092,
//! XEP-0115 (server caps), XEP-0160 + XEP-0203, XEP-0191, XEP-0198 (with
//! resumption), XEP-0199, XEP-0202, XEP-0280, XEP-0352, XEP-0368, XEP-0440;
//! federation (`s2s/`): RFC 6120 server streams, XEP-0178 (SASL EXTERNAL),
//! XEP-0220 with XEP-0185 keys, XEP-0288, XEP-0368 for servers.
//! on component domains (`component.rs`): XEP-0045 multi-user chat with
//! XEP-0249, XEP-0313 room archives, XEP-0359 and XEP-0410 (`muc/`), and
//! XEP-0114 external components.

mod account;
pub(crate) mod clock;
pub mod component;
pub mod config;
mod conn;
pub mod error;
mod features;
mod iq;
pub mod jid;
mod message;
pub mod muc;
mod offline;
mod pending;
mod pep;
mod presence;
mod roster;
mod router;
pub mod s2s;
pub mod scram;
mod server;
mod session;
mod sm;
mod stanza;
pub mod storage;
mod storage_archive;
pub mod types;
pub mod upload;

pub use clock::format_datetime;
pub use component::{ComponentConfig, ComponentKind};
pub use muc::{ArchivedMessage as MucArchivedMessage, MucConfig, StoredRoom};
pub use config::{ConflictPolicy, CoreConfig, LimitsConfig, TimeoutConfig, VirtualHost};
pub use features::extdisco::{rest_credentials, ExtDiscoConfig, ExtService, ServiceType};
pub use upload::UploadConfig;
pub use error::{Error, ErrorType, StanzaCondition, StreamCondition};
pub use jid::{Jid, JidError};
pub use s2s::config::{S2sConfig, S2sPolicy};
pub use scram::{ScramHash, ScramKeys};
pub use server::Server;
pub use storage::{
    decode_element, encode_element, AccessModel, AccountData, ArchivePage, ArchiveQuery,
    ArchivedMessage, OfflineMessage, PepItem, PepNodeConfig, PushRegistration, RosterItem, StorageAnswer, StorageError, StorageRequest,
    StoredCredentials, Subscription,
};
pub use features::mam::ArchiveConfig;
pub use features::push::PushConfig;
pub use pep::PepConfig;
pub use types::{ConnId, Event, Listener, Output, Refused, RequestId, TlsInfo, Transmit};
