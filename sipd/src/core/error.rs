//! The core's error type: configuration and setup problems. Protocol
//! failures never surface as errors; they become SIP responses or drops.

use super::types::ListenerId;

/// Why a configuration, listener set or secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A timer is out of range: T1 1..=60000 ms, T2 T1..=600000 ms, T4 1..=600000 ms, Timer C 60..=86400 s.
    #[error("timers: need 1 <= t1_ms <= 60000, t1_ms <= t2_ms <= 600000, 1 <= t4_ms <= 600000, 60 <= timer_c_secs <= 86400")]
    InvalidTimers,
    /// A limit that must be positive is zero.
    #[error("{0} must be positive")]
    ZeroLimit(&'static str),
    /// A duration is outside its allowed range.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// Registrar bounds are inconsistent.
    #[error("registrar: min_expires <= max_expires <= 604800; default_expires, max_contacts and flow_timer must be positive")]
    InvalidRegistrar,
    /// No digest algorithm, or a zero nonce lifetime.
    #[error("auth: at least one algorithm, and 1 <= nonce_lifetime_secs <= 86400")]
    InvalidAuth,
    /// A configured domain is not a host name.
    #[error("domain {0:?} is not a valid host name")]
    InvalidDomain(String),
    /// A static route is unusable.
    #[error("routes[{index}]: {problem}")]
    InvalidRoute {
        /// Position in the configuration.
        index: usize,
        /// What is wrong.
        problem: RouteProblem,
    },
    /// A listener's Record-Route URI is not a `sip:`/`sips:` URI without user part.
    #[error("listener {0:?}: record_route must be a sip: or sips: URI without a user part")]
    InvalidRecordRoute(ListenerId),
    /// No listener was given.
    #[error("at least one listener is required")]
    NoListener,
}

/// What is wrong with a static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteProblem {
    /// Neither `user_prefix` nor `user_regex` is set, or both are.
    #[error("exactly one of user_prefix and user_regex is required")]
    Match,
    /// The regular expression does not compile.
    #[error("user_regex does not compile")]
    Regex,
    /// The destination is not a `sip:`/`sips:` URI.
    #[error("destination must be a sip: or sips: URI")]
    Destination,
}
