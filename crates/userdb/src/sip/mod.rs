//! SIP storage for `sipd` and `sipctl`: local domains, digest subscribers,
//! registrations (the location service) and static routes.
//!
//! Tables (same logical schema on both backends, see `schema.rs`):
//! * `sip_domain(domain)`: the domains this proxy is responsible for.
//! * `sip_subscriber(domain, username, ha1, ha1b, ha1_sha256, ...)`,
//!   primary key (domain, username): the digest lookup is one primary-key
//!   read. The realm is the domain. No password column.
//! * `sip_location(aor, binding_key, contact, ...)`: one row per binding,
//!   see [`Binding`]. Registrations survive a restart or `kill -9`, and
//!   several `sipd` nodes sharing a MySQL/MariaDB server see each other's.
//! * `sip_route(id, priority, match_kind, pattern, ...)`: static routes.
//!
//! Domains, usernames and addresses of record compare as exact bytes;
//! `sipd` and `sipctl` lowercase host names before calling in.
//!
//! # Durability of registrations
//!
//! [`SipStore::save_bindings`] returns only after its transaction has
//! committed (SQLite: fsynced to the WAL; MySQL: InnoDB commit), and `sipd`
//! sends the 200 OK only after it returns, so there is no write-back window
//! as with kamailio's `db_mode=2`: an acknowledged registration is never
//! lost. The price is that a REGISTER waits for the write: normally well
//! under a millisecond to a few milliseconds (one fsync), but up to the
//! SQLite `busy_timeout_ms` (default 5 s) when another process holds the
//! write lock, or up to InnoDB's `innodb_lock_wait_timeout` when another
//! node is changing the same address of record. Past that the call fails
//! and nothing was changed.

mod batch;
mod binding;
mod listing;
mod location;
mod schema;

use std::sync::Arc;

use crate::backend::Backend;
use crate::credentials::SipDigests;
use crate::error::{Entity, Error, Result};
use crate::sql::{
    check_name, check_password, check_text, expect_some_rows, unix_now, Exec, Row, Sql, Value,
};

pub use batch::{LocationBatch, SipOp, SipOpResult};
pub use binding::{Binding, BindingChange, BindingKey, MAX_URI_LEN};
pub use listing::{AorPage, BindingCursor, BindingPage, BindingScan, LocationEntry, OnlineScan};
pub use location::MAX_CHANGES_PER_SAVE;
pub(crate) use schema::SIP_2_REGISTRAR;

const DOMAIN_INSERT: Sql = Sql::both("INSERT INTO sip_domain (domain, created_at) VALUES (?, ?)");
const DOMAIN_DELETE: Sql = Sql::both("DELETE FROM sip_domain WHERE domain = ?");
const DOMAIN_LIST: Sql = Sql::both("SELECT domain FROM sip_domain ORDER BY domain");
const DOMAIN_EXISTS: Sql = Sql::both("SELECT 1 FROM sip_domain WHERE domain = ?");

const SUB_INSERT: Sql = Sql::both(
    "INSERT INTO sip_subscriber \
     (ha1, ha1b, ha1_sha256, updated_at, domain, username, created_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?)",
);
const SUB_UPDATE: Sql = Sql::both(
    "UPDATE sip_subscriber SET ha1 = ?, ha1b = ?, ha1_sha256 = ?, updated_at = ? \
     WHERE domain = ? AND username = ?",
);
const SUB_DELETE: Sql = Sql::both("DELETE FROM sip_subscriber WHERE domain = ? AND username = ?");
pub(super) const SUB_DIGESTS: Sql =
    Sql::both("SELECT ha1, ha1b, ha1_sha256 FROM sip_subscriber WHERE domain = ? AND username = ?");
const SUB_LIST: Sql =
    Sql::both("SELECT domain, username FROM sip_subscriber ORDER BY domain, username");
const SUB_LIST_DOMAIN: Sql =
    Sql::both("SELECT domain, username FROM sip_subscriber WHERE domain = ? ORDER BY username");

const ROUTE_INSERT: Sql = Sql::both(
    "INSERT INTO sip_route (priority, match_kind, pattern, strip, prefix, destination, \
     description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
);
const ROUTE_DELETE: Sql = Sql::both("DELETE FROM sip_route WHERE id = ?");
const ROUTE_LIST: Sql = Sql::both(
    "SELECT id, priority, match_kind, pattern, strip, prefix, destination, description \
     FROM sip_route ORDER BY priority, id",
);

const COUNTS: Sql = Sql::both(
    "SELECT (SELECT COUNT(*) FROM sip_domain), (SELECT COUNT(*) FROM sip_subscriber), \
     (SELECT COUNT(*) FROM sip_route), \
     (SELECT COUNT(*) FROM sip_location WHERE expires > ?), \
     (SELECT COUNT(DISTINCT aor) FROM sip_location WHERE expires > ?)",
);

/// A SIP digest subscriber (kamailio's `subscriber` row, minus secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipSubscriber {
    /// The domain, which is also the digest realm.
    pub domain: String,
    /// User part of the address of record.
    pub username: String,
}

/// How a static route's pattern is matched against the Request-URI user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMatch {
    /// The user part starts with the pattern.
    Prefix,
    /// The user part matches the pattern as a regular expression (compiled
    /// and validated by `sipd`; stored here as text).
    Regex,
}

impl RouteMatch {
    fn as_str(self) -> &'static str {
        match self {
            RouteMatch::Prefix => "prefix",
            RouteMatch::Regex => "regex",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "prefix" => Ok(RouteMatch::Prefix),
            "regex" => Ok(RouteMatch::Regex),
            _ => Err(Error::Corrupt("unknown route match kind")),
        }
    }
}

/// A static route (`sipctl route add`): requests whose user part matches
/// go to `destination`, after removing `strip` leading characters and then
/// prepending `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// Routes are tried in ascending priority, then in order of creation.
    pub priority: i32,
    /// How `pattern` is matched.
    pub kind: RouteMatch,
    /// A prefix or a regular expression, at most 255 bytes.
    pub pattern: String,
    /// Leading characters of the user part to remove.
    pub strip: u8,
    /// Prepended after stripping; may be empty.
    pub prefix: String,
    /// Where to send matching requests: a SIP URI, at most 1024 bytes.
    pub destination: String,
    /// Free text for the administrator; may be empty.
    pub description: String,
}

/// A stored static route and its id (for `sipctl route rm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// Stable identifier assigned on creation.
    pub id: i64,
    /// The route.
    pub route: StaticRoute,
}

/// Row counts, for metrics and `sipctl stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SipCounts {
    /// Local domains.
    pub domains: u64,
    /// Subscribers over all domains.
    pub subscribers: u64,
    /// Static routes.
    pub routes: u64,
    /// Live (unexpired) bindings.
    pub bindings: u64,
    /// Addresses of record with at least one live binding.
    pub aors: u64,
}

/// SIP operations on a [`UserDb`](crate::UserDb). Cheap to clone.
#[derive(Debug, Clone)]
pub struct SipStore {
    db: Arc<Backend>,
}

impl SipStore {
    pub(crate) fn new(db: Arc<Backend>) -> Self {
        SipStore { db }
    }

    /// Adds a local domain; [`Error::AlreadyExists`] if it is there.
    pub async fn add_domain(&self, domain: &str) -> Result<()> {
        check_name("domain", domain)?;
        match self
            .db
            .exec(DOMAIN_INSERT, vec![domain.into(), unix_now().into()])
            .await?
        {
            Exec::Rows(_) => Ok(()),
            Exec::Duplicate => Err(Error::AlreadyExists(Entity::SipDomain)),
        }
    }

    /// Removes a local domain; [`Error::NotFound`] if absent. Its
    /// subscribers and registrations are left alone.
    pub async fn delete_domain(&self, domain: &str) -> Result<()> {
        let n = self.db.exec(DOMAIN_DELETE, vec![domain.into()]).await?;
        expect_some_rows(n, Entity::SipDomain)
    }

    /// All local domains, sorted.
    pub async fn domains(&self) -> Result<Vec<String>> {
        let rows = self.db.query(DOMAIN_LIST, Vec::new()).await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Whether `domain` is local. `false` for strings that could never have
    /// been stored, so network input needs no pre-check.
    pub async fn is_local_domain(&self, domain: &str) -> Result<bool> {
        if check_name("domain", domain).is_err() {
            return Ok(false);
        }
        Ok(self
            .db
            .query_opt(DOMAIN_EXISTS, vec![domain.into()])
            .await?
            .is_some())
    }

    /// Adds a subscriber (`sipctl add`), storing only the digests derived
    /// from `password` with realm = `domain`; [`Error::AlreadyExists`] if
    /// the user is there.
    pub async fn add_subscriber(&self, domain: &str, username: &str, password: &str) -> Result<()> {
        let mut params = subscriber_params(domain, username, password)?;
        params.push(unix_now().into());
        match self.db.exec(SUB_INSERT, params).await? {
            Exec::Rows(_) => Ok(()),
            Exec::Duplicate => Err(Error::AlreadyExists(Entity::SipSubscriber)),
        }
    }

    /// Changes a subscriber's password (`sipctl passwd`); [`Error::NotFound`]
    /// if there is no such subscriber.
    pub async fn set_password(&self, domain: &str, username: &str, password: &str) -> Result<()> {
        let params = subscriber_params(domain, username, password)?;
        let n = self.db.exec(SUB_UPDATE, params).await?;
        expect_some_rows(n, Entity::SipSubscriber)
    }

    /// Deletes a subscriber (`sipctl rm`); [`Error::NotFound`] if absent.
    /// Registrations are left to expire.
    pub async fn delete_subscriber(&self, domain: &str, username: &str) -> Result<()> {
        let n = self
            .db
            .exec(SUB_DELETE, vec![domain.into(), username.into()])
            .await?;
        expect_some_rows(n, Entity::SipSubscriber)
    }

    /// Subscribers of `domain`, or of every domain, sorted.
    pub async fn subscribers(&self, domain: Option<&str>) -> Result<Vec<SipSubscriber>> {
        let rows = match domain {
            Some(d) => self.db.query(SUB_LIST_DOMAIN, vec![d.into()]).await?,
            None => self.db.query(SUB_LIST, Vec::new()).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(SipSubscriber {
                    domain: r.text(0)?,
                    username: r.text(1)?,
                })
            })
            .collect()
    }

    /// The digests of (domain, username): the per-request authentication
    /// lookup, one primary-key read. `None` if there is no such subscriber,
    /// including names that could never have been stored.
    pub async fn subscriber_digests(
        &self,
        domain: &str,
        username: &str,
    ) -> Result<Option<SipDigests>> {
        if check_name("domain", domain).is_err() || check_name("username", username).is_err() {
            return Ok(None);
        }
        let Some(row) = self
            .db
            .query_opt(SUB_DIGESTS, vec![domain.into(), username.into()])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(SipDigests {
            ha1: row.text(0)?,
            ha1b: row.text(1)?,
            ha1_sha256: row.text(2)?,
        }))
    }

    /// Adds a static route and returns its id.
    pub async fn add_route(&self, route: &StaticRoute) -> Result<i64> {
        check_name("pattern", &route.pattern)?;
        check_text("destination", &route.destination, MAX_URI_LEN)?;
        check_optional("prefix", &route.prefix)?;
        check_optional("description", &route.description)?;
        let params = vec![
            i64::from(route.priority).into(),
            route.kind.as_str().into(),
            route.pattern.as_str().into(),
            i64::from(route.strip).into(),
            route.prefix.as_str().into(),
            route.destination.as_str().into(),
            route.description.as_str().into(),
            unix_now().into(),
        ];
        self.db
            .insert(ROUTE_INSERT, params)
            .await?
            .ok_or(Error::AlreadyExists(Entity::SipRoute))
    }

    /// Deletes a static route by id; [`Error::NotFound`] if absent.
    pub async fn delete_route(&self, id: i64) -> Result<()> {
        let n = self.db.exec(ROUTE_DELETE, vec![id.into()]).await?;
        expect_some_rows(n, Entity::SipRoute)
    }

    /// All static routes in the order they are tried.
    pub async fn routes(&self) -> Result<Vec<RouteEntry>> {
        let rows = self.db.query(ROUTE_LIST, Vec::new()).await?;
        rows.iter().map(route_from_row).collect()
    }

    /// Domains, subscribers, routes, and bindings and addresses of record
    /// live at `now` (Unix seconds), in one query.
    pub async fn counts(&self, now: i64) -> Result<SipCounts> {
        let row = self
            .db
            .query_opt(COUNTS, vec![now.into(), now.into()])
            .await?
            .ok_or(Error::Corrupt("count query returned no row"))?;
        Ok(SipCounts {
            domains: row.count(0)?,
            subscribers: row.count(1)?,
            routes: row.count(2)?,
            bindings: row.count(3)?,
            aors: row.count(4)?,
        })
    }
}

/// Checks the inputs and derives the digests: the shared first part of the
/// INSERT and UPDATE parameter lists.
fn subscriber_params(domain: &str, username: &str, password: &str) -> Result<Vec<Value>> {
    check_name("domain", domain)?;
    check_name("username", username)?;
    check_password(password)?;
    let d = SipDigests::derive(username, domain, password);
    Ok(vec![
        d.ha1.as_str().into(),
        d.ha1b.as_str().into(),
        d.ha1_sha256.as_str().into(),
        unix_now().into(),
        domain.into(),
        username.into(),
    ])
}

/// Like `check_name`, but the empty string is allowed.
fn check_optional(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        Ok(())
    } else {
        check_name(field, value)
    }
}

fn route_from_row(r: &Row) -> Result<RouteEntry> {
    Ok(RouteEntry {
        id: r.int(0)?,
        route: StaticRoute {
            priority: i32::try_from(r.int(1)?).map_err(|_| Error::Corrupt("route priority"))?,
            kind: RouteMatch::parse(&r.text(2)?)?,
            pattern: r.text(3)?,
            strip: u8::try_from(r.int(4)?).map_err(|_| Error::Corrupt("route strip count"))?,
            prefix: r.text(5)?,
            destination: r.text(6)?,
            description: r.text(7)?,
        },
    })
}
