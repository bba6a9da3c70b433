//! The registrar (RFC 3261 §10.3) with Path (RFC 3327), outbound
//! (RFC 5626 §6) and kamailio-style NAT handling (`fix_nated_register`):
//! the flow a REGISTER came from is stored with each binding and used for
//! routing when the Contact cannot be reached directly.
//!
//! Storage is the shell's: the core fetches the AoR's bindings, computes
//! the changes (so the §10.3 step 7 Call-ID/CSeq rules and the contact
//! limit are checked against what is stored), asks the shell to apply them
//! atomically, and answers with the resulting set.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Instant;

use rtc_sip::{Contact, HeaderName, Host, Message, NameAddr, SipUri};

use crate::core::engine::Core;
use crate::core::msg::{has_token, uri_user};
use crate::core::proxy::via_mismatch;
use crate::core::table::Stage;
use crate::core::types::{Aor, Binding, BindingChanges, Event, Flow, LookupFailed};

type Refusal = (u16, &'static str);

/// Longest Contact URI or Path value stored (longer ones are refused, never cut).
const MAX_STORED: usize = 1024;

/// The binding key of a plain contact: scheme, user, host, port, transport.
fn contact_key(u: &SipUri<'_>) -> String {
    let scheme = if u.is_secure() { "sips" } else { "sip" };
    let user = u
        .user()
        .map(|x| format!("{}@", String::from_utf8_lossy(x)))
        .unwrap_or_default();
    let host = String::from_utf8_lossy(u.host_raw()).to_ascii_lowercase();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let transport = u
        .transport()
        .map(|t| {
            format!(
                ";transport={}",
                String::from_utf8_lossy(t).to_ascii_lowercase()
            )
        })
        .unwrap_or_default();
    format!("{scheme}:{user}{host}{port}{transport}")
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_private()
                || a.is_link_local()
                || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            (a.segments()[0] & 0xfe00) == 0xfc00 || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// kamailio's nat_uac_test 19: Via or Contact do not match the source, or
/// the Contact is a private address (or a WebRTC `.invalid` name).
fn behind_nat(contact: &SipUri<'_>, flow: &Flow, via_differs: bool) -> bool {
    let contact_differs = match contact.host() {
        Host::Ipv4(a) => {
            let ip = IpAddr::V4(a);
            is_private(ip)
                || ip != flow.remote.ip()
                || contact.port().unwrap_or(5060) != flow.remote.port()
        }
        Host::Ipv6(a) => {
            let ip = IpAddr::V6(a);
            is_private(ip)
                || ip != flow.remote.ip()
                || contact.port().unwrap_or(5060) != flow.remote.port()
        }
        Host::Domain(d) => d.to_ascii_lowercase().ends_with(b".invalid"),
    };
    via_differs || contact_differs
}

fn text(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(b.get(..b.len().min(max)).unwrap_or_default()).into_owned()
}

impl Core {
    pub(super) fn aor_of(&self, msg: &Message<'_>) -> Option<Aor> {
        let to = msg.to().ok()?;
        let domain = self.local_domain_of(to.uri().as_sip()?)?;
        Some(Aor {
            user: uri_user(&to.uri())?,
            domain,
        })
    }

    /// The expiry a contact asks for (§10.2.1.1), bounded; 423 below the minimum (§10.3 step 7).
    fn expires_of(&self, c: &NameAddr<'_>, header: Option<u32>) -> Result<u32, Refusal> {
        let r = &self.cfg.registrar;
        let e = c.expires().or(header).unwrap_or(r.default_expires);
        if e == 0 {
            return Ok(0);
        }
        if e < r.min_expires {
            return Err((423, "Interval Too Brief"));
        }
        Ok(e.min(r.max_expires))
    }

    /// REGISTER after authentication: check what needs no database, then fetch the bindings.
    pub(super) fn register(&mut self, sid: u64, msg: &Message<'_>, now: Instant) {
        if let Some(bad) = self.unsupported_required(msg) {
            self.reply(
                sid,
                msg,
                420,
                "Bad Extension",
                &[("Unsupported", &bad)],
                now,
            );
            return;
        }
        let Some(aor) = self.aor_of(msg) else {
            self.reply(sid, msg, 404, "Not Found", &[], now);
            return;
        };
        let contacts: Vec<Contact<'_>> = msg.contacts().flatten().collect();
        let star = contacts.contains(&Contact::Star);
        let header = msg.expires().ok().flatten();
        if star && (header != Some(0) || contacts.len() != 1) {
            self.reply(
                sid,
                msg,
                400,
                "Bad Request (Contact: * needs Expires: 0)",
                &[],
                now,
            );
            return;
        }
        let supported_ob = has_token(msg, HeaderName::Supported, "outbound");
        for c in &contacts {
            let Contact::Addr(a) = c else { continue };
            if a.uri().as_sip().is_none() {
                self.reply(
                    sid,
                    msg,
                    400,
                    "Bad Request (Contact must be a SIP URI)",
                    &[],
                    now,
                );
                return;
            }
            if let Err((code, reason)) = self.expires_of(a, header) {
                let min = self.cfg.registrar.min_expires.to_string();
                self.reply(
                    sid,
                    msg,
                    code,
                    reason,
                    &[("Min-Expires", min.as_bytes())],
                    now,
                );
                return;
            }
            let wants_ob = supported_ob && a.instance().is_some() && a.reg_id().is_some();
            if wants_ob
                && msg.vias().count() > 1
                && !msg
                    .paths()
                    .flatten()
                    .any(|p| p.uri().as_sip().is_some_and(|u| u.ob()))
            {
                self.reply(sid, msg, 439, "First Hop Lacks Outbound Support", &[], now);
                return;
            }
        }
        if let Some((_, bindings)) = self.prefetched.take_if(|(s, _)| *s == sid) {
            if let Some(flow) = self.servers.get(&sid).map(|t| t.flow) {
                self.continue_register(sid, msg, &flow, bindings, now);
            }
            return;
        }
        let Some(id) = self.park(sid, msg, now) else {
            return;
        };
        if let Some(t) = self.servers.get_mut(&sid) {
            t.stage = Stage::RegisterFetch { lookup: id.0 };
        }
        self.emit(Event::NeedBindings { id, aor });
    }

    /// The changes a REGISTER asks for, checked against the stored bindings.
    /// `None` for a query (no Contact); the flag says outbound was used.
    fn plan_changes(
        &self,
        msg: &Message<'_>,
        flow: &Flow,
        current: &[Binding],
    ) -> Result<Option<(BindingChanges, bool)>, Refusal> {
        const OUT_OF_ORDER: Refusal = (500, "Server Internal Error (out of order REGISTER)");
        let call_id = text(msg.call_id().unwrap_or_default(), 256);
        let cseq = msg.cseq().map_err(|_| (400, "Bad Request"))?.number;
        let stale = |b: &Binding| b.call_id == call_id && cseq <= b.cseq;
        let contacts: Vec<Contact<'_>> = msg.contacts().flatten().collect();
        if contacts.is_empty() {
            return Ok(None);
        }
        if contacts.contains(&Contact::Star) {
            if current.iter().any(stale) {
                return Err(OUT_OF_ORDER);
            }
            return Ok(Some((
                BindingChanges {
                    remove_all: true,
                    ..BindingChanges::default()
                },
                false,
            )));
        }
        let header = msg.expires().ok().flatten();
        let supported_ob = has_token(msg, HeaderName::Supported, "outbound");
        let single_hop = msg.vias().count() == 1;
        let via_differs = msg.top_via().ok().is_some_and(|v| via_mismatch(flow, &v));
        let paths: Vec<String> = msg
            .paths()
            .flatten()
            .map(|p| text(p.as_bytes(), MAX_STORED))
            .collect();
        if msg
            .paths()
            .flatten()
            .any(|p| p.as_bytes().len() > MAX_STORED)
        {
            return Err((400, "Bad Request (Path too long)"));
        }
        let ua = msg.user_agent().map(|u| text(u, 256));
        let active: HashSet<&str> = current
            .iter()
            .filter(|b| b.expires > 0)
            .map(|b| b.key.as_str())
            .collect();
        let mut keys: HashSet<String> = active.iter().map(|k| (*k).to_owned()).collect();
        let mut changes = BindingChanges::default();
        let mut outbound_used = false;
        for c in &contacts {
            let Contact::Addr(a) = c else { continue };
            let Some(uri) = a.uri().as_sip().copied() else {
                return Err((400, "Bad Request"));
            };
            if uri.as_bytes().len() > MAX_STORED || a.instance().is_some_and(|i| i.len() > 256) {
                return Err((400, "Bad Request (Contact too long)"));
            }
            let outbound = supported_ob && a.instance().is_some() && a.reg_id().is_some();
            let key = match (outbound, a.instance(), a.reg_id()) {
                (true, Some(i), Some(r)) => format!("ob:{}:{r}", text(i, 256)),
                _ => contact_key(&uri),
            };
            if current.iter().any(|b| b.key == key && stale(b)) {
                return Err(OUT_OF_ORDER);
            }
            let expires = self.expires_of(a, header)?;
            changes.upsert.retain(|b| b.key != key);
            changes.remove.retain(|k| *k != key);
            if expires == 0 {
                keys.remove(&key);
                changes.remove.push(key);
                continue;
            }
            outbound_used |= outbound;
            keys.insert(key.clone());
            let nat = behind_nat(&uri, flow, via_differs);
            changes.upsert.push(Binding {
                key,
                contact: text(uri.as_bytes(), MAX_STORED),
                expires,
                q: a.q().unwrap_or(1000),
                call_id: call_id.clone(),
                cseq,
                flow: Some(*flow),
                via_flow: outbound || (single_hop && (flow.transport.is_reliable() || nat)),
                path: paths.clone(),
                instance: a.instance().map(|i| text(i, 256)),
                reg_id: if outbound { a.reg_id() } else { None },
                user_agent: ua.clone(),
            });
        }
        if keys.len() > self.cfg.registrar.max_contacts && keys.len() > active.len() {
            return Err((403, "Forbidden (too many contacts)"));
        }
        Ok(Some((changes, outbound_used)))
    }

    /// The AoR's bindings arrived: refuse, answer a query, or save.
    pub(crate) fn resume_register(
        &mut self,
        sid: u64,
        bindings: Result<Vec<Binding>, LookupFailed>,
        now: Instant,
    ) {
        let Some((raw, flow)) = self.resumable(sid) else {
            return;
        };
        let Ok(msg) = Message::parse_datagram(&raw, &self.limits) else {
            return;
        };
        self.continue_register(sid, &msg, &flow, bindings, now);
    }

    /// With the AoR's current bindings: refuse, answer a query, or save.
    fn continue_register(
        &mut self,
        sid: u64,
        msg: &Message<'_>,
        flow: &Flow,
        bindings: Result<Vec<Binding>, LookupFailed>,
        now: Instant,
    ) {
        let Ok(current) = bindings else {
            self.reply(sid, msg, 500, "Server Internal Error (database)", &[], now);
            return;
        };
        match self.plan_changes(msg, flow, &current) {
            Err((code, reason)) => self.reply(sid, msg, code, reason, &[], now),
            Ok(None) => self.reply_registered(sid, msg, &current, false, now),
            Ok(Some((changes, outbound))) => {
                let Some(aor) = self.aor_of(msg) else { return };
                let Some(id) = self.park(sid, msg, now) else {
                    return;
                };
                if let Some(t) = self.servers.get_mut(&sid) {
                    t.stage = Stage::RegisterSave {
                        lookup: id.0,
                        outbound,
                    };
                }
                self.emit(Event::SaveBindings { id, aor, changes });
            }
        }
    }

    pub(crate) fn resume_saved(
        &mut self,
        sid: u64,
        outbound: bool,
        bindings: Result<Vec<Binding>, LookupFailed>,
        now: Instant,
    ) {
        let Some((raw, _)) = self.resumable(sid) else {
            return;
        };
        let Ok(msg) = Message::parse_datagram(&raw, &self.limits) else {
            return;
        };
        match bindings {
            Ok(b) => {
                self.metrics.registrations += 1;
                self.reply_registered(sid, &msg, &b, outbound, now);
            }
            Err(LookupFailed) => {
                self.reply(sid, &msg, 500, "Server Internal Error (database)", &[], now)
            }
        }
    }

    /// 200 OK listing every current binding with its remaining time (§10.3 step 8).
    fn reply_registered(
        &mut self,
        sid: u64,
        msg: &Message<'_>,
        bindings: &[Binding],
        outbound: bool,
        now: Instant,
    ) {
        use std::fmt::Write as _;
        let mut live: Vec<&Binding> = bindings.iter().filter(|b| b.expires > 0).collect();
        live.sort_by_key(|b| std::cmp::Reverse(b.q));
        // Every Contact value goes into one buffer (one allocation, not one per
        // binding); `ends` marks where each value stops.
        let mut text = String::with_capacity(live.len() * 96);
        let mut ends: Vec<usize> = Vec::with_capacity(live.len());
        for b in live {
            // Writing into a String cannot fail.
            let _ = write!(text, "<{}>;expires={}", b.contact, b.expires);
            if b.q < 1000 {
                let _ = write!(text, ";q=0.{:03}", b.q);
            }
            if let Some(i) = &b.instance {
                let _ = write!(text, ";+sip.instance=\"{i}\"");
            }
            if let Some(r) = b.reg_id {
                let _ = write!(text, ";reg-id={r}");
            }
            ends.push(text.len());
        }
        let flow_timer = outbound.then(|| self.cfg.registrar.flow_timer.to_string());
        let mut refs: Vec<(&str, &[u8])> = Vec::with_capacity(ends.len() + 4);
        let mut start = 0;
        for end in ends {
            refs.push((
                "Contact",
                text.as_bytes().get(start..end).unwrap_or_default(),
            ));
            start = end;
        }
        if let Some(timer) = &flow_timer {
            refs.push(("Require", b"outbound"));
            refs.push(("Flow-Timer", timer.as_bytes()));
        }
        if has_token(msg, HeaderName::Supported, "path") {
            refs.extend(
                msg.headers_named(HeaderName::Path)
                    .map(|h| ("Path", h.value())),
            );
        }
        refs.push(("Supported", b"path, outbound"));
        self.reply(sid, msg, 200, "OK", &refs, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_keys_ignore_case_of_host_and_unrelated_params() {
        let a = SipUri::parse(b"sip:alice@PC.Falcot.com:5062;ob;transport=TCP").unwrap();
        let b = SipUri::parse(b"sip:alice@pc.falcot.com:5062;transport=tcp").unwrap();
        assert_eq!(contact_key(&a), contact_key(&b));
        assert_eq!(
            contact_key(&a),
            "sip:alice@pc.falcot.com:5062;transport=tcp"
        );
    }

    #[test]
    fn nat_detection_like_kamailio_nat_uac_test_19() {
        let flow = Flow {
            listener: crate::core::types::ListenerId(0),
            transport: crate::core::types::Transport::Udp,
            remote: "203.0.113.5:40000".parse().unwrap(),
            connection: None,
        };
        assert!(behind_nat(
            &SipUri::parse(b"sip:a@192.168.1.10:5060").unwrap(),
            &flow,
            false
        ));
        assert!(
            behind_nat(
                &SipUri::parse(b"sip:a@203.0.113.5:5060").unwrap(),
                &flow,
                false
            ),
            "port differs"
        );
        assert!(!behind_nat(
            &SipUri::parse(b"sip:a@203.0.113.5:40000").unwrap(),
            &flow,
            false
        ));
        assert!(behind_nat(
            &SipUri::parse(b"sip:a@df7jal23ls0d.invalid;transport=ws").unwrap(),
            &flow,
            false
        ));
        assert!(behind_nat(
            &SipUri::parse(b"sip:a@pc.example.org").unwrap(),
            &flow,
            true
        ));
        assert!(is_private("100.64.1.1".parse().unwrap()));
        assert!(is_private("fd00::1".parse().unwrap()));
        assert!(!is_private("2001:db8::1".parse().unwrap()));
    }
}
