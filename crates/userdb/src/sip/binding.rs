//! Registration bindings: what the location service stores per Contact of
//! an address of record, with the RFC 5626 outbound and RFC 5627 instance
//! fields kamailio's `location` table keeps.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::sql::{check_name, check_text, Row, Value};

/// Longest Contact or destination URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 1024;
/// Longest Path (all entries together, one byte between each), in bytes.
const MAX_PATH_LEN: usize = 4096;
/// Longest stored User-Agent; longer ones are cut (it is only displayed).
const MAX_USER_AGENT_LEN: usize = 255;

/// Columns of a [`Binding`], in the order [`binding_from_row`] reads them
/// (after `offset` leading columns).
macro_rules! binding_columns {
    () => {
        "contact, received, path, expires, q, call_id, cseq, flags, user_agent, socket, \
         instance, reg_id, server_id, flow, last_modified"
    };
}
pub(super) use binding_columns;

/// One registration binding: a Contact of an address of record, with what
/// the registrar learnt about it (kamailio's `location` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI, as `sipd` will put it in the Request-URI; at most
    /// [`MAX_URI_LEN`] bytes. Compared as exact bytes.
    pub contact: String,
    /// Where the REGISTER came from, when that differs from the Contact
    /// (NAT), e.g. `sip:192.0.2.7:40312;transport=udp`.
    pub received: Option<String>,
    /// The Path header entries (RFC 3327), in order: the Route set to the
    /// contact.
    pub path: Vec<String>,
    /// Expiry as an absolute time in Unix seconds.
    pub expires: i64,
    /// The `q` parameter in thousandths (0..=1000), if the Contact had one.
    pub q: Option<u16>,
    /// Call-ID of the REGISTER that last set this binding.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// Flags for `sipd`'s own use (kamailio's `cflags`).
    pub flags: u32,
    /// The User-Agent header, for display; cut to 255 bytes and with
    /// control characters replaced by spaces when stored.
    pub user_agent: Option<String>,
    /// The local listener the REGISTER arrived on (kamailio's `socket`).
    pub socket: Option<String>,
    /// The `+sip.instance` Contact parameter (RFC 5626 §4.1, RFC 5627).
    pub instance: Option<String>,
    /// The `reg-id` Contact parameter (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
    /// Which `sipd` node holds the connection or flow to the contact.
    pub server_id: Option<String>,
    /// That node's identifier of the connection or flow (kamailio's
    /// `connection_id`, RFC 5626 flow token).
    pub flow: Option<String>,
    /// When the binding was last written, in Unix seconds; set by the store
    /// to the `now` of the save (the value passed in is ignored).
    pub last_modified: i64,
}

impl Binding {
    /// A binding with the required fields and every optional one empty
    /// (`flags` 0, no q, Path, instance, ...).
    pub fn new(contact: &str, expires: i64, call_id: &str, cseq: u32) -> Self {
        Binding {
            contact: contact.to_owned(),
            received: None,
            path: Vec::new(),
            expires,
            q: None,
            call_id: call_id.to_owned(),
            cseq,
            flags: 0,
            user_agent: None,
            socket: None,
            instance: None,
            reg_id: None,
            server_id: None,
            flow: None,
            last_modified: 0,
        }
    }

    /// The key that decides which stored binding this one replaces.
    pub fn key(&self) -> BindingKey {
        match &self.instance {
            Some(instance) => BindingKey::Instance {
                instance: instance.clone(),
                reg_id: self.reg_id,
            },
            None => BindingKey::Contact(self.contact.clone()),
        }
    }

    pub(super) fn check(&self, now: i64) -> Result<()> {
        check_text("contact", &self.contact, MAX_URI_LEN)?;
        for hop in &self.path {
            check_text("path", hop, MAX_URI_LEN)?;
        }
        if joined_len(&self.path) > MAX_PATH_LEN {
            return Err(invalid("path", "longer than 4096 bytes"));
        }
        if self.expires <= now {
            return Err(invalid(
                "expires",
                "must be in the future; remove the binding instead",
            ));
        }
        if self.q.is_some_and(|q| q > 1000) {
            return Err(invalid("q", "must be at most 1000"));
        }
        check_name("call_id", &self.call_id)?;
        for (field, value) in [
            ("received", &self.received),
            ("socket", &self.socket),
            ("instance", &self.instance),
            ("server_id", &self.server_id),
            ("flow", &self.flow),
        ] {
            if let Some(v) = value {
                check_name(field, v)?;
            }
        }
        Ok(())
    }

    /// The SET/VALUES parameters shared by UPDATE and INSERT, ending with
    /// aor and binding_key.
    pub(super) fn params(&self, aor: &str, key: &[u8; 32], now: i64) -> Vec<Value> {
        let path = (!self.path.is_empty()).then(|| self.path.join("\n"));
        let user_agent = self.user_agent.as_deref().map(display_text);
        vec![
            self.contact.as_str().into(),
            self.received.as_deref().into(),
            path.as_deref().into(),
            self.expires.into(),
            self.q.map_or(Value::Null, |q| Value::Int(i64::from(q))),
            self.call_id.as_str().into(),
            self.cseq.into(),
            self.flags.into(),
            user_agent.as_deref().into(),
            self.socket.as_deref().into(),
            self.instance.as_deref().into(),
            self.reg_id.into(),
            self.server_id.as_deref().into(),
            self.flow.as_deref().into(),
            now.into(),
            aor.into(),
            key.as_slice().into(),
        ]
    }
}

/// Which stored binding a Contact refers to within its address of record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindingKey {
    /// By Contact URI, compared as exact bytes (RFC 3261 §10.3 step 7).
    Contact(String),
    /// By `+sip.instance`, and `reg-id` when present: one binding per
    /// instance (RFC 5627 §6) or per flow (RFC 5626 §6), whatever the
    /// Contact URI.
    Instance {
        /// The `+sip.instance` value.
        instance: String,
        /// The `reg-id` value.
        reg_id: Option<u32>,
    },
}

impl BindingKey {
    /// The fixed-size primary-key column: SHA-256 over a tagged encoding.
    /// Inputs contain no control characters, so NUL separates unambiguously.
    pub(super) fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        match self {
            BindingKey::Contact(contact) => {
                h.update(b"contact\0");
                h.update(contact.as_bytes());
            }
            BindingKey::Instance { instance, reg_id } => {
                h.update(b"instance\0");
                h.update(instance.as_bytes());
                h.update(b"\0");
                if let Some(id) = reg_id {
                    h.update(id.to_string().as_bytes());
                }
            }
        }
        h.finalize().into()
    }
}

/// One change a REGISTER asks for. `call_id` and `cseq` are the request's;
/// they are checked against the stored binding (RFC 3261 §10.3 step 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Add the binding, or refresh the one with the same [`BindingKey`].
    Set(Binding),
    /// Remove one binding (a Contact with expires 0); no error if absent.
    Remove {
        /// Which binding.
        key: BindingKey,
        /// The request's Call-ID.
        call_id: String,
        /// The request's CSeq number.
        cseq: u32,
    },
    /// Remove every binding of the address of record (`Contact: *`,
    /// RFC 3261 §10.3 step 6).
    RemoveAll {
        /// The request's Call-ID.
        call_id: String,
        /// The request's CSeq number.
        cseq: u32,
    },
}

/// Reads the [`binding_columns!`] starting at column `offset`.
pub(super) fn binding_from_row(r: &Row, offset: usize) -> Result<Binding> {
    let at = |i: usize| offset + i;
    let q = match r.opt_int(at(4))? {
        Some(q) => Some(u16::try_from(q).map_err(|_| Error::Corrupt("q out of range"))?),
        None => None,
    };
    let reg_id = match r.opt_int(at(11))? {
        Some(id) => Some(u32::try_from(id).map_err(|_| Error::Corrupt("reg-id out of range"))?),
        None => None,
    };
    Ok(Binding {
        contact: r.text(at(0))?,
        received: r.opt_text(at(1))?,
        path: r
            .opt_text(at(2))?
            .map(|p| p.split('\n').map(str::to_owned).collect())
            .unwrap_or_default(),
        expires: r.int(at(3))?,
        q,
        call_id: r.text(at(5))?,
        cseq: r.u32(at(6))?,
        flags: r.u32(at(7))?,
        user_agent: r.opt_text(at(8))?,
        socket: r.opt_text(at(9))?,
        instance: r.opt_text(at(10))?,
        reg_id,
        server_id: r.opt_text(at(12))?,
        flow: r.opt_text(at(13))?,
        last_modified: r.int(at(14))?,
    })
}

pub(super) fn invalid(field: &'static str, reason: &'static str) -> Error {
    Error::InvalidInput { field, reason }
}

fn joined_len(parts: &[String]) -> usize {
    parts
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1)
}

/// Display-only text: control characters become spaces, and the result is
/// cut to [`MAX_USER_AGENT_LEN`] bytes on a character boundary.
fn display_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_USER_AGENT_LEN));
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_USER_AGENT_LEN {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_distinguish_contacts_instances_and_flows() {
        let c = BindingKey::Contact("sip:a@192.0.2.1".into()).digest();
        let i = |reg_id| BindingKey::Instance {
            instance: "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into(),
            reg_id,
        };
        assert_ne!(c, i(None).digest());
        assert_ne!(i(None).digest(), i(Some(1)).digest());
        assert_ne!(i(Some(1)).digest(), i(Some(2)).digest());
        assert_eq!(i(Some(2)).digest(), i(Some(2)).digest());
        // A contact that spells an instance encoding is still a contact.
        let tricky = BindingKey::Contact("instance\0x".into()).digest();
        assert_ne!(
            tricky,
            BindingKey::Instance {
                instance: "x".into(),
                reg_id: None
            }
            .digest()
        );
    }

    #[test]
    fn user_agents_are_made_displayable() {
        assert_eq!(
            display_text("Linphone/5.2\t(Debian)"),
            "Linphone/5.2 (Debian)"
        );
        let long = "é".repeat(200);
        let cut = display_text(&long);
        assert!(cut.len() <= MAX_USER_AGENT_LEN && cut.len() >= MAX_USER_AGENT_LEN - 1);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn path_length_counts_separators() {
        assert_eq!(joined_len(&[]), 0);
        assert_eq!(joined_len(&["ab".into(), "c".into()]), 4);
    }
}
