//! Initial requests after authentication (kamailio steps 13 to 17):
//! relaying to other domains, static routes, then the location service and
//! forking to the callee's bindings.

use std::time::Instant;

use rtc_sip::{Message, Method, SipUri};

use super::forking::{flow_destination, Plan, Target};
use crate::core::config::RecordRoute;
use crate::core::engine::Core;
use crate::core::msg::uri_user;
use crate::core::table::Stage;
use crate::core::types::{Aor, Binding, Event, LookupFailed};

impl Core {
    fn record_route_wanted(&self, method: Option<Method<'_>>) -> bool {
        match self.cfg.record_route {
            RecordRoute::All => method != Some(Method::Register),
            RecordRoute::Dialog => matches!(
                method,
                Some(Method::Invite | Method::Subscribe | Method::Refer)
            ),
        }
    }

    fn plan(&self, sid: u64, msg: &Message<'_>) -> Plan {
        Plan {
            record_route: self.record_route_wanted(msg.method()),
            strip_realm: self.servers.get(&sid).and_then(|t| t.strip_realm.clone()),
        }
    }

    /// After authentication (or when none was needed): relay, registrar,
    /// static routes or location.
    pub(super) fn after_auth(&mut self, sid: u64, msg: &Message<'_>, now: Instant) {
        let local_caller = self.servers.get(&sid).is_some_and(|t| t.local_caller);
        let Some(ruri) = msg.request_uri().and_then(|u| u.as_sip().copied()) else {
            return;
        };
        if msg.method() == Some(Method::Register) {
            self.register(sid, msg, now);
            return;
        }
        let Some(domain) = self.local_domain_of(&ruri) else {
            if !local_caller {
                self.reply(sid, msg, 403, "Relaying Forbidden", &[], now);
                return;
            }
            match self.net.next_hop(&ruri) {
                Some((listener, dest)) => {
                    let target = Target {
                        ruri: None,
                        routes: Vec::new(),
                        listener,
                        dest,
                        flow: None,
                    };
                    let plan = self.plan(sid, msg);
                    self.forward(sid, msg, vec![target], plan, now);
                }
                None => self.reply(
                    sid,
                    msg,
                    503,
                    "Service Unavailable (no transport)",
                    &[],
                    now,
                ),
            }
            return;
        };
        let Some(user_raw) = ruri.user() else {
            self.reply(sid, msg, 484, "Address Incomplete", &[], now);
            return;
        };
        let user_text = String::from_utf8_lossy(user_raw);
        if let Some(hit) = self.routes.lookup(&user_text, &domain, local_caller) {
            let hop = SipUri::parse(hit.destination.as_bytes())
                .ok()
                .and_then(|u| self.net.next_hop(&u));
            match hop {
                Some((listener, dest)) => {
                    let target = Target {
                        ruri: Some(hit.request_uri),
                        routes: Vec::new(),
                        listener,
                        dest,
                        flow: None,
                    };
                    let plan = self.plan(sid, msg);
                    self.forward(sid, msg, vec![target], plan, now);
                }
                None => self.reply(
                    sid,
                    msg,
                    503,
                    "Service Unavailable (no transport)",
                    &[],
                    now,
                ),
            }
            return;
        }
        let Some(user) = uri_user(&msg.request_uri().unwrap_or(rtc_sip::Uri::Sip(ruri))) else {
            self.reply(sid, msg, 404, "Not Found", &[], now);
            return;
        };
        let Some(id) = self.park(sid, msg, now) else {
            return;
        };
        if let Some(t) = self.servers.get_mut(&sid) {
            t.stage = Stage::Location { lookup: id.0 };
        }
        self.emit(Event::NeedBindings {
            id,
            aor: Aor { user, domain },
        });
    }

    /// Fork to the callee's live bindings: 404 with none, 480 when all expired or unreachable.
    pub(crate) fn resume_location(
        &mut self,
        sid: u64,
        bindings: Result<Vec<Binding>, LookupFailed>,
        now: Instant,
    ) {
        let Some((raw, _)) = self.resumable(sid) else {
            return;
        };
        let Ok(msg) = Message::parse_datagram(&raw, &self.limits) else {
            return;
        };
        let Ok(mut bindings) = bindings else {
            self.reply(sid, &msg, 500, "Server Internal Error (database)", &[], now);
            return;
        };
        if bindings.is_empty() {
            self.reply(sid, &msg, 404, "Not Found", &[], now);
            return;
        }
        bindings.retain(|b| b.expires > 0);
        bindings.sort_by_key(|b| std::cmp::Reverse(b.q));
        let targets: Vec<Target> = bindings
            .iter()
            .filter_map(|b| self.binding_target(b))
            .collect();
        if targets.is_empty() {
            self.reply(sid, &msg, 480, "Temporarily Unavailable", &[], now);
            return;
        }
        let plan = self.plan(sid, &msg);
        self.forward(sid, &msg, targets, plan, now);
    }

    /// How to reach a binding: through its Path, its flow (NAT, connection,
    /// outbound), or its Contact address.
    fn binding_target(&self, b: &Binding) -> Option<Target> {
        let ruri = Some(b.contact.clone());
        if let Some(first) = b.path.first() {
            let na = rtc_sip::NameAddr::parse(first.as_bytes()).ok()?;
            let (listener, dest) = self.net.next_hop(na.uri().as_sip()?)?;
            return Some(Target {
                ruri,
                routes: b.path.clone(),
                listener,
                dest,
                flow: None,
            });
        }
        if let Some(f) = b.flow.filter(|_| b.via_flow) {
            if !self.is_closed(f.connection) {
                return Some(Target {
                    ruri,
                    routes: Vec::new(),
                    listener: f.listener,
                    dest: flow_destination(&f),
                    flow: Some(f),
                });
            }
            if f.transport.is_websocket() || b.reg_id.is_some() || has_invalid_host(&b.contact) {
                return None;
            }
        }
        let u = SipUri::parse(b.contact.as_bytes()).ok()?;
        let (listener, dest) = self.net.next_hop(&u)?;
        Some(Target {
            ruri,
            routes: Vec::new(),
            listener,
            dest,
            flow: None,
        })
    }
}

fn has_invalid_host(contact: &str) -> bool {
    SipUri::parse(contact.as_bytes())
        .is_ok_and(|u| u.host_raw().to_ascii_lowercase().ends_with(b".invalid"))
}
