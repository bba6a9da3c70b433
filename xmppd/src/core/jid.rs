//! JIDs (RFC 7622): parsing, validation and the bare/full distinction.
//!
//! Validation is deliberately conservative rather than full PRECIS: parts
//! are length-checked (1..=1023 bytes, RFC 7622 §3.2-§3.4), characters that
//! RFC 7622 forbids or that break addressing are refused, and the localpart
//! and domainpart are case-folded with Unicode lowercasing. Unicode
//! normalisation (NFC) is not applied; such JIDs are simply compared as given.

use std::fmt;

/// Longest localpart, domainpart or resourcepart, in bytes (RFC 7622 §3.1).
pub const MAX_PART_BYTES: usize = 1023;

/// A parsed, validated JID (RFC 7622 §3): `[localpart@]domainpart[/resourcepart]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    node: Option<String>,
    domain: String,
    resource: Option<String>,
}

/// Why a string is not a valid JID (maps to the `jid-malformed` stanza error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidError {
    /// A part is empty where one is required or present (RFC 7622 §3.1).
    #[error("empty JID part")]
    EmptyPart,
    /// A part is longer than 1023 bytes (RFC 7622 §3.1).
    #[error("JID part longer than 1023 bytes")]
    TooLong,
    /// A part contains a character RFC 7622 forbids there.
    #[error("forbidden character in JID")]
    ForbiddenChar,
}

impl Jid {
    /// Parse and validate a JID string.
    pub fn parse(s: &str) -> Result<Self, JidError> {
        let (rest, resource) = match s.split_once('/') {
            Some((rest, res)) => (rest, Some(res)),
            None => (s, None),
        };
        let (node, domain) = match rest.split_once('@') {
            Some((node, domain)) => (Some(node), domain),
            None => (None, rest),
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let domain = check_domain(domain)?;
        let node = node.map(check_node).transpose()?;
        let resource = resource.map(check_resource).transpose()?;
        Ok(Self {
            node,
            domain,
            resource,
        })
    }

    /// A bare JID `node@domain` from already validated parts.
    pub fn bare_from(node: &str, domain: &str) -> Result<Self, JidError> {
        Ok(Self {
            node: Some(check_node(node)?),
            domain: check_domain(domain)?,
            resource: None,
        })
    }

    /// A domain-only JID.
    pub fn domain_only(domain: &str) -> Result<Self, JidError> {
        Ok(Self {
            node: None,
            domain: check_domain(domain)?,
            resource: None,
        })
    }

    /// This JID with the given resourcepart.
    pub fn with_resource(&self, resource: &str) -> Result<Self, JidError> {
        Ok(Self {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: Some(check_resource(resource)?),
        })
    }

    /// The localpart, if any (RFC 7622 §3.3).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The domainpart (RFC 7622 §3.2).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The resourcepart, if any (RFC 7622 §3.4).
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// Whether there is no resourcepart.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// The JID without its resourcepart.
    pub fn bare(&self) -> Jid {
        Jid {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// The domain-only JID of this JID's domain.
    pub fn domain_jid(&self) -> Jid {
        Jid {
            node: None,
            domain: self.domain.clone(),
            resource: None,
        }
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = &self.node {
            write!(f, "{node}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(res) = &self.resource {
            write!(f, "/{res}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn check_len(s: &str) -> Result<(), JidError> {
    if s.is_empty() {
        return Err(JidError::EmptyPart);
    }
    if s.len() > MAX_PART_BYTES {
        return Err(JidError::TooLong);
    }
    Ok(())
}

/// RFC 7622 §3.3.1: the localpart excludes `"&'/:<>@`, spaces and controls.
fn check_node(s: &str) -> Result<String, JidError> {
    check_len(s)?;
    if s
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"&'/:<>@".contains(c))
    {
        return Err(JidError::ForbiddenChar);
    }
    Ok(s.to_lowercase())
}

/// RFC 7622 §3.2: a host name, IPv4 address or bracketed IPv6 address.
fn check_domain(s: &str) -> Result<String, JidError> {
    check_len(s)?;
    if s.starts_with('[') {
        let inner = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or(JidError::ForbiddenChar)?;
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(s.to_ascii_lowercase()),
            Err(_) => Err(JidError::ForbiddenChar),
        };
    }
    if s.starts_with('.')
        || s.contains("..")
        || s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"&'/:<>@[]\\".contains(c))
    {
        return Err(JidError::ForbiddenChar);
    }
    Ok(s.to_lowercase())
}

/// RFC 7622 §3.4: any printable characters; kept as given (no case folding).
fn check_resource(s: &str) -> Result<String, JidError> {
    check_len(s)?;
    if s.chars().any(char::is_control) {
        return Err(JidError::ForbiddenChar);
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parts_are_split_at_the_first_separators() {
        let j = Jid::parse("Juliet@Example.COM/balcony/a@b").unwrap();
        assert_eq!(j.node(), Some("juliet"));
        assert_eq!(j.domain(), "example.com");
        assert_eq!(j.resource(), Some("balcony/a@b"));
        assert_eq!(j.to_string(), "juliet@example.com/balcony/a@b");
        assert_eq!(j.bare().to_string(), "juliet@example.com");
    }

    #[test]
    fn domain_only_and_trailing_dot() {
        let j = Jid::parse("example.com.").unwrap();
        assert!(j.node().is_none() && j.is_bare());
        assert_eq!(j.to_string(), "example.com");
        assert!(Jid::parse("[::1]").is_ok());
    }

    #[test]
    fn malformed_jids_are_refused() {
        for bad in [
            "",
            "@example.com",
            "juliet@",
            "juliet@example.com/",
            "ju liet@example.com",
            "ju<liet@example.com",
            "example..com",
            "exa mple.com",
            "[not-v6]",
            "a@b@c",
        ] {
            assert!(Jid::parse(bad).is_err(), "{bad:?}");
        }
        let long = "a".repeat(1024);
        assert_eq!(
            Jid::parse(&format!("{long}@example.com")),
            Err(JidError::TooLong)
        );
    }
}
