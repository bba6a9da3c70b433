//! A deadline queue with lazy deletion, so `poll_timeout` is O(1).
//!
//! Entries are hints: when one fires, the owner re-checks its real deadline
//! and re-arms if it moved. An owner pushes a new entry only when its deadline
//! moves *earlier* than the one already queued, so refresh storms (which move
//! deadlines later) never grow the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::types::FiveTuple;

/// What a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// An allocation's earliest expiry (itself, permissions, channels, connections).
    Allocation(FiveTuple),
    /// An Allocate waiting for the shell to bind relays.
    PendingAllocation(FiveTuple),
    /// A key lookup the shell has not answered.
    Lookup(u64),
    /// A reservation token (RFC 8656 §14.9, 30 s).
    Reservation([u8; 8]),
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl Timers {
    pub(crate) fn push(&mut self, at: Instant, key: TimerKey) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest queued deadline (possibly a stale hint).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pop one entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.push(t0 + Duration::from_secs(5), TimerKey::Reservation([1; 8]));
        t.push(t0 + Duration::from_secs(1), TimerKey::Lookup(2));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(9)).map(|e| e.1), Some(TimerKey::Lookup(2)));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(9)).map(|e| e.1), Some(TimerKey::Reservation([1; 8])));
        assert_eq!(t.len(), 0);
    }
}
