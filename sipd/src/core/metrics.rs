//! Per-core counters. Plain integers, never labelled by user or address;
//! the shell sums the workers' values into its Prometheus registry.

/// Counters since the core was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Requests received (after the flood and scanner filters).
    pub requests_received: u64,
    /// Responses received.
    pub responses_received: u64,
    /// Messages that did not parse or failed the sanity checks.
    pub malformed: u64,
    /// Requests dropped because their source was flood-banned.
    pub flood_dropped: u64,
    /// Requests dropped because of a scanner User-Agent.
    pub scanner_dropped: u64,
    /// Requests and responses forwarded downstream or upstream.
    pub forwarded: u64,
    /// Responses the core generated (challenges, errors, registrar answers).
    pub local_replies: u64,
    /// Request or response retransmissions absorbed by a transaction.
    pub retransmissions_absorbed: u64,
    /// Retransmissions the core sent (Timers A, E, G).
    pub retransmissions_sent: u64,
    /// Client transactions that timed out (Timers B, F, C).
    pub timeouts: u64,
    /// 401/407 challenges sent.
    pub challenges: u64,
    /// Authentication failures (wrong response, unknown user).
    pub auth_failures: u64,
    /// Requests with credentials dropped because their source failed too often.
    pub auth_throttled: u64,
    /// Nonce-count replays refused.
    pub nonce_replays: u64,
    /// Successful registrations and refreshes.
    pub registrations: u64,
    /// Requests refused because too many were waiting for the database or
    /// too many transactions were live.
    pub overload_rejections: u64,
    /// Responses that matched no transaction.
    pub stray_responses: u64,
}
