//! `sipctl`'s command line (argh). Options take their value as a separate
//! word: `--domain falcot.com`, not `--domain=falcot.com`.

use std::path::PathBuf;

use argh::FromArgs;

/// Manage sipd's subscribers, registrations, domains and static routes.
/// Works while sipd runs: it changes the same database, and sipd sees new
/// users at once and new domains and routes within db_poll_secs (or on
/// systemctl reload sipd).
#[derive(FromArgs, Debug, PartialEq)]
pub struct Args {
    /// configuration file naming the database (default: /etc/sipd/sipd.yaml)
    #[argh(option, short = 'c')]
    pub config: Option<PathBuf>,
    /// what to do
    #[argh(subcommand)]
    pub command: Command,
}

/// A `sipctl` command.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    /// `add USER PASSWORD`
    Add(Add),
    /// `rm USER`
    Rm(Rm),
    /// `passwd USER PASSWORD`
    Passwd(Passwd),
    /// `ul show|rm`
    Ul(Ul),
    /// `online`
    Online(Online),
    /// `domain add|rm|list`
    Domain(Domain),
    /// `route add|rm|list`
    Route(Route),
    /// `stats`
    Stats(Stats),
}

/// Add a subscriber (as `kamctl add`). USER is `name` or `name@domain`.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "add")]
pub struct Add {
    /// the user, e.g. roland or roland@falcot.com
    #[argh(positional)]
    pub user: String,
    /// the password (prompted for, or read from standard input, when absent)
    #[argh(positional)]
    pub password: Option<String>,
    /// the domain (default: the part after @, else the first of domains: in the configuration)
    #[argh(option, short = 'd')]
    pub domain: Option<String>,
}

/// Delete a subscriber (its registrations expire on their own).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct Rm {
    /// the user, e.g. roland or roland@falcot.com
    #[argh(positional)]
    pub user: String,
    /// the domain (default: as for add)
    #[argh(option, short = 'd')]
    pub domain: Option<String>,
}

/// Change a subscriber's password.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "passwd")]
pub struct Passwd {
    /// the user, e.g. roland or roland@falcot.com
    #[argh(positional)]
    pub user: String,
    /// the new password (prompted for, or read from standard input, when absent)
    #[argh(positional)]
    pub password: Option<String>,
    /// the domain (default: as for add)
    #[argh(option, short = 'd')]
    pub domain: Option<String>,
}

/// The location service (registrations).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "ul")]
pub struct Ul {
    /// show or rm
    #[argh(subcommand)]
    pub command: UlCommand,
}

/// A `sipctl ul` command.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum UlCommand {
    /// `ul show [AOR]`
    Show(UlShow),
    /// `ul rm AOR`
    Rm(UlRm),
}

/// Show the live registrations of one address of record, or of all (page by page).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "show")]
pub struct UlShow {
    /// an address of record, e.g. roland@falcot.com (default: all)
    #[argh(positional)]
    pub aor: Option<String>,
}

/// Remove every registration of an address of record.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct UlRm {
    /// the address of record, e.g. roland@falcot.com
    #[argh(positional)]
    pub aor: String,
}

/// List the addresses of record that have a live registration.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "online")]
pub struct Online {}

/// Local domains kept in the database (besides domains: in the configuration).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "domain")]
pub struct Domain {
    /// add, rm or list
    #[argh(subcommand)]
    pub command: DomainCommand,
}

/// A `sipctl domain` command.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum DomainCommand {
    /// `domain add DOMAIN`
    Add(DomainAdd),
    /// `domain rm DOMAIN`
    Rm(DomainRm),
    /// `domain list`
    List(DomainList),
}

/// Make a domain local.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "add")]
pub struct DomainAdd {
    /// the domain, e.g. falcot.com
    #[argh(positional)]
    pub domain: String,
}

/// Stop serving a domain (its subscribers are kept).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct DomainRm {
    /// the domain
    #[argh(positional)]
    pub domain: String,
}

/// List the local domains.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "list")]
pub struct DomainList {}

/// Static routes (tried before the location service).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "route")]
pub struct Route {
    /// add, rm or list
    #[argh(subcommand)]
    pub command: RouteCommand,
}

/// A `sipctl route` command.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum RouteCommand {
    /// `route add`
    Add(RouteAdd),
    /// `route rm ID`
    Rm(RouteRm),
    /// `route list`
    List(RouteList),
}

/// Add a static route: requests whose user part matches go to DESTINATION,
/// e.g. `sipctl route add --prefix 0 --strip 1 --add +33 sip:trunk.example.net`.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "add")]
pub struct RouteAdd {
    /// match users starting with this text
    #[argh(option)]
    pub prefix: Option<String>,
    /// or match users against this regular expression
    #[argh(option)]
    pub regex: Option<String>,
    /// characters to remove from the start of the user (default 0)
    #[argh(option, default = "0")]
    pub strip: u8,
    /// text to put in front of the user after stripping
    #[argh(option)]
    pub add: Option<String>,
    /// lower runs first (default 0)
    #[argh(option, default = "0")]
    pub priority: i32,
    /// a note for administrators
    #[argh(option)]
    pub description: Option<String>,
    /// where to send, a sip: or sips: URI
    #[argh(positional)]
    pub destination: String,
}

/// Delete a static route by its id (see route list).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct RouteRm {
    /// the route's id
    #[argh(positional)]
    pub id: i64,
}

/// List the static routes in the order they are tried.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "list")]
pub struct RouteList {}

/// Count domains, subscribers, routes and live registrations.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "stats")]
pub struct Stats {}
