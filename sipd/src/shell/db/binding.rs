//! Converting between the core's [`Binding`] (relative expiry, a [`Flow`],
//! a binding key of its own) and the stored [`rtc_userdb::Binding`]
//! (absolute expiry, kamailio-style `socket`/`received`/`flow` columns).

use std::collections::HashMap;
use std::net::SocketAddr;

use rtc_sip::Uri;
use rtc_userdb::{BindingChange, BindingKey};

use crate::core::{Binding, BindingChanges, ConnectionId, Flow, ListenerId, Transport};

/// `flags` bit: send to the flow, not to the Contact (the core's `via_flow`).
const FLAG_VIA_FLOW: u32 = 1;
/// Call-ID given to the store for removals the core has already checked
/// (§10.3 step 7 is the core's job; the store's own check must not refuse).
const CHECKED: &str = "-";

/// The listeners of this run, to name them in stored bindings and find them again.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListenerTable {
    entries: Vec<(ListenerId, Transport, SocketAddr)>,
}

fn transport_named(name: &str) -> Option<Transport> {
    [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Ws, Transport::Wss]
        .into_iter()
        .find(|t| t.uri_param().eq_ignore_ascii_case(name))
}

impl ListenerTable {
    /// A table of `(id, transport, bound address)`.
    pub(crate) fn new(entries: Vec<(ListenerId, Transport, SocketAddr)>) -> Self {
        Self { entries }
    }

    fn socket_name(&self, id: ListenerId) -> Option<String> {
        self.entries.iter().find(|e| e.0 == id).map(|(_, t, a)| format!("{}:{a}", t.uri_param()))
    }

    fn listener_named(&self, name: &str) -> Option<(ListenerId, Transport)> {
        let (t, addr) = name.split_once(':')?;
        let transport = transport_named(t)?;
        let addr: SocketAddr = addr.parse().ok()?;
        self.entries.iter().find(|e| e.1 == transport && e.2 == addr).map(|e| (e.0, e.1))
    }

    /// A core binding as stored, expiring `b.expires` seconds after `now`.
    pub(crate) fn to_db(&self, b: &Binding, now: i64) -> rtc_userdb::Binding {
        let flow = b.flow.as_ref();
        rtc_userdb::Binding {
            contact: b.contact.clone(),
            received: flow.map(|f| format!("sip:{};transport={}", f.remote, f.transport.uri_param())),
            path: b.path.clone(),
            expires: now + i64::from(b.expires),
            q: Some(b.q.min(1000)),
            call_id: b.call_id.clone(),
            cseq: b.cseq,
            flags: if b.via_flow { FLAG_VIA_FLOW } else { 0 },
            user_agent: b.user_agent.clone(),
            socket: flow.and_then(|f| self.socket_name(f.listener)),
            instance: b.instance.clone(),
            reg_id: b.reg_id,
            server_id: None,
            flow: flow.and_then(|f| f.connection).map(|c| format!("{:x}", c.0)),
            last_modified: now,
        }
    }

    /// A stored binding as the core sees it at `now`. The flow is lost (and
    /// the binding routed by its Contact) when its listener no longer exists.
    pub(crate) fn to_core(&self, b: &rtc_userdb::Binding, now: i64) -> Binding {
        let flow = (|| {
            let (listener, transport) = self.listener_named(b.socket.as_deref()?)?;
            let remote = b.received.as_deref()?.strip_prefix("sip:")?.split(';').next()?.parse().ok()?;
            let connection = match &b.flow {
                Some(hex) => Some(ConnectionId(u64::from_str_radix(hex, 16).ok()?)),
                None => None,
            };
            Some(Flow { listener, transport, remote, connection })
        })();
        Binding {
            key: core_key(b),
            contact: b.contact.clone(),
            expires: u32::try_from((b.expires - now).max(0)).unwrap_or(u32::MAX),
            q: b.q.unwrap_or(1000),
            call_id: b.call_id.clone(),
            cseq: b.cseq,
            flow,
            via_flow: b.flags & FLAG_VIA_FLOW != 0,
            path: b.path.clone(),
            instance: b.instance.clone(),
            reg_id: b.reg_id,
            user_agent: b.user_agent.clone(),
        }
    }
}

/// The connection a stored binding must be reached through, if any.
pub(crate) fn via_connection(b: &rtc_userdb::Binding) -> Option<ConnectionId> {
    if b.flags & FLAG_VIA_FLOW == 0 {
        return None;
    }
    u64::from_str_radix(b.flow.as_deref()?, 16).ok().map(ConnectionId)
}

/// The core's key for a stored binding: `ob:INSTANCE:REG-ID` for RFC 5626
/// outbound bindings, otherwise the Contact's scheme, user, lower-case host,
/// port and transport (as the registrar computes it).
pub(crate) fn core_key(b: &rtc_userdb::Binding) -> String {
    if let (Some(instance), Some(reg_id)) = (&b.instance, b.reg_id) {
        return format!("ob:{instance}:{reg_id}");
    }
    let Ok(uri) = Uri::parse(b.contact.as_bytes()) else { return b.contact.clone() };
    let Some(u) = uri.as_sip() else { return b.contact.clone() };
    let scheme = if u.is_secure() { "sips" } else { "sip" };
    let user = u.user().map(|x| format!("{}@", String::from_utf8_lossy(x))).unwrap_or_default();
    let host = String::from_utf8_lossy(u.host_raw()).to_ascii_lowercase();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let transport = u
        .transport()
        .map(|t| format!(";transport={}", String::from_utf8_lossy(t).to_ascii_lowercase()))
        .unwrap_or_default();
    format!("{scheme}:{user}{host}{port}{transport}")
}

/// The store's changes for the core's `changes`, given what is `stored`.
///
/// The core names bindings by its own key; the store by Contact or instance.
/// A removal is mapped through the stored binding with that core key, and
/// an update whose store key differs from the stored one (a Contact that
/// changed only in letter case) removes the old row.
pub(crate) fn translate(
    table: &ListenerTable,
    stored: &[rtc_userdb::Binding],
    changes: &BindingChanges,
    now: i64,
) -> Vec<BindingChange> {
    let by_core: HashMap<String, BindingKey> = stored.iter().map(|b| (core_key(b), b.key())).collect();
    let (call_id, cseq) = changes.upsert.first().map_or((CHECKED.to_owned(), 0), |b| (b.call_id.clone(), b.cseq));
    let mut out = Vec::new();
    if changes.remove_all {
        out.push(BindingChange::RemoveAll { call_id: CHECKED.to_owned(), cseq: 0 });
    }
    for key in &changes.remove {
        if let Some(k) = by_core.get(key) {
            out.push(BindingChange::Remove { key: k.clone(), call_id: CHECKED.to_owned(), cseq: 0 });
        }
    }
    for b in &changes.upsert {
        let row = table.to_db(b, now);
        if let Some(old) = by_core.get(&b.key).filter(|k| **k != row.key()) {
            out.push(BindingChange::Remove { key: old.clone(), call_id: call_id.clone(), cseq });
        }
        out.push(BindingChange::Set(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ListenerTable {
        ListenerTable::new(vec![
            (ListenerId(0), Transport::Udp, "198.51.100.5:5060".parse().unwrap()),
            (ListenerId(1), Transport::Tcp, "[2001:db8::5]:5060".parse().unwrap()),
        ])
    }

    fn binding(contact: &str, flow: Option<Flow>) -> Binding {
        Binding {
            key: String::new(),
            contact: contact.into(),
            expires: 3600,
            q: 500,
            call_id: "c1@host".into(),
            cseq: 7,
            flow,
            via_flow: flow.is_some(),
            path: vec!["<sip:edge.example;lr>".into()],
            instance: None,
            reg_id: None,
            user_agent: Some("phone".into()),
        }
    }

    #[test]
    fn bindings_round_trip_through_the_store_with_their_flow() {
        let t = table();
        let flow = Flow {
            listener: ListenerId(1),
            transport: Transport::Tcp,
            remote: "[2001:db8::7]:40312".parse().unwrap(),
            connection: Some(ConnectionId(0xabc0_0000_0001)),
        };
        let mut b = binding("sip:roland@[2001:db8::7]:40312;transport=tcp", Some(flow));
        b.key = core_key(&t.to_db(&b, 1000));
        let row = t.to_db(&b, 1000);
        assert_eq!(row.expires, 4600);
        assert_eq!(row.socket.as_deref(), Some("tcp:[2001:db8::5]:5060"));
        assert_eq!(row.received.as_deref(), Some("sip:[2001:db8::7]:40312;transport=tcp"));
        assert_eq!(via_connection(&row), Some(ConnectionId(0xabc0_0000_0001)));
        let back = t.to_core(&row, 1600);
        assert_eq!(back.expires, 3000);
        assert_eq!(Binding { expires: 3600, ..back }, b);
    }

    #[test]
    fn a_vanished_listener_loses_the_flow_but_keeps_the_contact() {
        let flow = Flow {
            listener: ListenerId(0),
            transport: Transport::Udp,
            remote: "192.0.2.7:5062".parse().unwrap(),
            connection: None,
        };
        let row = table().to_db(&binding("sip:r@192.0.2.7:5062", Some(flow)), 0);
        let other = ListenerTable::new(vec![(ListenerId(0), Transport::Udp, "198.51.100.6:5060".parse().unwrap())]);
        let back = other.to_core(&row, 0);
        assert_eq!(back.flow, None);
        assert_eq!(back.contact, "sip:r@192.0.2.7:5062");
        assert_eq!(table().to_core(&row, 0).flow, Some(flow));
    }

    #[test]
    fn core_keys_normalise_plain_contacts_and_name_outbound_flows() {
        let t = table();
        let row = t.to_db(&binding("sip:Roland@PC.Falcot.com:5062;transport=TCP;ob;foo=bar", None), 0);
        assert_eq!(core_key(&row), "sip:Roland@pc.falcot.com:5062;transport=tcp");
        let mut ob = binding("sip:x@192.0.2.1", None);
        ob.instance = Some("<urn:uuid:1>".into());
        ob.reg_id = Some(2);
        assert_eq!(core_key(&t.to_db(&ob, 0)), "ob:<urn:uuid:1>:2");
    }

    #[test]
    fn removals_map_to_stored_rows_and_case_changes_replace_the_old_row() {
        let t = table();
        let old = t.to_db(&binding("sip:r@PC.example", None), 0);
        let gone = t.to_db(&binding("sip:s@192.0.2.9", None), 0);
        let mut new = binding("sip:r@pc.example", None);
        new.key = "sip:r@pc.example".into();
        let changes = BindingChanges {
            remove_all: false,
            remove: vec!["sip:s@192.0.2.9".into(), "sip:unknown@x".into()],
            upsert: vec![new.clone()],
        };
        let out = translate(&t, &[old.clone(), gone.clone()], &changes, 0);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(matches!(&out[0], BindingChange::Remove { key, .. } if *key == gone.key()));
        assert!(matches!(&out[1], BindingChange::Remove { key, cseq: 7, .. } if *key == old.key()));
        assert!(matches!(&out[2], BindingChange::Set(b) if b.contact == "sip:r@pc.example"));
        let all = translate(&t, &[], &BindingChanges { remove_all: true, ..BindingChanges::default() }, 0);
        assert!(matches!(&all[..], [BindingChange::RemoveAll { .. }]));
    }
}
