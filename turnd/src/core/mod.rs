//! The sans-IO TURN/STUN server core (RFC 8489, RFC 8656, RFC 5780, RFC 6062, RFC 6156).
//!
//! A [`Server`] is one worker's protocol engine. It takes packets, the shell's
//! answers to its requests, and `now`; it returns packets to send, requests for
//! I/O ([`Event`]) and its next deadline. It never reads the clock, touches a
//! socket or a database, or spawns anything.
//!
//! # Run loop
//!
//! ```text
//! loop {
//!     match server.poll_output() {
//!         Output::Transmit(t)      => send t.contents from t.source to t.destination over t.transport,
//!         Output::Event(e)         => start the I/O it asks for (see the table below),
//!         Output::Timeout(at)      => break, // sleep until `at` or until input arrives
//!     }
//! }
//! on a client packet:   if let Some(f) = server.handle_client_packet(five_tuple, &pkt, now) { send pkt[f.range] }
//! on a peer datagram:   if let Some(f) = server.handle_peer_data(relay, peer, &mut buf, len, now) { send buf[f.range] }
//! at the deadline:      server.handle_timeout(now)
//! ```
//!
//! Drain `poll_output` after every `handle_*` call, until it returns `Timeout`.
//!
//! # Events and their answers
//!
//! | event | the shell does | then calls |
//! | --- | --- | --- |
//! | [`Event::NeedKey`] | looks up the user's keys (or the realm's REST secrets) | [`Server::handle_key_result`] |
//! | [`Event::BindRelay`] | binds a UDP socket / TCP listener of the family, even port (+1 reserved) if asked | [`Server::handle_relay_bound`] |
//! | [`Event::RelayReleased`] | closes that relay socket (TCP: and every connection through it) | – |
//! | [`Event::ConnectPeer`] | dials the peer from the TCP relay address | [`Server::handle_peer_connected`] |
//! | [`Event::SpliceConnection`] | after sending the queued ConnectionBind response, pipes bytes raw | [`Server::handle_peer_connection_closed`] when either side closes |
//! | [`Event::ClosePeerConnection`] | closes that peer connection | – |
//!
//! Other inputs: [`Server::handle_peer_connection_incoming`] when a peer
//! connects to a TCP relay, [`Server::handle_client_closed`] when a client's
//! TCP/TLS connection closes (its allocation is deleted), [`Server::set_config`]
//! on SIGHUP, [`Server::set_draining`] on SIGTERM (new Allocates get 508),
//! [`Server::forget_keys`] when users changed, [`Server::prime_key`] to warm
//! the key cache.
//!
//! # Workers and shared state
//!
//! Run one `Server` per worker thread and shard clients by 5-tuple (for example
//! `SO_REUSEPORT`). Everything a worker creates (allocations, relay sockets,
//! peer connections) belongs to it: route relay traffic and the callbacks of
//! its events to the same worker. Workers share one [`Shared`] (an `Arc`) that
//! holds the nonce key, the allocation quota counters, reservation tokens,
//! RFC 6062 connections waiting for ConnectionBind and the authentication
//! failure buckets; it is touched only on Allocate, deallocation, EVEN-PORT,
//! ConnectionBind and authentication failures (a request with credentials
//! checks one atomic, and takes a lock only while some source has failed
//! lately). A [`ConnectionId`]'s top byte is the owning worker's index
//! ([`ConnectionId::worker`]).
//!
//! # The hot path
//!
//! ChannelData and Send indications from clients return a [`Forward`] whose
//! range points into the packet the shell passed. Peer datagrams are read into
//! a buffer at offset [`PEER_DATA_HEADROOM`] with [`PEER_DATA_TAILROOM`] spare
//! bytes; the core writes the ChannelData or Data-indication framing in place.
//! Neither direction allocates or copies the payload. Control messages
//! (responses, indications the core originates) are owned [`Transmit`]s.
//!
//! # Policy choices
//!
//! - Nothing is relayed before an authenticated Allocate; peers are filtered by
//!   [`peer_filter`] (loopback, private, NAT64 and IPv4-mapped forms refused by default).
//! - Authentication order and failure throttling are documented in `auth.rs`:
//!   after `failure_limit` bad credentials a source IP's requests carrying
//!   credentials are dropped silently (STUN has no 429; a 401 would still cost
//!   a lookup and an HMAC per guess). Failures are counted across workers.
//!   Observable via [`Server::is_throttled`] and [`Metrics::auth_throttled`].
//! - Quotas: 486 when the user's quota is reached, 508 when the server's is
//!   or when the server is draining.
//! - Metrics are plain per-worker counters ([`Metrics`]), never labelled by
//!   user; requests are also counted per method and result ([`metrics::MethodCounts`]).

mod allocate;
mod allocation;
mod auth;
mod binding;
pub mod channel;
pub mod config;
pub mod credentials;
mod lookup;
pub mod metrics;
pub mod nonce;
pub mod peer_filter;
pub mod permission;
mod relay;
mod reply;
mod request;
mod server;
pub mod shared;
mod tcp_relay;
mod throttle;
mod timers;
pub mod types;

#[cfg(test)]
mod tests;

pub use allocate::{BIND_TIMEOUT, RESERVATION_LIFETIME};
pub use binding::other_address;
pub use config::CoreConfig;
pub use credentials::{KeyQuery, UserKeys};
pub use metrics::Metrics;
pub use relay::{PEER_DATA_HEADROOM, PEER_DATA_TAILROOM};
pub use server::Server;
pub use shared::{RelayAddr, Shared, UserId};
pub use tcp_relay::CONNECTION_TIMEOUT;
pub use types::{
    BindFailure, BindId, ConnectionId, Event, Family, FiveTuple, Forward, KeyAnswer, LookupId, Output,
    RelayBinding, RelayProtocol, Transmit, Transport,
};
