//! What each `sipctl` command does to the database, and what it prints.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rtc_userdb::{DatabaseConfig, RouteMatch, StaticRoute, UserDb};

use super::cli::{Command, DomainCommand, RouteAdd, RouteCommand, UlCommand};
use super::{describe, parent_dir, AdminError};
use crate::config::AdminSettings;
use crate::shell::unix_now;

/// Rows fetched per page by listings.
const PAGE: u32 = 200;

fn db_error(database: &DatabaseConfig, what: &str, e: rtc_userdb::Error) -> AdminError {
    match e {
        rtc_userdb::Error::NotFound(_) => AdminError::NotFound(format!("{what} not found")),
        rtc_userdb::Error::AlreadyExists(_) => AdminError::Exists(format!("{what} already exists")),
        e @ rtc_userdb::Error::InvalidInput { .. } => AdminError::Invalid(format!("{what}: {e}")),
        source => AdminError::Database { database: describe(database), source },
    }
}

/// A user part a phone can type: no separators, spaces or control characters.
fn check_user(user: &str) -> Result<(), AdminError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "@:;?<>\"".contains(c);
    if user.is_empty() || user.len() > 255 || user.chars().any(bad) {
        return Err(AdminError::Invalid(format!("{user:?} is not a valid user name")));
    }
    Ok(())
}

/// A host name a SIP URI can carry, lower-cased.
fn check_domain(domain: &str) -> Result<String, AdminError> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() || d.len() > 253 || d.starts_with('[') || rtc_sip::Host::parse(d.as_bytes()).is_err() {
        return Err(AdminError::Invalid(format!("{domain:?} is not a valid domain name")));
    }
    Ok(d)
}

/// `user`, `user@domain`, plus `--domain`, plus the configuration's first domain.
fn user_domain(user: &str, domain: Option<&str>, settings: &AdminSettings) -> Result<(String, String), AdminError> {
    let (name, in_user) = match user.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (user, None),
    };
    let chosen = match (in_user, domain) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            return Err(AdminError::Usage(format!("{user} and --domain {b} name different domains")));
        }
        (Some(d), _) | (None, Some(d)) => d.to_owned(),
        (None, None) => settings.domains.first().cloned().ok_or_else(|| {
            AdminError::Usage(format!("no domain for {user}: write {user}@DOMAIN, add --domain DOMAIN, or list domains: in sipd.yaml"))
        })?,
    };
    check_user(name)?;
    Ok((name.to_owned(), check_domain(&chosen)?))
}

async fn open(database: &DatabaseConfig) -> Result<UserDb, AdminError> {
    if let DatabaseConfig::Sqlite(s) = database {
        let dir = parent_dir(&s.path);
        if !dir.is_dir() {
            return Err(AdminError::Invalid(format!("directory {} does not exist", dir.display())));
        }
    }
    UserDb::open(database).await.map_err(|source| AdminError::Database { database: describe(database), source })
}

/// When root creates or touches the SQLite file in a directory owned by the
/// daemon's user (`/var/lib/sipd`, owned by `sipd`), give the file to that
/// user: otherwise the daemon could no longer open its own database.
/// Failures are ignored: an unprivileged caller cannot chown and need not.
fn hand_over_to_directory_owner(db: &Path) {
    let Ok(dir) = std::fs::metadata(parent_dir(db)) else { return };
    if dir.uid() == 0 {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if std::fs::metadata(&file).is_ok_and(|m| m.uid() == 0) {
            let _ = std::os::unix::fs::chown(&file, Some(dir.uid()), Some(dir.gid()));
        }
    }
}

/// Run `command`, printing to `out`.
pub(super) async fn execute(
    settings: &AdminSettings,
    command: &Command,
    password: Option<String>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let database = &settings.database;
    let db = open(database).await?;
    let sqlite = match database {
        DatabaseConfig::Sqlite(s) => Some(s.path.clone()),
        DatabaseConfig::Mysql(_) => None,
    };
    if let Some(p) = &sqlite {
        hand_over_to_directory_owner(p);
    }
    let outcome = run_command(settings, &db, command, password, out).await;
    let _ = db.close().await;
    if let Some(p) = &sqlite {
        hand_over_to_directory_owner(p);
    }
    outcome
}

async fn run_command(
    settings: &AdminSettings,
    db: &UserDb,
    command: &Command,
    password: Option<String>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let database = &settings.database;
    let sip = db.sip();
    let w = |r: std::io::Result<()>| r.map_err(AdminError::Output);
    match command {
        Command::Add(a) => {
            let (user, domain) = user_domain(&a.user, a.domain.as_deref(), settings)?;
            let what = format!("subscriber {user}@{domain}");
            let pw = password.unwrap_or_default();
            sip.add_subscriber(&domain, &user, &pw).await.map_err(|e| db_error(database, &what, e))?;
            let local = settings.domains.contains(&domain)
                || sip.is_local_domain(&domain).await.map_err(|e| db_error(database, &domain, e))?;
            if !local {
                eprintln!("sipctl: warning: {domain} is not a local domain yet; add it with: sipctl domain add {domain}");
            }
            w(writeln!(out, "added {what}"))?;
        }
        Command::Rm(r) => {
            let (user, domain) = user_domain(&r.user, r.domain.as_deref(), settings)?;
            let what = format!("subscriber {user}@{domain}");
            sip.delete_subscriber(&domain, &user).await.map_err(|e| db_error(database, &what, e))?;
            w(writeln!(out, "removed {what}"))?;
        }
        Command::Passwd(p) => {
            let (user, domain) = user_domain(&p.user, p.domain.as_deref(), settings)?;
            let what = format!("subscriber {user}@{domain}");
            let pw = password.unwrap_or_default();
            sip.set_password(&domain, &user, &pw).await.map_err(|e| db_error(database, &what, e))?;
            w(writeln!(out, "changed the password of {what}"))?;
        }
        Command::Ul(ul) => match &ul.command {
            UlCommand::Show(s) => show_bindings(database, db, s.aor.as_deref(), out).await?,
            UlCommand::Rm(r) => {
                let aor = r.aor.to_ascii_lowercase();
                let n = sip.remove_aor(&aor).await.map_err(|e| db_error(database, &aor, e))?;
                if n == 0 {
                    return Err(AdminError::NotFound(format!("no registration for {aor}")));
                }
                w(writeln!(out, "removed {n} registration(s) of {aor}"))?;
            }
        },
        Command::Online(_) => {
            let mut scan = sip.scan_online(unix_now(), PAGE);
            while let Some(page) = scan.next_page().await.map_err(|e| db_error(database, "registrations", e))? {
                for aor in page {
                    w(writeln!(out, "{aor}"))?;
                }
            }
        }
        Command::Domain(d) => match &d.command {
            DomainCommand::Add(a) => {
                let domain = check_domain(&a.domain)?;
                let what = format!("domain {domain}");
                sip.add_domain(&domain).await.map_err(|e| db_error(database, &what, e))?;
                w(writeln!(out, "added {what}"))?;
            }
            DomainCommand::Rm(r) => {
                let domain = check_domain(&r.domain)?;
                let what = format!("domain {domain}");
                sip.delete_domain(&domain).await.map_err(|e| db_error(database, &what, e))?;
                if settings.domains.contains(&domain) {
                    eprintln!("sipctl: warning: {domain} stays local: it is listed under domains: in sipd.yaml");
                }
                w(writeln!(out, "removed {what}"))?;
            }
            DomainCommand::List(_) => {
                let stored = sip.domains().await.map_err(|e| db_error(database, "domains", e))?;
                for d in &stored {
                    w(writeln!(out, "{d}"))?;
                }
                for d in settings.domains.iter().filter(|d| !stored.contains(d)) {
                    w(writeln!(out, "{d}\t(from sipd.yaml)"))?;
                }
            }
        },
        Command::Route(r) => match &r.command {
            RouteCommand::Add(a) => {
                let route = static_route(a)?;
                let id = sip.add_route(&route).await.map_err(|e| db_error(database, "route", e))?;
                w(writeln!(out, "added route {id}"))?;
            }
            RouteCommand::Rm(rm) => {
                let what = format!("route {}", rm.id);
                sip.delete_route(rm.id).await.map_err(|e| db_error(database, &what, e))?;
                w(writeln!(out, "removed {what}"))?;
            }
            RouteCommand::List(_) => {
                let routes = sip.routes().await.map_err(|e| db_error(database, "routes", e))?;
                w(writeln!(out, "ID\tPRIORITY\tMATCH\tSTRIP\tADD\tDESTINATION\tDESCRIPTION"))?;
                for e in routes {
                    let r = e.route;
                    let m = match r.kind {
                        RouteMatch::Prefix => format!("prefix:{}", r.pattern),
                        RouteMatch::Regex => format!("regex:{}", r.pattern),
                    };
                    w(writeln!(out, "{}\t{}\t{m}\t{}\t{}\t{}\t{}", e.id, r.priority, r.strip, r.prefix, r.destination, r.description))?;
                }
            }
        },
        Command::Stats(_) => {
            let c = sip.counts(unix_now()).await.map_err(|e| db_error(database, "counts", e))?;
            w(writeln!(out, "domains: {}", c.domains))?;
            w(writeln!(out, "subscribers: {}", c.subscribers))?;
            w(writeln!(out, "routes: {}", c.routes))?;
            w(writeln!(out, "registered contacts: {}", c.bindings))?;
            w(writeln!(out, "registered addresses of record: {}", c.aors))?;
        }
    }
    Ok(())
}

/// The route `sipctl route add` describes, checked as sipd would.
fn static_route(a: &RouteAdd) -> Result<StaticRoute, AdminError> {
    let (kind, pattern) = match (&a.prefix, &a.regex) {
        (Some(p), None) => (RouteMatch::Prefix, p.clone()),
        (None, Some(r)) => {
            regex::Regex::new(r).map_err(|e| AdminError::Invalid(format!("--regex does not compile: {e}")))?;
            (RouteMatch::Regex, r.clone())
        }
        _ => return Err(AdminError::Usage("give exactly one of --prefix and --regex".into())),
    };
    let d = a.destination.to_ascii_lowercase();
    if !(d.starts_with("sip:") || d.starts_with("sips:")) || rtc_sip::Uri::parse(a.destination.as_bytes()).is_err() {
        return Err(AdminError::Invalid(format!("{:?} is not a sip: or sips: URI", a.destination)));
    }
    Ok(StaticRoute {
        priority: a.priority,
        kind,
        pattern,
        strip: a.strip,
        prefix: a.add.clone().unwrap_or_default(),
        destination: a.destination.clone(),
        description: a.description.clone().unwrap_or_default(),
    })
}

/// `ul show`: one line per live binding, tab-separated.
async fn show_bindings(
    database: &DatabaseConfig,
    db: &UserDb,
    aor: Option<&str>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let now = unix_now();
    let sip = db.sip();
    if let Some(aor) = aor {
        let aor = aor.strip_prefix("sip:").unwrap_or(aor).to_ascii_lowercase();
        let list = sip.bindings(&aor, now).await.map_err(|e| db_error(database, &aor, e))?;
        if list.is_empty() {
            return Err(AdminError::NotFound(format!("no registration for {aor}")));
        }
        for b in &list {
            print_binding(out, &aor, b, now).map_err(AdminError::Output)?;
        }
        return Ok(());
    }
    let mut scan = sip.scan_bindings(now, PAGE);
    while let Some(page) = scan.next_page().await.map_err(|e| db_error(database, "registrations", e))? {
        for e in &page {
            print_binding(out, &e.aor, &e.binding, now).map_err(AdminError::Output)?;
        }
    }
    Ok(())
}

fn print_binding(out: &mut impl Write, aor: &str, b: &rtc_userdb::Binding, now: i64) -> std::io::Result<()> {
    let q = f64::from(b.q.unwrap_or(1000)) / 1000.0;
    write!(out, "{aor}\t{}\texpires={}\tq={q:.3}", b.contact, (b.expires - now).max(0))?;
    if let Some(r) = &b.received {
        write!(out, "\treceived={r}")?;
    }
    if let Some(s) = &b.socket {
        write!(out, "\tsocket={s}")?;
    }
    if !b.path.is_empty() {
        write!(out, "\tpath={}", b.path.join(","))?;
    }
    if let Some(i) = &b.instance {
        write!(out, "\tinstance={i}")?;
    }
    if let Some(r) = b.reg_id {
        write!(out, "\treg-id={r}")?;
    }
    if let Some(ua) = &b.user_agent {
        write!(out, "\tuser-agent={ua:?}")?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_userdb::DatabaseConfig;

    fn settings(domains: &[&str]) -> AdminSettings {
        AdminSettings { database: DatabaseConfig::sqlite("/nonexistent"), domains: domains.iter().map(|d| (*d).to_owned()).collect() }
    }

    #[test]
    fn the_domain_comes_from_the_user_the_option_or_the_configuration() {
        let s = settings(&["sip.falcot.com"]);
        assert_eq!(user_domain("roland", None, &s).unwrap(), ("roland".into(), "sip.falcot.com".into()));
        assert_eq!(user_domain("roland@Falcot.COM", None, &s).unwrap(), ("roland".into(), "falcot.com".into()));
        assert_eq!(user_domain("roland", Some("x.org"), &s).unwrap().1, "x.org");
        assert!(matches!(user_domain("roland@a.org", Some("b.org"), &s), Err(AdminError::Usage(_))));
        assert!(matches!(user_domain("roland", None, &settings(&[])), Err(AdminError::Usage(_))));
        assert!(matches!(user_domain("ro land", None, &s), Err(AdminError::Invalid(_))));
        assert!(matches!(user_domain("roland", Some("bad domain"), &s), Err(AdminError::Invalid(_))));
    }

    #[test]
    fn route_add_checks_its_match_and_destination() {
        let base = RouteAdd {
            prefix: Some("0".into()),
            regex: None,
            strip: 1,
            add: Some("+33".into()),
            priority: 0,
            description: None,
            destination: "sip:trunk.example.net".into(),
        };
        let r = static_route(&base).unwrap();
        assert_eq!((r.kind, r.pattern.as_str(), r.strip, r.prefix.as_str()), (RouteMatch::Prefix, "0", 1, "+33"));
        let both = RouteAdd { regex: Some(".*".into()), ..base };
        assert!(matches!(static_route(&both), Err(AdminError::Usage(_))));
        let bad_re = RouteAdd { prefix: None, regex: Some("(".into()), ..both };
        assert!(matches!(static_route(&bad_re), Err(AdminError::Invalid(_))));
        let bad_dest = RouteAdd { regex: Some("^1".into()), destination: "tel:+331".into(), ..bad_re };
        assert!(matches!(static_route(&bad_dest), Err(AdminError::Invalid(_))));
    }
}
