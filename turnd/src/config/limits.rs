//! The `limits:` section: the core's abuse limits plus the limits the shell
//! enforces on client TCP/TLS connections, in one mapping.

use std::time::Duration;

use rtc_daemon::ratelimit::RateLimit;
use serde::Deserialize;

use crate::core::config::LimitsConfig;

/// Default of `limits.tcp_first_message_secs`.
pub const DEFAULT_TCP_FIRST_MESSAGE_SECS: u64 = 10;
/// Default of `limits.tcp_max_queued_bytes` (1 MiB).
pub const DEFAULT_TCP_MAX_QUEUED_BYTES: usize = 1 << 20;
/// Default of `limits.tcp_max_connections_per_ip`.
pub const DEFAULT_TCP_MAX_CONNECTIONS_PER_IP: u32 = 256;
/// Default of `limits.tcp_connection_rate`.
pub const DEFAULT_TCP_CONNECTION_RATE: RateLimit = RateLimit::new(64, 16.0);
/// Default of `limits.tcp_max_frame_bytes`: the longest STUN message
/// (RFC 8489 §5: 20-byte header, body below 64 KiB).
pub const DEFAULT_TCP_MAX_FRAME_BYTES: usize = rtc_stun::MAX_MESSAGE_LEN;

/// Limits on client TCP and TLS connections (RFC 8656 §3.1, RFC 7443),
/// enforced by the shell. They apply to connections accepted after a reload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamLimits {
    /// Seconds allowed for the TLS handshake and the first complete frame.
    pub tcp_first_message_secs: u64,
    /// Bytes queued for one client before relayed data to it is dropped.
    pub tcp_max_queued_bytes: usize,
    /// Open connections per source IP, over all workers.
    pub tcp_max_connections_per_ip: u32,
    /// New connections per source IP, per worker: burst and refill per second.
    pub tcp_connection_rate: RateLimit,
    /// Longest STUN or ChannelData frame accepted; a longer one closes the connection.
    pub tcp_max_frame_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            tcp_first_message_secs: DEFAULT_TCP_FIRST_MESSAGE_SECS,
            tcp_max_queued_bytes: DEFAULT_TCP_MAX_QUEUED_BYTES,
            tcp_max_connections_per_ip: DEFAULT_TCP_MAX_CONNECTIONS_PER_IP,
            tcp_connection_rate: DEFAULT_TCP_CONNECTION_RATE,
            tcp_max_frame_bytes: DEFAULT_TCP_MAX_FRAME_BYTES,
        }
    }
}

impl StreamLimits {
    /// `tcp_first_message_secs` as a duration.
    pub fn first_message_timeout(&self) -> Duration {
        Duration::from_secs(self.tcp_first_message_secs)
    }
}

/// `limits:` as written: the core's keys and the TCP/TLS keys side by side.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LimitsSection {
    unauthenticated: RateLimit,
    max_tracked_sources: usize,
    max_pending_allocations: usize,
    tcp_first_message_secs: u64,
    tcp_max_queued_bytes: usize,
    tcp_max_connections_per_ip: u32,
    tcp_connection_rate: RateLimit,
    tcp_max_frame_bytes: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let core = LimitsConfig::default();
        let streams = StreamLimits::default();
        Self {
            unauthenticated: core.unauthenticated,
            max_tracked_sources: core.max_tracked_sources,
            max_pending_allocations: core.max_pending_allocations,
            tcp_first_message_secs: streams.tcp_first_message_secs,
            tcp_max_queued_bytes: streams.tcp_max_queued_bytes,
            tcp_max_connections_per_ip: streams.tcp_max_connections_per_ip,
            tcp_connection_rate: streams.tcp_connection_rate,
            tcp_max_frame_bytes: streams.tcp_max_frame_bytes,
        }
    }
}

impl LimitsSection {
    /// The core's part and the shell's part.
    pub(super) fn split(self) -> (LimitsConfig, StreamLimits) {
        let core = LimitsConfig {
            unauthenticated: self.unauthenticated,
            max_tracked_sources: self.max_tracked_sources,
            max_pending_allocations: self.max_pending_allocations,
        };
        let streams = StreamLimits {
            tcp_first_message_secs: self.tcp_first_message_secs,
            tcp_max_queued_bytes: self.tcp_max_queued_bytes,
            tcp_max_connections_per_ip: self.tcp_max_connections_per_ip,
            tcp_connection_rate: self.tcp_connection_rate,
            tcp_max_frame_bytes: self.tcp_max_frame_bytes,
        };
        (core, streams)
    }
}
