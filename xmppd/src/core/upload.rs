//! XEP-0363 HTTP File Upload as the component `upload.<domain>`: slot
//! requests (`urn:xmpp:http:upload:0`) are answered with a PUT and a GET
//! URL. The PUT URL carries an HMAC token over the slot, the file name, the
//! size and an expiry, which the web listener checks before storing the
//! file (`shell/http/upload.rs`): no state is kept here.
//!
//! URL layout: `{public_url}/upload/{owner}/{slot}/{file}` where `owner` is
//! an opaque HMAC of the user's bare JID (the per-user quota directory),
//! `slot` is random, and the PUT URL adds `?v={size}.{expires}.{mac}`.

use hmac::{Hmac, Mac};
use rtc_xmlstream::Element;
use serde::Deserialize;
use sha2::Sha256;

use super::error::{StanzaCondition, StanzaError};
use super::features::disco;
use super::jid::Jid;
use super::server::Server;
use super::stanza::{self, IqType, Kind};

/// XEP-0363 namespace.
pub(crate) const NS: &str = "urn:xmpp:http:upload:0";
/// Longest accepted file name, in bytes.
const MAX_FILENAME_BYTES: usize = 255;
/// Seconds a PUT URL stays valid.
pub const PUT_VALID_SECS: u64 = 300;

/// `upload:` in the configuration. Off by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Serve `upload.<domain>` for every host. Needs an `https` or `http`
    /// listener. Default: false.
    pub enabled: bool,
    /// Base URL of the web listener as clients reach it; `{domain}` is
    /// replaced by the host. Default: `https://{domain}:5281`.
    pub public_url: String,
    /// Largest file accepted (XEP-0363 `max-file-size`). Default: 10 MiB.
    pub max_file_bytes: u64,
    /// Bytes one user may keep stored (checked at PUT time). Default: 100 MiB.
    pub quota_bytes: u64,
    /// Seconds a file is kept after upload. Default: 604800 (one week).
    pub expiry_seconds: u64,
    /// Directory for the files. Default: `/var/lib/xmppd/upload`.
    pub directory: std::path::PathBuf,
    /// HMAC key for the URLs; empty: a random one per daemon run.
    pub secret: String,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            public_url: "https://{domain}:5281".into(),
            max_file_bytes: 10 * 1024 * 1024,
            quota_bytes: 100 * 1024 * 1024,
            expiry_seconds: 7 * 86_400,
            directory: "/var/lib/xmppd/upload".into(),
            secret: String::new(),
        }
    }
}

/// HMAC-SHA256 of `parts` joined by newlines, hex.
pub fn mac_hex(secret: &[u8], parts: &[&str]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(p.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The quota directory name of `user` (a bare JID).
pub fn owner_key(secret: &[u8], user: &str) -> String {
    let mut k = mac_hex(secret, &["owner", user]);
    k.truncate(24);
    k
}

/// The token checked by the PUT handler for `path` (`owner/slot/file`).
pub fn put_token(secret: &[u8], path: &str, size: u64, expires: u64) -> String {
    let (s, e) = (size.to_string(), expires.to_string());
    format!(
        "{size}.{expires}.{}",
        mac_hex(secret, &["put", path, &s, &e])
    )
}

/// Whether `name` is a file name we store as is (one path component).
pub fn valid_filename(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILENAME_BYTES
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Percent-encode a path component (RFC 3986 unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Server {
    /// If `domain` is `upload.<hosted domain>` and uploads are on, that host.
    pub(crate) fn upload_host(&self, domain: &str) -> Option<String> {
        if !self.config.upload.enabled {
            return None;
        }
        let host = domain.strip_prefix("upload.")?;
        self.is_local_domain(host).then(|| host.to_owned())
    }

    /// A stanza for the upload component.
    pub(crate) fn upload_stanza(&mut self, e: Element, host: &str) {
        if Kind::of(&e) != Some(Kind::Iq) || !IqType::of(&e).is_some_and(IqType::is_request) {
            return;
        }
        let result = self.upload_answer(&e, host);
        match result {
            Ok(payload) => self.route_to_attr(stanza::iq_result_with(&e, payload)),
            Err(err) => self.bounce(&e, err),
        }
    }

    fn upload_answer(&mut self, e: &Element, host: &str) -> Result<Element, StanzaError> {
        let p = stanza::iq_payload(e).ok_or(StanzaError::new(StanzaCondition::BadRequest))?;
        let get = IqType::of(e) == Some(IqType::Get);
        let max = self.config.upload.max_file_bytes;
        match (p.ns(), p.name()) {
            (disco::NS_INFO, "query") if get => Ok(upload_info(max)),
            (disco::NS_ITEMS, "query") if get => Ok(Element::new("query", disco::NS_ITEMS)),
            (NS, "request") if get => {
                let from =
                    stanza::from_jid(e).ok_or(StanzaError::new(StanzaCondition::BadRequest))?;
                // Only this server's own users may upload.
                if !self.is_local_domain(from.domain()) || from.node().is_none() {
                    return Err(StanzaError::new(StanzaCondition::Forbidden));
                }
                self.slot(p, &from, host)
            }
            _ => Err(StanzaError::new(StanzaCondition::ServiceUnavailable)),
        }
    }

    /// XEP-0363 §4: grant a slot, or refuse it (§4.2 file-too-large).
    fn slot(&mut self, req: &Element, from: &Jid, host: &str) -> Result<Element, StanzaError> {
        let c = &self.config.upload;
        let filename = req.attribute("filename").unwrap_or_default().to_owned();
        let size: u64 = req
            .attribute("size")
            .and_then(|s| s.parse().ok())
            .ok_or(StanzaError::new(StanzaCondition::BadRequest))?;
        if !valid_filename(&filename) {
            return Err(StanzaError::new(StanzaCondition::BadRequest));
        }
        if size > c.max_file_bytes {
            let app = Element::new("file-too-large", NS)
                .child(Element::new("max-file-size", NS).text(c.max_file_bytes.to_string()));
            return Err(StanzaError::new(StanzaCondition::NotAcceptable).with_app(app));
        }
        let secret = c.secret.clone().into_bytes();
        let base = c.public_url.replace("{domain}", host);
        let base = base.trim_end_matches('/');
        let owner = owner_key(&secret, &from.bare().to_string());
        let slot = self.random_token(24);
        let path = format!("{owner}/{slot}/{}", percent_encode(&filename));
        let expires = self
            .clock
            .unix(self.now)
            .as_secs()
            .saturating_add(PUT_VALID_SECS);
        let token = put_token(&secret, &path, size, expires);
        let mut put =
            Element::new("put", NS).attr("url", format!("{base}/upload/{path}?v={token}"));
        if let Some(ct) = req
            .attribute("content-type")
            .filter(|ct| is_header_safe(ct))
        {
            put.push_child(
                Element::new("header", NS)
                    .attr("name", "Content-Type")
                    .text(ct),
            );
        }
        let get = Element::new("get", NS).attr("url", format!("{base}/upload/{path}"));
        Ok(Element::new("slot", NS).child(put).child(get))
    }
}

fn is_header_safe(v: &str) -> bool {
    v.len() <= 255 && v.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// disco#info of the component (XEP-0363 §3): identity, feature, and the
/// size limit as a XEP-0128 form.
fn upload_info(max: u64) -> Element {
    const DATA: &str = "jabber:x:data";
    let form = Element::new("x", DATA)
        .attr("type", "result")
        .child(
            Element::new("field", DATA)
                .attr("var", "FORM_TYPE")
                .attr("type", "hidden")
                .child(Element::new("value", DATA).text(NS)),
        )
        .child(
            Element::new("field", DATA)
                .attr("var", "max-file-size")
                .child(Element::new("value", DATA).text(max.to_string())),
        );
    Element::new("query", disco::NS_INFO)
        .child(
            Element::new("identity", disco::NS_INFO)
                .attr("category", "store")
                .attr("type", "file")
                .attr("name", "HTTP File Upload"),
        )
        .child(Element::new("feature", disco::NS_INFO).attr("var", disco::NS_INFO))
        .child(Element::new("feature", disco::NS_INFO).attr("var", NS))
        .child(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_that_escape_the_slot_directory_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a\nb"] {
            assert!(!valid_filename(bad), "{bad:?}");
        }
        assert!(valid_filename("photo 1.jpg"));
        assert!(!valid_filename(&"x".repeat(256)));
    }

    #[test]
    fn put_token_depends_on_every_part() {
        let t = put_token(b"k", "o/s/f", 10, 99);
        assert!(t.starts_with("10.99."));
        assert_ne!(t, put_token(b"k", "o/s/g", 10, 99));
        assert_ne!(t, put_token(b"k", "o/s/f", 11, 99));
        assert_ne!(t, put_token(b"j", "o/s/f", 10, 99));
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(percent_encode("a b/é.txt"), "a%20b%2F%C3%A9.txt");
    }
}
