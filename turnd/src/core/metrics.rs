//! Plain counters kept by each worker core; the shell sums them for export.
//!
//! Deliberately no per-user or per-address labels: label sets that grow with
//! ephemeral REST user names are how coturn's metrics leaked memory.

/// Counters of one worker. Gauges (`*_active`) are current values; everything
/// else only grows. Sum workers with [`Metrics::merge`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Allocations currently held by this worker.
    pub allocations_active: u64,
    /// Allocations ever created.
    pub allocations_created: u64,
    /// Allocations that ended because their lifetime ran out.
    pub allocations_expired: u64,
    /// STUN requests received (all methods).
    pub requests: u64,
    /// Binding requests answered.
    pub binding_requests: u64,
    /// Requests rejected for bad or unknown credentials.
    pub auth_failures: u64,
    /// Requests with credentials dropped because their source was throttled.
    pub auth_throttled: u64,
    /// Unauthenticated requests dropped by the per-source rate limit.
    pub unauthenticated_dropped: u64,
    /// Key lookups handed to the shell.
    pub key_lookups: u64,
    /// Packets that were not STUN, not ChannelData, or malformed.
    pub malformed_packets: u64,
    /// Packets relayed from clients to peers.
    pub packets_to_peers: u64,
    /// Payload bytes relayed from clients to peers.
    pub bytes_to_peers: u64,
    /// Packets relayed from peers to clients.
    pub packets_to_clients: u64,
    /// Payload bytes relayed from peers to clients.
    pub bytes_to_clients: u64,
    /// Relay packets dropped for want of a permission or channel.
    pub dropped_no_permission: u64,
    /// Relay packets dropped by the per-allocation bandwidth cap.
    pub dropped_bandwidth: u64,
    /// Error responses sent, by code.
    pub errors: ErrorCounts,
}

impl Metrics {
    /// Add another worker's counters to these.
    pub fn merge(&mut self, o: &Metrics) {
        self.allocations_active += o.allocations_active;
        self.allocations_created += o.allocations_created;
        self.allocations_expired += o.allocations_expired;
        self.requests += o.requests;
        self.binding_requests += o.binding_requests;
        self.auth_failures += o.auth_failures;
        self.auth_throttled += o.auth_throttled;
        self.unauthenticated_dropped += o.unauthenticated_dropped;
        self.key_lookups += o.key_lookups;
        self.malformed_packets += o.malformed_packets;
        self.packets_to_peers += o.packets_to_peers;
        self.bytes_to_peers += o.bytes_to_peers;
        self.packets_to_clients += o.packets_to_clients;
        self.bytes_to_clients += o.bytes_to_clients;
        self.dropped_no_permission += o.dropped_no_permission;
        self.dropped_bandwidth += o.dropped_bandwidth;
        for (code, n) in o.errors.iter() {
            self.errors.add_n(code, n);
        }
    }
}

/// The error codes the server sends (RFC 8489 §14.8, RFC 8656 §19, RFC 6062 §6.3).
const CODES: [u16; 16] = [300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 446, 447, 486, 500, 508];

/// Error responses sent, by code, in a fixed table (no allocation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    counts: [u64; CODES.len()],
    other: u64,
}

impl ErrorCounts {
    /// Count one response with `code`.
    pub fn add(&mut self, code: u16) {
        self.add_n(code, 1);
    }

    fn add_n(&mut self, code: u16, n: u64) {
        match CODES.iter().position(|c| *c == code).and_then(|i| self.counts.get_mut(i)) {
            Some(slot) => *slot += n,
            None => self.other += n,
        }
    }

    /// Responses sent with `code`.
    pub fn count(&self, code: u16) -> u64 {
        match CODES.iter().position(|c| *c == code).and_then(|i| self.counts.get(i)) {
            Some(n) => *n,
            None => 0,
        }
    }

    /// Every code with its count (codes never sent included, as zero).
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        CODES.iter().copied().zip(self.counts.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counters_and_error_codes() {
        let mut a = Metrics { requests: 2, ..Metrics::default() };
        a.errors.add(401);
        let mut b = Metrics { requests: 3, allocations_active: 1, ..Metrics::default() };
        b.errors.add(401);
        b.errors.add(486);
        a.merge(&b);
        assert_eq!(a.requests, 5);
        assert_eq!(a.allocations_active, 1);
        assert_eq!(a.errors.count(401), 2);
        assert_eq!(a.errors.count(486), 1);
        assert_eq!(a.errors.count(999), 0);
    }
}
