//! Transactions (RFC 3261 §17): the pure state machines and the keys that
//! match requests to server transactions (§17.2.3).

pub(crate) mod client;
pub(crate) mod server;
pub(crate) mod timers;

use rtc_sip::{Message, Method};

/// The method part of a transaction key: ACK belongs to the INVITE
/// transaction, CANCEL has its own (§17.2.3, §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum MethodClass {
    Invite,
    Cancel,
    Other(Box<[u8]>),
}

impl MethodClass {
    pub(crate) fn of(m: Method<'_>) -> MethodClass {
        match m {
            Method::Invite | Method::Ack => MethodClass::Invite,
            Method::Cancel => MethodClass::Cancel,
            other => MethodClass::Other(other.as_bytes().into()),
        }
    }
}

/// What identifies a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// RFC 3261 §17.2.3: the magic-cookie branch, the sent-by and the method.
    Branch {
        branch: Box<[u8]>,
        sent_by: Box<[u8]>,
        class: MethodClass,
    },
    /// The RFC 2543 fallback of §17.2.3: Request-URI, From tag, Call-ID, CSeq
    /// number and top Via (the To tag is left out so the ACK for our own
    /// non-2xx response, which carries our tag, still matches).
    Legacy {
        ruri: Box<[u8]>,
        from_tag: Box<[u8]>,
        call_id: Box<[u8]>,
        cseq: u32,
        top_via: Box<[u8]>,
        class: MethodClass,
    },
}

impl ServerKey {
    /// The key of a validated request; `None` when it has no usable Via or CSeq.
    pub(crate) fn of(msg: &Message<'_>) -> Option<ServerKey> {
        let method = msg.method()?;
        let via = msg.top_via().ok()?;
        let class = MethodClass::of(method);
        if via.has_rfc3261_branch() {
            let branch = via.branch()?.into();
            let mut sent_by = via.host_raw().to_ascii_lowercase();
            if let Some(p) = via.port() {
                sent_by.push(b':');
                sent_by.extend_from_slice(p.to_string().as_bytes());
            }
            return Some(ServerKey::Branch {
                branch,
                sent_by: sent_by.into(),
                class,
            });
        }
        Some(ServerKey::Legacy {
            ruri: msg.request_uri()?.as_bytes().into(),
            from_tag: msg.from().ok()?.tag().unwrap_or_default().into(),
            call_id: msg.call_id()?.into(),
            cseq: msg.cseq().ok()?.number,
            top_via: via.as_bytes().into(),
            class,
        })
    }

    /// The same key for another method class (a CANCEL looking for its INVITE).
    pub(crate) fn with_class(&self, c: MethodClass) -> ServerKey {
        let mut k = self.clone();
        match &mut k {
            ServerKey::Branch { class, .. } | ServerKey::Legacy { class, .. } => *class = c,
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_sip::Limits;

    fn key(text: &str) -> ServerKey {
        ServerKey::of(&Message::parse_datagram(text.as_bytes(), &Limits::DEFAULT).unwrap()).unwrap()
    }

    const HDRS: &str =
        "From: <sip:a@x>;tag=f\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn ack_matches_invite_and_cancel_has_its_own_transaction() {
        let inv = key(&format!("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP H:5060;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n{HDRS}"));
        let ack = key(&format!("ACK sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\nCSeq: 1 ACK\r\n{HDRS}"));
        let can = key(&format!("CANCEL sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\nCSeq: 1 CANCEL\r\n{HDRS}"));
        assert_eq!(inv, ack, "sent-by host compared case-insensitively");
        assert_ne!(inv, can);
        assert_eq!(can.with_class(MethodClass::Invite), inv);
        let other = key(&format!("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h:5062;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n{HDRS}"));
        assert_ne!(
            inv, other,
            "same branch from another sent-by is another transaction"
        );
    }

    #[test]
    fn rfc2543_requests_match_by_call_id_cseq_and_top_via() {
        let inv = key(&format!(
            "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=old1\r\nCSeq: 7 INVITE\r\n{HDRS}"
        ));
        let ack = key(&format!(
            "ACK sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=old1\r\nCSeq: 7 ACK\r\n{HDRS}"
        ));
        let next = key(&format!(
            "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=old1\r\nCSeq: 8 INVITE\r\n{HDRS}"
        ));
        assert_eq!(inv, ack);
        assert_ne!(inv, next);
        assert!(matches!(inv, ServerKey::Legacy { .. }));
    }
}
