//! Server transaction state machines (RFC 3261 §17.2, with the Accepted
//! state of RFC 6026 §7.1). Pure: the caller sends and stores responses.

use std::time::{Duration, Instant};

use super::timers::Timers;

/// Server transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Non-INVITE request received, nothing sent yet (§17.2.2).
    Trying,
    /// A provisional response was sent (§17.2.1, §17.2.2).
    Proceeding,
    /// A final response was sent; retransmissions of the request get it again (§17.2.1, §17.2.2).
    Completed,
    /// The ACK for a non-2xx final response arrived (§17.2.1).
    Confirmed,
    /// A 2xx was sent to an INVITE (RFC 6026 §7.1).
    Accepted,
    /// Done; the transaction can be forgotten.
    Terminated,
}

/// What a server timer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerTimeout {
    /// Nothing due.
    Nothing,
    /// Timer G: retransmit the final response.
    Retransmit,
    /// Timer H fired: no ACK came for the final response.
    NoAck,
    /// Timers I, J or L: the transaction ends.
    Terminated,
}

/// One server transaction's state and timers.
#[derive(Debug, Clone)]
pub(crate) struct ServerMachine {
    invite: bool,
    reliable: bool,
    timers: Timers,
    state: ServerState,
    /// Timer G.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timers H, I, J and L.
    end_at: Option<Instant>,
}

impl ServerMachine {
    /// A new transaction: INVITE starts in Proceeding (its 100 Trying follows at
    /// once, §17.2.1), non-INVITE in Trying.
    pub(crate) fn new(invite: bool, reliable: bool, timers: Timers) -> Self {
        ServerMachine {
            invite,
            reliable,
            timers,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            retransmit_at: None,
            interval: timers.t1,
            end_at: None,
        }
    }

    pub(crate) fn state(&self) -> ServerState {
        self.state
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// Kept only to absorb retransmissions.
    pub(crate) fn is_absorbing(&self) -> bool {
        matches!(
            self.state,
            ServerState::Completed | ServerState::Confirmed | ServerState::Accepted
        )
    }

    /// A retransmission of the request arrived: whether to send the last response again.
    pub(crate) fn on_request_retransmission(&self) -> bool {
        matches!(self.state, ServerState::Proceeding | ServerState::Completed)
    }

    /// The core wants to send a response; false when the state forbids it.
    pub(crate) fn on_send(&mut self, status: u16, now: Instant) -> bool {
        use ServerState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                true
            }
            (Trying | Proceeding, 200..=299) if self.invite => {
                self.state = Accepted;
                self.end_at = Some(now + self.timers.sixty_four_t1());
                true
            }
            (Accepted, 200..=299) => true,
            (Trying | Proceeding, 200..=699) => {
                if self.invite {
                    self.state = Completed;
                    if !self.reliable {
                        self.interval = self.timers.t1;
                        self.retransmit_at = Some(now + self.interval);
                    }
                    self.end_at = Some(now + self.timers.sixty_four_t1());
                } else {
                    self.finish_after(self.timers.j(self.reliable), Completed, now);
                }
                true
            }
            _ => false,
        }
    }

    /// An ACK matched this transaction; true when it was absorbed here.
    pub(crate) fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            ServerState::Completed if self.invite => {
                self.retransmit_at = None;
                self.finish_after(
                    self.timers.t4_unless_reliable(self.reliable),
                    ServerState::Confirmed,
                    now,
                );
                true
            }
            ServerState::Confirmed => true,
            _ => false,
        }
    }

    fn finish_after(&mut self, d: Duration, state: ServerState, now: Instant) {
        if d.is_zero() {
            self.state = ServerState::Terminated;
            self.end_at = None;
        } else {
            self.state = state;
            self.end_at = Some(now + d);
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> ServerTimeout {
        if self.end_at.is_some_and(|t| t <= now) {
            let no_ack = self.state == ServerState::Completed && self.invite;
            self.state = ServerState::Terminated;
            self.end_at = None;
            self.retransmit_at = None;
            return if no_ack {
                ServerTimeout::NoAck
            } else {
                ServerTimeout::Terminated
            };
        }
        if self.retransmit_at.is_some_and(|t| t <= now) {
            self.interval = (self.interval * 2).min(self.timers.t2);
            self.retransmit_at = Some(now + self.interval);
            return ServerTimeout::Retransmit;
        }
        ServerTimeout::Nothing
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.retransmit_at, self.end_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn invite_server_retransmits_final_response_on_timer_g_capped_at_t2_until_timer_h() {
        let t0 = Instant::now();
        let mut m = ServerMachine::new(true, false, Timers::default());
        assert!(m.on_send(100, t0));
        assert!(m.on_send(486, t0));
        assert_eq!(m.state(), ServerState::Completed);
        let mut fired = Vec::new();
        while let Some(at) = m.deadline() {
            match m.on_timeout(at) {
                ServerTimeout::Retransmit => fired.push(at - t0),
                ServerTimeout::NoAck => {
                    assert_eq!(at - t0, ms(32_000));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        let expected: Vec<_> = [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
        ]
        .into_iter()
        .map(ms)
        .collect();
        assert_eq!(fired, expected);
        assert!(m.is_terminated());
    }

    #[test]
    fn invite_server_ack_stops_retransmissions_and_lingers_timer_i() {
        let t0 = Instant::now();
        let mut m = ServerMachine::new(true, false, Timers::default());
        m.on_send(404, t0);
        assert!(m.on_ack(t0 + ms(100)));
        assert_eq!(m.state(), ServerState::Confirmed);
        assert!(m.on_ack(t0 + ms(200)), "retransmitted ACK absorbed");
        assert_eq!(m.deadline(), Some(t0 + ms(5100)));
        assert_eq!(m.on_timeout(t0 + ms(5100)), ServerTimeout::Terminated);
    }

    #[test]
    fn invite_server_on_reliable_transport_never_retransmits_and_ack_ends_it() {
        let t0 = Instant::now();
        let mut m = ServerMachine::new(true, true, Timers::default());
        m.on_send(480, t0);
        assert_eq!(m.deadline(), Some(t0 + ms(32_000)), "only Timer H");
        assert!(m.on_ack(t0));
        assert!(m.is_terminated(), "Timer I is zero on reliable transports");
    }

    #[test]
    fn non_invite_server_absorbs_retransmissions_until_timer_j() {
        let t0 = Instant::now();
        let mut m = ServerMachine::new(false, false, Timers::default());
        assert!(
            !m.on_request_retransmission(),
            "nothing to resend in Trying"
        );
        m.on_send(200, t0);
        assert!(m.on_request_retransmission());
        assert_eq!(m.deadline(), Some(t0 + ms(32_000)));
        assert_eq!(m.on_timeout(t0 + ms(31_999)), ServerTimeout::Nothing);
        assert_eq!(m.on_timeout(t0 + ms(32_000)), ServerTimeout::Terminated);
        let mut r = ServerMachine::new(false, true, Timers::default());
        r.on_send(200, t0);
        assert!(r.is_terminated(), "Timer J is zero on reliable transports");
    }

    #[test]
    fn invite_server_accepted_forwards_further_2xx_and_refuses_late_errors() {
        let t0 = Instant::now();
        let mut m = ServerMachine::new(true, false, Timers::default());
        assert!(m.on_send(200, t0));
        assert!(m.on_send(200, t0 + ms(10)));
        assert!(!m.on_send(486, t0 + ms(20)));
        assert!(
            !m.on_request_retransmission(),
            "INVITE retransmissions absorbed in Accepted"
        );
        assert_eq!(m.on_timeout(t0 + ms(32_000)), ServerTimeout::Terminated);
    }
}
