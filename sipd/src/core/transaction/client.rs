//! Client transaction state machines (RFC 3261 §17.1, with the Accepted
//! state of RFC 6026 §7.2). Pure: the caller sends requests and ACKs.

use std::time::{Duration, Instant};

use super::timers::Timers;

/// Client transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// INVITE sent, nothing heard (§17.1.1.2).
    Calling,
    /// Non-INVITE sent, nothing heard (§17.1.2.2).
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final (INVITE: non-2xx) response arrived; its retransmissions are absorbed.
    Completed,
    /// A 2xx to INVITE arrived; further 2xx are passed up (RFC 6026 §7.2).
    Accepted,
    /// Done.
    Terminated,
}

/// What to do with a response that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnResponse {
    /// Give it to the proxy.
    PassUp,
    /// Give it to the proxy and send the ACK for this non-2xx final (§17.1.1.3).
    PassUpAndAck,
    /// A retransmitted non-2xx final: send the ACK again, nothing else.
    AckAgain,
    /// Retransmission: swallow.
    Absorb,
}

/// What a client timer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientTimeout {
    /// Nothing due.
    Nothing,
    /// Timers A or E: send the request again.
    Retransmit,
    /// Timers B or F: no final response; report 408 (§17.1.1.2, §17.1.2.2).
    TimedOut,
    /// Timers D, K or M: the transaction ends quietly.
    Terminated,
}

/// One client transaction's state and timers.
#[derive(Debug, Clone)]
pub(crate) struct ClientMachine {
    invite: bool,
    reliable: bool,
    timers: Timers,
    state: ClientState,
    /// Timers A and E.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timers B and F.
    timeout_at: Option<Instant>,
    /// Timers D, K and M.
    end_at: Option<Instant>,
}

impl ClientMachine {
    /// The request has just been sent at `now`.
    pub(crate) fn new(invite: bool, reliable: bool, timers: Timers, now: Instant) -> Self {
        ClientMachine {
            invite,
            reliable,
            timers,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            retransmit_at: (!reliable).then(|| now + timers.t1),
            interval: timers.t1,
            timeout_at: Some(now + timers.sixty_four_t1()),
            end_at: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> ClientState {
        self.state
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    pub(crate) fn on_response(&mut self, status: u16, now: Instant) -> OnResponse {
        use ClientState::*;
        let fresh = matches!(self.state, Calling | Trying | Proceeding);
        match (self.invite, self.state, status) {
            (_, _, 100..=199) if fresh => {
                if self.invite {
                    // Timer B no longer applies once the callee answered (§17.1.1.2);
                    // the proxy's Timer C takes over.
                    self.retransmit_at = None;
                    self.timeout_at = None;
                }
                self.state = Proceeding;
                OnResponse::PassUp
            }
            (true, _, 200..=299) if fresh => {
                self.stop_timers();
                self.state = Accepted;
                self.end_at = Some(now + self.timers.sixty_four_t1());
                OnResponse::PassUp
            }
            (true, Accepted, 200..=299) => OnResponse::PassUp,
            (true, _, 300..=699) if fresh => {
                self.stop_timers();
                self.end_after(self.timers.d(self.reliable), now);
                OnResponse::PassUpAndAck
            }
            (true, Completed, 300..=699) => OnResponse::AckAgain,
            (false, _, 200..=699) if fresh => {
                self.stop_timers();
                self.end_after(self.timers.t4_unless_reliable(self.reliable), now);
                OnResponse::PassUp
            }
            _ => OnResponse::Absorb,
        }
    }

    fn stop_timers(&mut self) {
        self.retransmit_at = None;
        self.timeout_at = None;
    }

    fn end_after(&mut self, d: Duration, now: Instant) {
        if d.is_zero() {
            self.state = ClientState::Terminated;
        } else {
            self.state = ClientState::Completed;
            self.end_at = Some(now + d);
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> ClientTimeout {
        if self.timeout_at.is_some_and(|t| t <= now) {
            self.terminate();
            return ClientTimeout::TimedOut;
        }
        if self.end_at.is_some_and(|t| t <= now) {
            self.terminate();
            return ClientTimeout::Terminated;
        }
        if self.retransmit_at.is_some_and(|t| t <= now) {
            self.interval = if self.invite {
                self.interval * 2
            } else if self.state == ClientState::Proceeding {
                self.timers.t2
            } else {
                (self.interval * 2).min(self.timers.t2)
            };
            self.retransmit_at = Some(now + self.interval);
            return ClientTimeout::Retransmit;
        }
        ClientTimeout::Nothing
    }

    /// A transport error (§17.1.4) or the proxy gave up on the branch.
    pub(crate) fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.stop_timers();
        self.end_at = None;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn run_until_done(
        m: &mut ClientMachine,
        t0: Instant,
    ) -> (Vec<Duration>, ClientTimeout, Duration) {
        let mut sent = Vec::new();
        while let Some(at) = m.deadline() {
            match m.on_timeout(at) {
                ClientTimeout::Retransmit => sent.push(at - t0),
                ClientTimeout::Nothing => {}
                end => return (sent, end, at - t0),
            }
        }
        panic!("no terminal timer");
    }

    #[test]
    fn invite_client_retransmits_at_t1_doubling_until_timer_b() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(true, false, Timers::default(), t0);
        let (sent, end, at) = run_until_done(&mut m, t0);
        let expected: Vec<_> = [500, 1500, 3500, 7500, 15500, 31500]
            .into_iter()
            .map(ms)
            .collect();
        assert_eq!(sent, expected);
        assert_eq!((end, at), (ClientTimeout::TimedOut, ms(32_000)));
    }

    #[test]
    fn non_invite_client_retransmits_capped_at_t2_until_timer_f() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(false, false, Timers::default(), t0);
        let (sent, end, at) = run_until_done(&mut m, t0);
        let expected: Vec<_> = [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
        ]
        .into_iter()
        .map(ms)
        .collect();
        assert_eq!(sent, expected);
        assert_eq!((end, at), (ClientTimeout::TimedOut, ms(32_000)));
    }

    #[test]
    fn non_invite_client_in_proceeding_retransmits_every_t2() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(false, false, Timers::default(), t0);
        assert_eq!(m.on_timeout(t0 + ms(500)), ClientTimeout::Retransmit);
        assert_eq!(m.on_response(180, t0 + ms(600)), OnResponse::PassUp);
        assert_eq!(m.on_timeout(t0 + ms(1500)), ClientTimeout::Retransmit);
        assert_eq!(m.deadline(), Some(t0 + ms(5500)));
    }

    #[test]
    fn reliable_transports_have_no_retransmission_timers() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(true, true, Timers::default(), t0);
        assert_eq!(m.deadline(), Some(t0 + ms(32_000)));
        assert_eq!(m.on_response(486, t0), OnResponse::PassUpAndAck);
        assert!(m.is_terminated(), "Timer D is zero on reliable transports");
        let mut n = ClientMachine::new(false, true, Timers::default(), t0);
        assert_eq!(n.on_response(200, t0), OnResponse::PassUp);
        assert!(n.is_terminated(), "Timer K is zero on reliable transports");
    }

    #[test]
    fn invite_client_acks_each_retransmitted_final_during_timer_d() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(true, false, Timers::default(), t0);
        assert_eq!(m.on_response(180, t0 + ms(100)), OnResponse::PassUp);
        assert_eq!(
            m.deadline(),
            None,
            "Timer B stops on a provisional; Timer C is the proxy's"
        );
        assert_eq!(m.on_response(486, t0 + ms(200)), OnResponse::PassUpAndAck);
        assert_eq!(m.on_response(486, t0 + ms(700)), OnResponse::AckAgain);
        assert_eq!(m.on_response(180, t0 + ms(800)), OnResponse::Absorb);
        assert_eq!(m.on_timeout(t0 + ms(32_200)), ClientTimeout::Terminated);
    }

    #[test]
    fn invite_client_accepted_passes_2xx_retransmissions_until_timer_m() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(true, false, Timers::default(), t0);
        assert_eq!(m.on_response(200, t0), OnResponse::PassUp);
        assert_eq!(m.state(), ClientState::Accepted);
        assert_eq!(m.on_response(200, t0 + ms(500)), OnResponse::PassUp);
        assert_eq!(m.on_response(404, t0 + ms(600)), OnResponse::Absorb);
        assert_eq!(m.on_timeout(t0 + ms(32_000)), ClientTimeout::Terminated);
    }

    #[test]
    fn non_invite_client_absorbs_final_retransmissions_during_timer_k() {
        let t0 = Instant::now();
        let mut m = ClientMachine::new(false, false, Timers::default(), t0);
        assert_eq!(m.on_response(200, t0), OnResponse::PassUp);
        assert_eq!(m.on_response(200, t0 + ms(1)), OnResponse::Absorb);
        assert_eq!(m.deadline(), Some(t0 + ms(5000)));
    }
}
