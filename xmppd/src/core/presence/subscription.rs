//! The presence subscription state machine (RFC 6121 §3 and Appendix A):
//! the nine states, the outbound (A.2) and inbound (A.3) tables,
//! pre-approval (§3.4) and what each transition sends.

use rtc_xmlstream::Element;

use crate::core::jid::Jid;
use crate::core::pending::AfterWrite;
use crate::core::server::Server;
use crate::core::sm::Origin;
use crate::core::stanza::{self, PresenceType};
use crate::core::storage::{RosterItem, Subscription};
use crate::core::types::SessionId;

/// Subscription states (RFC 6121 Appendix A.1), in RFC order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// A.1 "None"
    None,
    /// A.1 "None + Pending Out"
    NonePendingOut,
    /// A.1 "None + Pending In"
    NonePendingIn,
    /// A.1 "None + Pending Out/In"
    NonePendingOutIn,
    /// A.1 "To"
    To,
    /// A.1 "To + Pending In"
    ToPendingIn,
    /// A.1 "From"
    From,
    /// A.1 "From + Pending Out"
    FromPendingOut,
    /// A.1 "Both"
    Both,
}

use State as S;

impl State {
    /// The state a roster item (or its absence) is in.
    pub(crate) fn of(item: Option<&RosterItem>) -> Self {
        let Some(i) = item else { return S::None };
        match (i.subscription, i.ask, i.pending_in) {
            (Subscription::None, false, false) => S::None,
            (Subscription::None, true, false) => S::NonePendingOut,
            (Subscription::None, false, true) => S::NonePendingIn,
            (Subscription::None, true, true) => S::NonePendingOutIn,
            (Subscription::To, _, false) => S::To,
            (Subscription::To, _, true) => S::ToPendingIn,
            (Subscription::From, false, _) => S::From,
            (Subscription::From, true, _) => S::FromPendingOut,
            (Subscription::Both, _, _) => S::Both,
        }
    }

    /// Write this state into an item's subscription, ask and pending-in.
    pub(crate) fn apply(self, item: &mut RosterItem) {
        let (to, from, ask, pending_in) = match self {
            S::None => (false, false, false, false),
            S::NonePendingOut => (false, false, true, false),
            S::NonePendingIn => (false, false, false, true),
            S::NonePendingOutIn => (false, false, true, true),
            S::To => (true, false, false, false),
            S::ToPendingIn => (true, false, false, true),
            S::From => (false, true, false, false),
            S::FromPendingOut => (false, true, true, false),
            S::Both => (true, true, false, false),
        };
        item.subscription = Subscription::from_flags(to, from);
        item.ask = ask;
        item.pending_in = pending_in;
    }

    fn has_from(self) -> bool {
        matches!(self, S::From | S::FromPendingOut | S::Both)
    }

    /// The states in which pre-approval applies (RFC 6121 §3.4).
    fn pre_approvable(self) -> bool {
        matches!(self, S::None | S::NonePendingOut | S::To)
    }

    /// The name used in RFC 6121 Appendix A, without spaces ("None+PendingOut").
    #[cfg(test)]
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "None" => S::None,
            "None+PendingOut" => S::NonePendingOut,
            "None+PendingIn" => S::NonePendingIn,
            "None+PendingOut/In" => S::NonePendingOutIn,
            "To" => S::To,
            "To+PendingIn" => S::ToPendingIn,
            "From" => S::From,
            "From+PendingOut" => S::FromPendingOut,
            "Both" => S::Both,
            _ => return None,
        })
    }
}

/// What the recipient's server does with an inbound subscription stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// Deliver it to the user's available resources.
    Deliver,
    /// Drop it silently.
    Drop,
    /// Answer `subscribed` on the user's behalf (already or pre-approved).
    AutoReply,
}

/// RFC 6121 A.2: the user sends `kind` to a contact in `state`. Returns
/// whether the stanza is routed and the new state. Subscribe and
/// unsubscribe are always routed, so a contact's server that lost state can
/// resynchronise (RFC 6121 §3.1.2, §3.3.2).
pub(crate) fn outbound(state: State, kind: PresenceType) -> (bool, State) {
    match kind {
        PresenceType::Subscribe => (
            true,
            match state {
                S::None => S::NonePendingOut,
                S::NonePendingIn => S::NonePendingOutIn,
                S::From => S::FromPendingOut,
                s => s,
            },
        ),
        PresenceType::Subscribed => match state {
            S::NonePendingIn => (true, S::From),
            S::NonePendingOutIn => (true, S::FromPendingOut),
            S::ToPendingIn => (true, S::Both),
            s => (false, s),
        },
        PresenceType::Unsubscribe => (
            true,
            match state {
                S::NonePendingOut => S::None,
                S::NonePendingOutIn => S::NonePendingIn,
                S::To => S::None,
                S::ToPendingIn => S::NonePendingIn,
                S::FromPendingOut => S::From,
                S::Both => S::From,
                s => s,
            },
        ),
        PresenceType::Unsubscribed => match state {
            S::NonePendingIn => (true, S::None),
            S::NonePendingOutIn => (true, S::NonePendingOut),
            S::ToPendingIn => (true, S::To),
            S::From => (true, S::None),
            S::FromPendingOut => (true, S::NonePendingOut),
            S::Both => (true, S::To),
            s => (false, s),
        },
        _ => (false, state),
    }
}

/// RFC 6121 A.3: the user receives `kind` from a contact in `state`.
pub(crate) fn inbound(state: State, kind: PresenceType) -> (Inbound, State) {
    use Inbound::{AutoReply, Deliver, Drop};
    match kind {
        PresenceType::Subscribe => match state {
            S::None => (Deliver, S::NonePendingIn),
            S::NonePendingOut => (Deliver, S::NonePendingOutIn),
            S::To => (Deliver, S::ToPendingIn),
            S::From | S::FromPendingOut | S::Both => (AutoReply, state),
            s => (Drop, s),
        },
        PresenceType::Unsubscribe => match state {
            S::NonePendingIn => (Deliver, S::None),
            S::NonePendingOutIn => (Deliver, S::NonePendingOut),
            S::ToPendingIn => (Deliver, S::To),
            S::From => (Deliver, S::None),
            S::FromPendingOut => (Deliver, S::NonePendingOut),
            S::Both => (Deliver, S::To),
            s => (Drop, s),
        },
        PresenceType::Subscribed => match state {
            S::NonePendingOut => (Deliver, S::To),
            S::NonePendingOutIn => (Deliver, S::ToPendingIn),
            S::FromPendingOut => (Deliver, S::Both),
            s => (Drop, s),
        },
        PresenceType::Unsubscribed => match state {
            S::NonePendingOut => (Deliver, S::None),
            S::NonePendingOutIn => (Deliver, S::NonePendingIn),
            S::To => (Deliver, S::None),
            S::ToPendingIn => (Deliver, S::NonePendingIn),
            S::FromPendingOut => (Deliver, S::From),
            S::Both => (Deliver, S::From),
            s => (Drop, s),
        },
        _ => (Drop, state),
    }
}

impl Server {
    /// A subscription stanza from the user (RFC 6121 §3, A.2).
    pub(crate) fn subscription_outbound(
        &mut self,
        sid: SessionId,
        e: Element,
        to: Jid,
        kind: PresenceType,
        origin: Option<Origin>,
    ) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let contact = to.bare();
        if contact == user || self.blocks(&user, &contact) {
            return;
        }
        let Some(account) = self.account(&user) else {
            return;
        };
        let old = account.roster.get(&contact).cloned();
        let state = State::of(old.as_ref());
        let (route, new) = outbound(state, kind);
        let mut item = old.clone().unwrap_or_else(|| {
            let mut i = RosterItem::new(contact.clone());
            i.listed = false;
            i
        });
        new.apply(&mut item);
        if matches!(kind, PresenceType::Subscribe | PresenceType::Subscribed) {
            item.listed = true;
        }
        if state.pre_approvable() {
            match kind {
                PresenceType::Subscribed => item.approved = true,
                PresenceType::Unsubscribed => item.approved = false,
                _ => {}
            }
        }
        if old.as_ref() != Some(&item) && (old.is_some() || item.listed) {
            self.roster_save(&user, item, AfterWrite::Nothing, origin);
        }
        if route {
            let mut out = e;
            out.set_attr("from", user.to_string());
            out.set_attr("to", contact.to_string());
            self.route(out, contact.clone(), origin);
        }
        match kind {
            // §3.1.5: the contact now gets the user's presence.
            PresenceType::Subscribed if route => self.presence_from_sessions(&user, &contact),
            // §3.2.2: the contact no longer does.
            PresenceType::Unsubscribed if state.has_from() => {
                self.unavailable_from_sessions(&user, &contact)
            }
            _ => {}
        }
    }

    /// A subscription stanza for a loaded local account (RFC 6121 §3, A.3).
    pub(crate) fn subscription_inbound(
        &mut self,
        e: Element,
        to: Jid,
        kind: PresenceType,
        origin: Option<Origin>,
    ) {
        let user = to.bare();
        let Some(contact) = stanza::from_jid(&e).map(|f| f.bare()) else {
            return;
        };
        let Some(account) = self.account(&user) else {
            return;
        };
        let old = account.roster.get(&contact).cloned();
        // Requests from strangers create hidden items: bound their number.
        if old.is_none() && account.roster.len() >= 2 * self.config.limits.max_roster_items {
            return;
        }
        let state = State::of(old.as_ref());
        let (mut action, mut new) = inbound(state, kind);
        let mut item = old.clone().unwrap_or_else(|| {
            let mut i = RosterItem::new(contact.clone());
            i.listed = false;
            i
        });
        if kind == PresenceType::Subscribe && item.approved && state.pre_approvable() {
            // §3.4: pre-approved; subscribe the contact without asking.
            action = Inbound::AutoReply;
            new = match state {
                S::NonePendingOut => S::FromPendingOut,
                S::To => S::Both,
                _ => S::From,
            };
            item.approved = false;
        }
        new.apply(&mut item);
        if old.as_ref() != Some(&item) && (old.is_some() || item.pending_in) {
            self.roster_save(&user, item, AfterWrite::Nothing, origin);
        }
        match action {
            Inbound::Deliver => {
                let mut out = e;
                out.set_attr("from", contact.to_string());
                out.set_attr("to", user.to_string());
                for sid in self.available_sessions(&user) {
                    self.deliver(sid, out.clone());
                }
            }
            Inbound::AutoReply => {
                let reply = stanza::presence(PresenceType::Subscribed, &user, &contact);
                self.route(reply, contact.clone(), None);
                self.presence_from_sessions(&user, &contact);
            }
            Inbound::Drop => {}
        }
        // §3.3.3: the contact unsubscribed from the user's presence.
        if kind == PresenceType::Unsubscribe && state.has_from() && !new.has_from() {
            self.unavailable_from_sessions(&user, &contact);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    const TABLE: &str = include_str!("../../../tests/data/subscription-states.txt");

    fn kind(name: &str) -> PresenceType {
        match name {
            "subscribe" => PresenceType::Subscribe,
            "subscribed" => PresenceType::Subscribed,
            "unsubscribe" => PresenceType::Unsubscribe,
            "unsubscribed" => PresenceType::Unsubscribed,
            other => panic!("unknown stanza {other}"),
        }
    }

    #[test]
    fn rfc_6121_appendix_a_tables_are_followed() {
        let mut rows = 0;
        for line in TABLE.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [dir, stanza, old, sent, new] = cols[..] else {
                panic!("bad row {line:?}");
            };
            let old = State::parse(old).unwrap();
            let new = State::parse(new).unwrap();
            match dir {
                "out" => {
                    let (route, got) = outbound(old, kind(stanza));
                    assert_eq!((route, got), (sent == "yes", new), "{line}");
                }
                "in" => {
                    let (action, got) = inbound(old, kind(stanza));
                    let expect = match sent {
                        "yes" => Inbound::Deliver,
                        "no" => Inbound::Drop,
                        "auto" => Inbound::AutoReply,
                        other => panic!("bad delivery {other}"),
                    };
                    assert_eq!((action, got), (expect, new), "{line}");
                }
                other => panic!("bad direction {other}"),
            }
            rows += 1;
        }
        assert_eq!(rows, 72, "8 tables of 9 states");
    }

    #[test]
    fn states_round_trip_through_roster_items() {
        for name in [
            "None", "None+PendingOut", "None+PendingIn", "None+PendingOut/In", "To",
            "To+PendingIn", "From", "From+PendingOut", "Both",
        ] {
            let s = State::parse(name).unwrap();
            let mut item = RosterItem::new(Jid::parse("c@x").unwrap());
            s.apply(&mut item);
            assert_eq!(State::of(Some(&item)), s, "{name}");
        }
    }
}
