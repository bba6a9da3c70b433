//! Static routes (repro's Routes): Request-URI user matched by prefix or
//! regular expression, rewritten (strip, prepend) and sent to a configured
//! destination such as an internal PBX or a trunk.
//!
//! Static routes take precedence over the location service: a number that
//! matches a route is never looked up as a registered user. They apply to
//! initial requests for local domains only, after authentication; a route
//! with `callers: local` (the default) is skipped for callers that are neither
//! authenticated local users nor trusted sources.

use regex::Regex;

use super::config::{Callers, RouteConfig};
use super::error::{Error, RouteProblem};

#[derive(Debug, Clone)]
enum Matcher {
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Route {
    matcher: Matcher,
    domain: Option<String>,
    strip: usize,
    prepend: String,
    /// Destination split after the scheme: (`sip:`/`sips:`, rest).
    scheme: &'static str,
    rest: String,
    has_user: bool,
    callers: Callers,
}

/// The compiled routes, in the order they are tried.
#[derive(Debug, Clone, Default)]
pub(crate) struct StaticRoutes {
    routes: Vec<Route>,
}

/// Where a matching route sends the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteHit {
    /// The new Request-URI.
    pub(crate) request_uri: String,
    /// The configured destination (the next hop).
    pub(crate) destination: String,
}

/// Characters allowed in `prepend`: what may appear unescaped in a telephone-style user part.
fn prepend_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'*' | b'#' | b'-' | b'.' | b'_'))
}

impl StaticRoutes {
    pub(crate) fn compile(cfg: &[RouteConfig]) -> Result<StaticRoutes, Error> {
        let mut order: Vec<(usize, &RouteConfig)> = cfg.iter().enumerate().collect();
        order.sort_by_key(|(i, r)| (r.priority, *i));
        let mut routes = Vec::with_capacity(cfg.len());
        for (index, r) in order {
            let bad = |problem| Error::InvalidRoute { index, problem };
            let matcher = match (&r.user_prefix, &r.user_regex) {
                (Some(p), None) => Matcher::Prefix(p.clone()),
                (None, Some(re)) => {
                    Matcher::Regex(Regex::new(re).map_err(|_| bad(RouteProblem::Regex))?)
                }
                _ => return Err(bad(RouteProblem::Match)),
            };
            let dest = rtc_sip::SipUri::parse(r.destination.as_bytes())
                .map_err(|_| bad(RouteProblem::Destination))?;
            if !prepend_ok(&r.prepend) || !dest.headers_raw().is_empty() {
                return Err(bad(RouteProblem::Destination));
            }
            let (scheme, rest) = if dest.is_secure() {
                ("sips:", 5)
            } else {
                ("sip:", 4)
            };
            routes.push(Route {
                matcher,
                domain: r.domain.as_ref().map(|d| d.to_ascii_lowercase()),
                strip: r.strip,
                prepend: r.prepend.clone(),
                scheme,
                rest: r.destination.get(rest..).unwrap_or_default().to_owned(),
                has_user: dest.user().is_some(),
                callers: r.callers,
            });
        }
        Ok(StaticRoutes { routes })
    }

    /// The first route matching `user` (as written in the Request-URI) in
    /// `domain` (lower-case), for a caller that is local or not.
    pub(crate) fn lookup(&self, user: &str, domain: &str, local_caller: bool) -> Option<RouteHit> {
        self.routes.iter().find_map(|r| {
            if r.callers == Callers::Local && !local_caller {
                return None;
            }
            if r.domain.as_deref().is_some_and(|d| d != domain) {
                return None;
            }
            let hit = match &r.matcher {
                Matcher::Prefix(p) => user.starts_with(p.as_str()),
                Matcher::Regex(re) => re.is_match(user),
            };
            if !hit {
                return None;
            }
            let destination = format!("{}{}", r.scheme, r.rest);
            if r.has_user {
                return Some(RouteHit {
                    request_uri: destination.clone(),
                    destination,
                });
            }
            let kept = user.get(r.strip.min(user.len())..).unwrap_or_default();
            let new_user = format!("{}{}", r.prepend, kept);
            if new_user.is_empty() {
                return None;
            }
            Some(RouteHit {
                request_uri: format!("{}{}@{}", r.scheme, new_user, r.rest),
                destination,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(
        prefix: Option<&str>,
        regex: Option<&str>,
        strip: usize,
        prepend: &str,
        dest: &str,
        prio: i32,
    ) -> RouteConfig {
        RouteConfig {
            user_prefix: prefix.map(Into::into),
            user_regex: regex.map(Into::into),
            domain: None,
            strip,
            prepend: prepend.into(),
            destination: dest.into(),
            priority: prio,
            callers: Callers::Local,
        }
    }

    #[test]
    fn prefix_strip_and_prepend_rewrite_the_user() {
        let r = StaticRoutes::compile(&[route(
            Some("0"),
            None,
            1,
            "+33",
            "sip:trunk.example.net;transport=tls",
            0,
        )])
        .unwrap();
        let hit = r.lookup("0123456789", "falcot.com", true).unwrap();
        assert_eq!(
            hit.request_uri,
            "sip:+33123456789@trunk.example.net;transport=tls"
        );
        assert_eq!(hit.destination, "sip:trunk.example.net;transport=tls");
        assert_eq!(r.lookup("123", "falcot.com", true), None);
    }

    #[test]
    fn priority_orders_routes_and_regex_matches() {
        let r = StaticRoutes::compile(&[
            route(
                None,
                Some("^[0-9]{4}$"),
                0,
                "",
                "sip:pbx.falcot.com:5060;transport=tcp",
                5,
            ),
            route(Some("12"), None, 0, "", "sip:special@other.falcot.com", 1),
        ])
        .unwrap();
        assert_eq!(
            r.lookup("1234", "falcot.com", true).unwrap().request_uri,
            "sip:special@other.falcot.com"
        );
        assert_eq!(
            r.lookup("4321", "falcot.com", true).unwrap().request_uri,
            "sip:4321@pbx.falcot.com:5060;transport=tcp"
        );
        assert_eq!(r.lookup("43210", "falcot.com", true), None);
    }

    #[test]
    fn local_only_routes_are_skipped_for_outside_callers() {
        let mut c = route(Some("9"), None, 1, "", "sip:gw.falcot.com", 0);
        let r = StaticRoutes::compile(std::slice::from_ref(&c)).unwrap();
        assert_eq!(r.lookup("9555", "falcot.com", false), None);
        c.callers = Callers::Any;
        c.domain = Some("Falcot.com".into());
        let r = StaticRoutes::compile(&[c]).unwrap();
        assert!(r.lookup("9555", "falcot.com", false).is_some());
        assert_eq!(r.lookup("9555", "other.org", false), None);
    }

    #[test]
    fn bad_routes_are_refused_with_their_index() {
        let e = StaticRoutes::compile(&[
            route(Some("1"), None, 0, "", "sip:a", 0),
            route(None, Some("("), 0, "", "sip:a", 0),
        ]);
        assert!(matches!(
            e,
            Err(Error::InvalidRoute {
                index: 1,
                problem: RouteProblem::Regex
            })
        ));
        let e = StaticRoutes::compile(&[route(None, None, 0, "", "sip:a", 0)]);
        assert!(matches!(
            e,
            Err(Error::InvalidRoute {
                problem: RouteProblem::Match,
                ..
            })
        ));
        let e = StaticRoutes::compile(&[route(Some("1"), None, 0, "", "http://x", 0)]);
        assert!(matches!(
            e,
            Err(Error::InvalidRoute {
                problem: RouteProblem::Destination,
                ..
            })
        ));
        let e = StaticRoutes::compile(&[route(Some("1"), None, 0, "a@b", "sip:x", 0)]);
        assert!(matches!(
            e,
            Err(Error::InvalidRoute {
                problem: RouteProblem::Destination,
                ..
            })
        ));
    }
}
