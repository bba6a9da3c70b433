//! Server-name normalisation and the SNI lookup table. No I/O.
//!
//! Matching follows RFC 6125 section 6.4.3 in its common restricted form: a
//! wildcard is only the whole left-most label (`*.example.com`) and matches
//! exactly one label, so it covers `a.example.com` but neither `example.com`
//! nor `a.b.example.com`.

use std::collections::HashMap;

/// Longest DNS name, in octets, without the trailing dot (RFC 1035 section 2.3.4).
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035 section 2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Lower-case a host name or `*.` wildcard and drop a trailing dot.
///
/// Returns `None` when the input is not a plausible host name.
pub fn normalize(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let host = name.strip_prefix("*.").unwrap_or(&name);
    if host.is_empty() || host.len() > MAX_NAME_LEN {
        return None;
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    labels_ok.then_some(name)
}

/// Whether `pattern` (exact or `*.domain`, already normalised) covers `name`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let Some(name) = normalize(name) else {
        return false;
    };
    match pattern.strip_prefix("*.") {
        Some(parent) => name
            .split_once('.')
            .is_some_and(|(first, rest)| first != "*" && rest == parent),
        None => pattern == name,
    }
}

/// Maps server names to an index into a list of certificates.
///
/// The first entry to claim a name keeps it. Lookups try the exact name, then a
/// wildcard for its parent domain, then fall back to entry 0.
#[derive(Debug, Default, Clone)]
pub(crate) struct NameTable {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    len: usize,
}

impl NameTable {
    /// Register the names of the entry at `index` (names already normalised).
    pub(crate) fn insert(&mut self, index: usize, names: &[String]) {
        for name in names {
            match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_owned()).or_insert(index),
                None => self.exact.entry(name.clone()).or_insert(index),
            };
        }
        self.len = self.len.max(index + 1);
    }

    /// The entry that covers `name`, if any.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        let name = normalize(name)?;
        if name.starts_with("*.") {
            return None;
        }
        if let Some(&i) = self.exact.get(&name) {
            return Some(i);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).copied()
    }

    /// The entry to serve for an optional SNI value: a match, else the default (0).
    pub(crate) fn select(&self, sni: Option<&str>) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        Some(sni.and_then(|n| self.find(n)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> NameTable {
        let mut t = NameTable::default();
        t.insert(0, &["a.example".into()]);
        t.insert(1, &["b.example".into(), "*.b.example".into()]);
        t.insert(2, &["a.example".into(), "c.example".into()]);
        t
    }

    #[test]
    fn exact_name_selects_its_certificate() {
        assert_eq!(table().select(Some("b.example")), Some(1));
        assert_eq!(table().select(Some("C.Example.")), Some(2));
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let t = table();
        assert_eq!(t.find("x.b.example"), Some(1));
        assert_eq!(t.find("x.y.b.example"), None);
        assert_eq!(t.find("*.b.example"), None);
    }

    #[test]
    fn first_certificate_claiming_a_name_wins() {
        assert_eq!(table().select(Some("a.example")), Some(0));
    }

    #[test]
    fn absent_or_unknown_sni_falls_back_to_the_first_certificate() {
        let t = table();
        assert_eq!(t.select(None), Some(0));
        assert_eq!(t.select(Some("unknown.example")), Some(0));
        assert_eq!(t.select(Some("not a name")), Some(0));
        assert_eq!(NameTable::default().select(None), None);
    }

    #[test]
    fn normalize_rejects_non_host_names() {
        assert_eq!(normalize("Example.COM."), Some("example.com".into()));
        assert_eq!(normalize("*.example.com"), Some("*.example.com".into()));
        for bad in [
            "",
            ".",
            "a..b",
            "a b",
            "foo.*.com",
            "*",
            "*.",
            &"a".repeat(64),
            "ex\u{e9}.com",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pattern_matching_mirrors_the_table() {
        assert!(matches("*.example.com", "www.EXAMPLE.com"));
        assert!(!matches("*.example.com", "example.com"));
        assert!(!matches("*.example.com", "a.www.example.com"));
        assert!(matches("example.com", "example.com."));
        assert!(!matches("example.com", "www.example.com"));
    }
}
