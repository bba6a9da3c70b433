//! Timer values of RFC 3261 §17 (Table 4), derived from T1, T2 and T4.

use std::time::Duration;

use crate::core::config::TimerConfig;

/// The timer bases, with the derived values as methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timers {
    /// T1: RTT estimate (§17.1.1.1).
    pub t1: Duration,
    /// T2: maximum retransmit interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// T4: maximum duration a message remains in the network.
    pub t4: Duration,
    /// Timer C: proxy INVITE transaction timeout (§16.6 step 11).
    pub c: Duration,
}

impl Timers {
    pub(crate) fn from_config(c: &TimerConfig) -> Timers {
        Timers {
            t1: Duration::from_millis(c.t1_ms),
            t2: Duration::from_millis(c.t2_ms),
            t4: Duration::from_millis(c.t4_ms),
            c: Duration::from_secs(c.timer_c_secs),
        }
    }
    /// 64*T1: Timers B, F, H, J (unreliable), L and M.
    pub(crate) fn sixty_four_t1(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones (§17.1.1.2).
    pub(crate) fn d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.sixty_four_t1())
        }
    }
    /// Timers I and K: T4 on unreliable transports, zero on reliable ones (§17.2.1, §17.1.2.2).
    pub(crate) fn t4_unless_reliable(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }
    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones (§17.2.2).
    pub(crate) fn j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.sixty_four_t1()
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        Timers::from_config(&TimerConfig::default())
    }
}
