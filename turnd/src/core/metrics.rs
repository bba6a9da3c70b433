//! Plain counters kept by each worker core; the shell sums them for export.
//!
//! Deliberately no per-user or per-address labels: label sets that grow with
//! ephemeral REST user names are how coturn's metrics leaked memory. The
//! per-method table is fixed: eight methods, two results.

use rtc_stun::{Class, MessageType, Method};

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
    /// Requests (and Send indications) by method, and how they ended.
    pub methods: MethodCounts,
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
        self.methods.merge(&o.methods);
    }
}

/// The methods counted by [`MethodCounts`], with their metric label, in RFC
/// order (RFC 8489 §18.2, RFC 8656 §17, RFC 6062 §6.1).
pub const COUNTED_METHODS: [(Method, &str); 8] = [
    (Method::BINDING, "binding"),
    (Method::ALLOCATE, "allocate"),
    (Method::REFRESH, "refresh"),
    (Method::SEND, "send"),
    (Method::CREATE_PERMISSION, "create_permission"),
    (Method::CHANNEL_BIND, "channel_bind"),
    (Method::CONNECT, "connect"),
    (Method::CONNECTION_BIND, "connection_bind"),
];

/// One method's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodCount {
    /// Requests received (for Send: indications received), retransmissions included.
    pub received: u64,
    /// Success responses sent (for Send: data relayed to the peer).
    pub success: u64,
    /// Error responses sent (for Send: indications not relayed). Requests
    /// dropped unanswered (throttled, rate-limited, lookup timed out) count
    /// as received only.
    pub error: u64,
}

/// Per-method counters in a fixed table (no allocation, no unbounded labels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodCounts {
    counts: [MethodCount; COUNTED_METHODS.len()],
}

impl MethodCounts {
    fn slot(&mut self, method: Method) -> Option<&mut MethodCount> {
        let i = COUNTED_METHODS.iter().position(|(m, _)| *m == method)?;
        self.counts.get_mut(i)
    }

    /// A request (or Send indication) of `method` arrived.
    pub fn received(&mut self, method: Method) {
        if let Some(c) = self.slot(method) {
            c.received += 1;
        }
    }

    /// A request of `method` was answered (or a Send indication relayed or not).
    pub fn finished(&mut self, method: Method, success: bool) {
        if let Some(c) = self.slot(method) {
            if success {
                c.success += 1;
            } else {
                c.error += 1;
            }
        }
    }

    /// Count an outgoing message if it is a response: `bytes` starts with a
    /// STUN header (RFC 8489 §5).
    pub(crate) fn response_sent(&mut self, bytes: &[u8]) {
        let Some(&[hi, lo]) = bytes.get(..2) else { return };
        let t = MessageType::from_wire(u16::from_be_bytes([hi, lo]));
        match t.class {
            Class::Success => self.finished(t.method, true),
            Class::Error => self.finished(t.method, false),
            Class::Request | Class::Indication => {}
        }
    }

    /// The counters of `method` (zero for a method not counted).
    pub fn count(&self, method: Method) -> MethodCount {
        COUNTED_METHODS
            .iter()
            .position(|(m, _)| *m == method)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// Every counted method's label with its counters.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, MethodCount)> + '_ {
        COUNTED_METHODS.iter().map(|(_, label)| *label).zip(self.counts.iter().copied())
    }

    fn merge(&mut self, o: &MethodCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(o.counts.iter()) {
            mine.received += theirs.received;
            mine.success += theirs.success;
            mine.error += theirs.error;
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

    #[test]
    fn method_counts_classify_responses_by_their_header_and_merge() {
        let mut a = MethodCounts::default();
        a.received(Method::BINDING);
        a.received(Method::DATA); // not counted
        let success = MessageType::new(Method::BINDING, Class::Success).to_wire().to_be_bytes();
        let error = MessageType::new(Method::ALLOCATE, Class::Error).to_wire().to_be_bytes();
        let indication = MessageType::new(Method::DATA, Class::Indication).to_wire().to_be_bytes();
        a.response_sent(&success);
        a.response_sent(&error);
        a.response_sent(&indication);
        a.response_sent(&[0x01]);
        let mut b = a.clone();
        b.merge(&a);
        assert_eq!(b.count(Method::BINDING), MethodCount { received: 2, success: 2, error: 0 });
        assert_eq!(b.count(Method::ALLOCATE), MethodCount { received: 0, success: 0, error: 2 });
        assert_eq!(b.count(Method::DATA), MethodCount::default());
        assert_eq!(b.iter().count(), 8);
    }
}
