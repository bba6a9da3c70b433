//! vcard-temp (XEP-0054): get and set one's own vCard, get other users';
//! the photo hash (XEP-0153) is computed on set and added to presence.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rtc_xmlstream::Element;
use sha1::{Digest, Sha1};

use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::jid::Jid;
use crate::core::pending::{AfterWrite, IqReply, Pending};
use crate::core::server::Server;
use crate::core::sm::Origin;
use crate::core::stanza;
use crate::core::storage::StorageRequest;
use crate::core::types::SessionId;

/// XEP-0054 namespace.
pub(crate) const NS: &str = "vcard-temp";
/// XEP-0153 presence element namespace.
pub(crate) const NS_UPDATE: &str = "vcard-temp:x:update";

/// Hex SHA-1 of the decoded `PHOTO/BINVAL` (XEP-0153 §4.1).
pub(crate) fn photo_hash(vcard: &Element) -> Option<String> {
    let binval = vcard.find_child("PHOTO", NS)?.child_text("BINVAL", NS)?;
    let compact: String = binval.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let data = B64.decode(compact).ok()?;
    Some(Sha1::digest(&data).iter().map(|b| format!("{b:02x}")).collect())
}

/// Add `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>` unless the
/// client already said something about its avatar.
pub(crate) fn add_avatar(presence: &mut Element, hash: &str) {
    if presence.find_child("x", NS_UPDATE).is_none() {
        presence.push_child(
            Element::new("x", NS_UPDATE).child(Element::new("photo", NS_UPDATE).text(hash)),
        );
    }
}

impl Server {
    /// The user's own vCard.
    pub(crate) fn vcard_own(&mut self, sid: SessionId, e: Element, get: bool, origin: Option<Origin>) {
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        if get {
            return self.load_vcard(sid, e, user);
        }
        let Some(vcard) = stanza::iq_payload(&e).cloned() else {
            return;
        };
        let avatar_hash = photo_hash(&vcard);
        if let Some(a) = self.account_mut(&user) {
            a.avatar_hash = avatar_hash.clone();
        }
        let request = StorageRequest::SaveVcard {
            user: user.clone(),
            vcard,
            avatar_hash,
        };
        self.write(&user, request, AfterWrite::Reply(IqReply { sid, iq: e }, None), origin);
    }

    /// Another local user's vCard, answered on their behalf.
    pub(crate) fn vcard_other(&mut self, e: Element, owner: Jid) {
        let requester = stanza::from_jid(&e).and_then(|f| self.session_by_jid(&f));
        if let Some(sid) = requester {
            self.load_vcard(sid, e, owner.bare());
        }
    }

    fn load_vcard(&mut self, sid: SessionId, e: Element, user: Jid) {
        if !self.request_slot(sid) {
            let err = StanzaError::new(StanzaCondition::ResourceConstraint);
            return self.reply_error_to(sid, &e, err);
        }
        let pending = Pending::Element {
            reply: IqReply { sid, iq: e },
            wrapper: None,
            empty: Element::new("vCard", NS),
        };
        self.request(StorageRequest::LoadVcard { user }, pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_hash_is_sha1_of_the_decoded_binval() {
        let v = Element::new("vCard", NS).child(
            Element::new("PHOTO", NS)
                .child(Element::new("TYPE", NS).text("image/png"))
                .child(Element::new("BINVAL", NS).text("YWJj\n")),
        );
        // SHA-1("abc")
        assert_eq!(
            photo_hash(&v).as_deref(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(photo_hash(&Element::new("vCard", NS)), None);
    }
}
