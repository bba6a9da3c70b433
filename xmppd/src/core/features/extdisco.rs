//! XEP-0215 External Service Discovery (`urn:xmpp:extdisco:2`): the site's
//! STUN/TURN servers, with TURN credentials minted by the "TURN REST API"
//! scheme that turnd (`auth.rest.static_secrets`) and coturn
//! (`static-auth-secret`) accept: username `<unix-expiry>:<bare JID>`,
//! password base64(HMAC-SHA1(secret, username)).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rtc_xmlstream::Element;
use serde::Deserialize;
use sha1::Sha1;

use crate::core::error::{StanzaCondition, StanzaError};

/// The namespace (XEP-0215 §2).
pub(crate) const NS: &str = "urn:xmpp:extdisco:2";

/// The kind of an external service (XEP-0215 §4 `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    /// STUN (RFC 8489): no credentials.
    Stun,
    /// TURN (RFC 8656) over UDP or TCP.
    Turn,
    /// TURN over TLS.
    Turns,
}

impl ServiceType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stun => "stun",
            Self::Turn => "turn",
            Self::Turns => "turns",
        }
    }
}

/// One advertised service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtService {
    /// `stun`, `turn` or `turns`.
    #[serde(rename = "type")]
    pub kind: ServiceType,
    /// Host name or address clients connect to.
    pub host: String,
    /// Port (3478 for STUN/TURN, 5349 for TURNS by convention).
    pub port: u16,
    /// `udp` or `tcp`; omitted when unset.
    #[serde(default)]
    pub transport: Option<String>,
}

/// `extdisco:` in the configuration. Off (no services) by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtDiscoConfig {
    /// The services answered to `<services/>` queries.
    pub services: Vec<ExtService>,
    /// The secret shared with turnd (`auth.rest.static_secrets`). Without
    /// it TURN services are listed without credentials.
    pub secret: Option<String>,
    /// A file holding the secret (first line), read when the configuration
    /// is loaded; preferred over `secret` so the YAML can be world-readable.
    pub secret_file: Option<std::path::PathBuf>,
    /// Seconds the minted credentials are valid. Default: 86400.
    pub ttl_seconds: u64,
}

impl Default for ExtDiscoConfig {
    fn default() -> Self {
        Self {
            services: Vec::new(),
            secret: None,
            secret_file: None,
            ttl_seconds: 86_400,
        }
    }
}

impl ExtDiscoConfig {
    /// Whether the feature is advertised and answered.
    pub(crate) fn enabled(&self) -> bool {
        !self.services.is_empty()
    }
}

/// The TURN REST credentials for `user` expiring at `expiry` (Unix seconds).
pub fn rest_credentials(secret: &str, user: &str, expiry: u64) -> (String, String) {
    let username = format!("{expiry}:{user}");
    let password = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    (username, password)
}

/// The answer to `<services/>` (XEP-0215 §3.1, optionally filtered by
/// `type`) or `<credentials/>` (§3.3: the `<service/>` named by host and type).
pub(crate) fn answer(
    config: &ExtDiscoConfig,
    request: &Element,
    user: &str,
    unix_now: u64,
) -> Result<Element, StanzaError> {
    let expiry = unix_now.saturating_add(config.ttl_seconds);
    let render = |s: &ExtService| {
        let mut e = Element::new("service", NS)
            .attr("type", s.kind.as_str())
            .attr("host", s.host.clone())
            .attr("port", s.port.to_string());
        if let Some(t) = &s.transport {
            e.set_attr("transport", t.clone());
        }
        if let (ServiceType::Turn | ServiceType::Turns, Some(secret)) = (s.kind, &config.secret) {
            let (username, password) = rest_credentials(secret, user, expiry);
            e.set_attr("username", username);
            e.set_attr("password", password);
            e.set_attr("expires", crate::core::format_datetime(expiry));
            e.set_attr("restricted", "1");
        }
        e
    };
    match request.name() {
        "services" => {
            let filter = request.attribute("type");
            let mut out = Element::new("services", NS);
            if let Some(t) = filter {
                out.set_attr("type", t);
            }
            for s in config
                .services
                .iter()
                .filter(|s| filter.is_none_or(|t| t == s.kind.as_str()))
            {
                out.push_child(render(s));
            }
            Ok(out)
        }
        "credentials" => {
            let wanted = request
                .find_child("service", NS)
                .ok_or(StanzaError::new(StanzaCondition::BadRequest))?;
            let host = wanted.attribute("host");
            let kind = wanted.attribute("type");
            let found = config
                .services
                .iter()
                .filter(|s| s.kind != ServiceType::Stun)
                .find(|s| {
                    host.is_none_or(|h| h == s.host) && kind.is_none_or(|k| k == s.kind.as_str())
                })
                .ok_or(StanzaError::new(StanzaCondition::ItemNotFound))?;
            Ok(Element::new("credentials", NS).child(render(found)))
        }
        _ => Err(StanzaError::new(StanzaCondition::BadRequest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ExtDiscoConfig {
        ExtDiscoConfig {
            services: vec![
                ExtService {
                    kind: ServiceType::Stun,
                    host: "turn.example".into(),
                    port: 3478,
                    transport: Some("udp".into()),
                },
                ExtService {
                    kind: ServiceType::Turn,
                    host: "turn.example".into(),
                    port: 3478,
                    transport: Some("udp".into()),
                },
            ],
            secret: Some("s3cret".into()),
            ..ExtDiscoConfig::default()
        }
    }

    #[test]
    fn rest_password_is_base64_hmac_sha1_of_username() {
        // Value computed with: printf '%s' '1700000000:alice@example.org' | openssl dgst -sha1 -hmac s3cret -binary | base64
        let (u, p) = rest_credentials("s3cret", "alice@example.org", 1_700_000_000);
        assert_eq!(u, "1700000000:alice@example.org");
        assert_eq!(p, "DTKvmY+vZ0UPwC3r7FrA5q50qEI=");
    }

    #[test]
    fn services_list_gives_turn_credentials_but_not_stun() {
        let req = Element::new("services", NS);
        let out = answer(&config(), &req, "alice@example.org", 100).unwrap();
        let services: Vec<_> = out.children().collect();
        assert_eq!(services.len(), 2);
        assert!(services[0].attribute("username").is_none());
        assert_eq!(
            services[1].attribute("username"),
            Some("86500:alice@example.org")
        );
        assert!(services[1].attribute("password").is_some());
    }

    #[test]
    fn services_filtered_by_type() {
        let req = Element::new("services", NS).attr("type", "stun");
        let out = answer(&config(), &req, "a@b", 0).unwrap();
        assert_eq!(out.children().count(), 1);
    }

    #[test]
    fn credentials_for_unknown_host_is_item_not_found() {
        let req = Element::new("credentials", NS).child(
            Element::new("service", NS)
                .attr("host", "other")
                .attr("type", "turn"),
        );
        assert!(answer(&config(), &req, "a@b", 0).is_err());
        let ok = Element::new("credentials", NS).child(
            Element::new("service", NS)
                .attr("host", "turn.example")
                .attr("type", "turn"),
        );
        assert!(answer(&config(), &ok, "a@b", 0).is_ok());
    }
}
