//! Local domains and static routes stored in the database (`sipctl domain`,
//! `sipctl route`): read at start-up, on SIGHUP and every `db_poll_secs`,
//! and pushed to the cores only when they changed.

use rtc_userdb::{RouteEntry, RouteMatch, UserDb};

use crate::core::{Callers, RouteConfig};

/// What was last read from the database.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DbState {
    /// Local domains, lower-case and sorted.
    pub(crate) domains: Vec<String>,
    /// Static routes, in the order they are tried.
    pub(crate) routes: Vec<RouteEntry>,
}

impl DbState {
    /// Read both lists.
    pub(crate) async fn read(db: &UserDb) -> Result<Self, rtc_userdb::Error> {
        let store = db.sip();
        let mut domains: Vec<String> = store.domains().await?.iter().map(|d| d.to_ascii_lowercase()).collect();
        domains.sort();
        domains.dedup();
        Ok(Self { domains, routes: store.routes().await? })
    }
}

/// The stored routes as the core's route configuration. Routes the core
/// could not use (a regular expression that does not compile, a destination
/// that is not a SIP URI) are left out with a warning, so one bad row cannot
/// stop the others from applying.
pub(crate) fn db_routes(entries: &[RouteEntry]) -> Vec<RouteConfig> {
    let mut out = Vec::new();
    for e in entries {
        let r = &e.route;
        let (user_prefix, user_regex) = match r.kind {
            RouteMatch::Prefix => (Some(r.pattern.clone()), None),
            RouteMatch::Regex => (None, Some(r.pattern.clone())),
        };
        if let Some(re) = &user_regex {
            if regex::Regex::new(re).is_err() {
                tracing::warn!(id = e.id, "static route ignored: its regular expression does not compile");
                continue;
            }
        }
        let d = r.destination.to_ascii_lowercase();
        if !(d.starts_with("sip:") || d.starts_with("sips:")) || rtc_sip::Uri::parse(r.destination.as_bytes()).is_err() {
            tracing::warn!(id = e.id, "static route ignored: its destination is not a sip: or sips: URI");
            continue;
        }
        out.push(RouteConfig {
            user_prefix,
            user_regex,
            domain: None,
            strip: usize::from(r.strip),
            prepend: r.prefix.clone(),
            destination: r.destination.clone(),
            priority: r.priority,
            callers: Callers::Local,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_userdb::StaticRoute;

    fn entry(id: i64, kind: RouteMatch, pattern: &str, destination: &str) -> RouteEntry {
        RouteEntry {
            id,
            route: StaticRoute {
                priority: 5,
                kind,
                pattern: pattern.into(),
                strip: 1,
                prefix: "+33".into(),
                destination: destination.into(),
                description: String::new(),
            },
        }
    }

    #[test]
    fn stored_routes_become_core_routes_and_bad_rows_are_skipped() {
        let got = db_routes(&[
            entry(1, RouteMatch::Prefix, "0", "sip:trunk.example.net"),
            entry(2, RouteMatch::Regex, "(", "sip:x"),
            entry(3, RouteMatch::Regex, "^1[0-9]{3}$", "sip:pbx.falcot.com;transport=tcp"),
            entry(4, RouteMatch::Prefix, "9", "mailto:x@y"),
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].user_prefix.as_deref(), Some("0"));
        assert_eq!((got[0].strip, got[0].prepend.as_str(), got[0].priority), (1, "+33", 5));
        assert_eq!(got[0].callers, Callers::Local);
        assert_eq!(got[1].user_regex.as_deref(), Some("^1[0-9]{3}$"));
        assert_eq!(got[1].destination, "sip:pbx.falcot.com;transport=tcp");
    }
}
