//! The tokio shell around [`crate::core`]: sockets, connections, the
//! database, TLS, signals and metrics. [`run`] is all the `sipd` binary calls.
//!
//! # Tasks
//!
//! - One driver task per [`Core`] (`workers` of them, 0 = one per CPU core).
//!   Every received message goes to the core chosen by [`Core::shard`], a
//!   hash of its Call-ID, so the messages of one transaction always meet.
//! - One receive task per UDP listener (batched `recvmmsg` and GRO through
//!   quinn-udp); one accept task per TCP/TLS/WS/WSS listener, and one task
//!   per connection that frames messages (RFC 3261 §18.3), answers CRLF
//!   keepalives (RFC 5626 §3.5.1) and writes what the cores queue for it.
//! - Database work runs in small tasks whose answers go back to the core
//!   that asked ([`db`]): a REGISTER is answered only after its bindings
//!   are committed.
//! - A poll task re-reads the local domains and static routes that
//!   `sipctl` manages every `db_poll_secs` (and at once on SIGHUP); another
//!   deletes expired registrations every minute.
//!
//! # Lifecycle
//!
//! The `READY` line is printed (and systemd told) once every listener is
//! bound and the database's domains and routes are loaded. SIGHUP re-reads
//! the configuration (log level, the core's options, certificates of TLS and
//! WSS listeners for new handshakes) and the database. SIGTERM stops
//! accepting connections, lets transactions in progress finish for up to
//! `shutdown_grace_secs` (UDP and open connections keep being served), then
//! closes the connections and returns.
//!
//! Deliberately not here: any SIP decision (the core makes them all), and
//! changing listeners, the database or the worker count without a restart.

mod db;
mod driver;
mod error;
mod inbound;
mod listen;
mod metrics;
mod net;
mod resolve;
mod secret;
mod stream;
mod udp;
mod ws;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_daemon::logging::LogHandle;
use rtc_daemon::{notify, Event, Lifecycle, MetricsServer, ShutdownTrigger};
use rtc_tls::TlsServer;
use rtc_userdb::UserDb;
use tokio::sync::mpsc;

pub use db::{unix_now, LocationConfig};
pub use error::ShellError;

use crate::config::SipdConfig;
use crate::core::{Core, CoreConfig, Transport};
use db::{db_routes, DbService, DbState, ListenerTable};
use driver::{CoreStats, Hub};
use inbound::{ConnIds, Inbound};
use listen::Socketish;
use net::Net;
use stream::StreamListener;

/// Most cores (driver tasks).
pub const MAX_WORKERS: usize = 256;
/// Inputs waiting for one core before receivers wait (backpressure).
const CORE_QUEUE: usize = 4096;
/// How often expired registrations are deleted from the database.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// What [`run`] needs besides the lifecycle.
#[derive(Debug)]
pub struct Startup {
    /// The file the configuration came from, re-read on SIGHUP.
    pub config_path: PathBuf,
    /// The loaded, validated configuration.
    pub config: SipdConfig,
    /// The logger's handle, to apply a reloaded `log` level.
    pub log: Option<LogHandle>,
}

/// The number of cores (and runtime threads) for a configured `workers` value.
pub fn worker_count(configured: usize) -> usize {
    rtc_daemon::cli::worker_count(configured, MAX_WORKERS)
}

/// Load the certificates of every TLS and WSS listener the way the daemon
/// would (`--check-config`). The error names the file and the listener.
pub fn check_certificates(path: &Path, config: &SipdConfig) -> Result<(), rtc_daemon::Error> {
    for (i, l) in config.listeners.iter().enumerate() {
        if let Some(tls) = &l.tls {
            TlsServer::new(tls, &[])
                .map_err(|e| rtc_daemon::Error::invalid(path, format!("listeners[{i}].tls.certificates"), e.to_string()))?;
        }
    }
    Ok(())
}

/// The file's core options plus the database's static routes.
fn merged(file: &CoreConfig, state: &DbState) -> CoreConfig {
    let mut c = file.clone();
    c.routes.extend(db_routes(&state.routes));
    c
}

/// Keeps the cores' view of the database's domains and routes current.
#[derive(Debug)]
struct Refresher {
    db: UserDb,
    net: Arc<Net>,
    state: tokio::sync::Mutex<(CoreConfig, DbState)>,
}

impl Refresher {
    /// Re-read the database; tell the cores what changed. With `config`,
    /// the file's core options changed too.
    async fn refresh(&self, config: Option<CoreConfig>) {
        let mut guard = self.state.lock().await;
        let (file, last) = &mut *guard;
        let reconfigured = config.is_some();
        if let Some(c) = config {
            *file = c;
        }
        let fresh = match DbState::read(&self.db).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot read domains and routes from the database: {e}");
                last.clone()
            }
        };
        if fresh.domains != last.domains {
            tracing::info!(domains = fresh.domains.len(), "local domains changed in the database");
            let d = Arc::new(fresh.domains.clone());
            self.net.broadcast(|| Inbound::Domains(Arc::clone(&d))).await;
        }
        if reconfigured || fresh.routes != last.routes {
            if fresh.routes != last.routes {
                tracing::info!(routes = fresh.routes.len(), "static routes changed in the database");
            }
            let c = Arc::new(merged(file, &fresh));
            self.net.broadcast(|| Inbound::Config(Arc::clone(&c))).await;
        }
        *last = fresh;
    }
}

/// Serve until SIGTERM (or [`rtc_daemon::LifecycleHandle::stop`]) and the drain
/// that follows. Call inside a tokio runtime; `life` must not have its
/// signals installed yet.
pub async fn run(startup: Startup, mut life: Lifecycle) -> Result<(), ShellError> {
    life.install_signals()?;
    let Startup { config_path, mut config, log } = startup;
    let db = UserDb::open(&config.database).await?;
    let secret = secret::load_or_create(&config.secret_file)?;
    let bound = listen::bind_all(&config.listeners)?;
    let mut tls: HashMap<usize, TlsServer> = HashMap::new();
    for (i, l) in config.listeners.iter().enumerate() {
        if let Some(t) = &l.tls {
            tls.insert(i, TlsServer::new(t, &[]).map_err(|source| ShellError::Tls { index: i, source })?);
        }
    }
    let workers = worker_count(config.workers);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::channel(CORE_QUEUE)).unzip();
    let client_tls = match rtc_tls::client_config(&rtc_tls::Roots::System, &[]) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("outgoing TLS disabled: {e}");
            None
        }
    };
    let mut boot = [0u8; 4];
    getrandom::getrandom(&mut boot).map_err(ShellError::Random)?;
    let net = Arc::new(Net::new(senders, ConnIds::new(u32::from_be_bytes(boot)), config.connections, life.shutdown(), client_tls));

    let state = DbState::read(&db).await?;
    let core_config = merged(&config.core, &state);
    let epoch = Instant::now();
    let core_listeners: Vec<_> = bound.iter().map(|b| b.core.clone()).collect();
    let mut cores = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut seed = [0u8; 8];
        getrandom::getrandom(&mut seed).map_err(ShellError::Random)?;
        let mut core = Core::new(core_config.clone(), core_listeners.clone(), secret, epoch, u64::from_le_bytes(seed))?;
        core.handle_domains_changed(state.domains.iter().cloned());
        cores.push(core);
    }

    let table = ListenerTable::new(core_listeners.iter().map(|l| (l.id, l.transport, l.local)).collect());
    let mut udp = HashMap::new();
    let mut udp_sockets = Vec::new();
    let mut stream_listeners = Vec::new();
    let mut announced = Vec::new();
    for b in bound {
        announced.push(rtc_daemon::Listener::new("sip", config_proto(b.core.transport), b.core.local));
        let err = |source| ShellError::Listen { proto: config_proto(b.core.transport), addr: b.core.local, source };
        match b.socket {
            Socketish::Udp(s) => {
                let io = Arc::new(udp::UdpIo::new(s).map_err(err)?);
                udp.insert(b.core.id, Arc::clone(&io));
                udp_sockets.push((b.core.id, io));
            }
            Socketish::Stream(s) => {
                let socket = tokio::net::TcpListener::from_std(s).map_err(err)?;
                let cfg = config.listeners.get(b.index);
                stream_listeners.push(StreamListener {
                    id: b.core.id,
                    proto: cfg.map_or(crate::config::ListenerProto::Tcp, |c| c.proto),
                    tls: tls.get(&b.index).cloned(),
                    ws_path: cfg.map_or_else(|| "/".to_owned(), |c| c.ws_path().to_owned()),
                    socket,
                });
            }
        }
    }
    let hub = Arc::new(Hub {
        net: Arc::clone(&net),
        udp,
        listeners: core_listeners.iter().map(|l| (l.id, (l.transport, l.local))).collect(),
        db: Arc::new(DbService::new(db.clone(), table, &net, config.location)),
        resolver: resolve::Resolver::new(),
        stats: (0..workers).map(|_| std::sync::Mutex::new(CoreStats::default())).collect(),
    });
    for (index, (core, rx)) in cores.into_iter().zip(receivers).enumerate() {
        tokio::spawn(driver::run_core(Arc::clone(&hub), index, core, rx));
    }
    for (id, io) in udp_sockets {
        tokio::spawn(udp::recv_loop(io, id, Arc::clone(&net)));
    }
    for l in stream_listeners {
        tokio::spawn(stream::accept_loop(Arc::clone(&net), l));
    }

    // The endpoint keeps answering while transactions drain; it stops with the process.
    let (_metrics_alive, metrics_token) = ShutdownTrigger::new();
    if let Some(addr) = config.metrics.listen {
        let registry = rtc_daemon::metrics::shared_registry("sipd");
        registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .register_collector(Box::new(metrics::SipdCollector(Arc::clone(&hub))));
        let server = MetricsServer::bind(addr, registry).await?;
        announced.push(server.listener());
        tokio::spawn(server.run(metrics_token));
    }

    let refresher = Arc::new(Refresher { db, net: Arc::clone(&net), state: tokio::sync::Mutex::new((config.core.clone(), state)) });
    let poll = Arc::clone(&refresher);
    let every = Duration::from_secs(config.db_poll_secs);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            poll.refresh(None).await;
        }
    });

    let purge = Arc::clone(&hub.db);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            purge.purge_expired().await;
        }
    });

    for l in &announced {
        rtc_daemon::announce(l);
    }
    tracing::info!(workers, domains = ?config.core.domains, "sipd started");
    rtc_daemon::ready("sipd", &announced)?;

    while let Event::Reload = life.next_event().await {
        reload(&config_path, &mut config, log.as_ref(), &tls, &refresher).await;
    }
    notify::stopping();
    drain(&life, &hub, Duration::from_secs(config.shutdown_grace_secs)).await;
    net.close_all();
    Ok(())
}

fn config_proto(t: Transport) -> rtc_daemon::Proto {
    match t {
        Transport::Udp => rtc_daemon::Proto::Udp,
        Transport::Tcp => rtc_daemon::Proto::Tcp,
        Transport::Tls => rtc_daemon::Proto::Tls,
        Transport::Ws => rtc_daemon::Proto::Ws,
        Transport::Wss => rtc_daemon::Proto::Wss,
    }
}

/// SIGHUP: apply what can change without a restart.
async fn reload(
    path: &Path,
    running: &mut SipdConfig,
    log: Option<&LogHandle>,
    tls: &HashMap<usize, TlsServer>,
    refresher: &Refresher,
) {
    notify::reloading();
    match SipdConfig::load(path) {
        Ok(new) => {
            if let Some(log) = log {
                if let Err(e) = log.set_level(&new.log) {
                    tracing::warn!("log level not changed: {e}");
                }
            }
            for (what, changed) in [
                ("listeners", new.listeners.iter().map(|l| (l.proto, l.addr)).ne(running.listeners.iter().map(|l| (l.proto, l.addr)))),
                ("database", new.database != running.database),
                ("secret_file", new.secret_file != running.secret_file),
                ("workers", new.workers != running.workers),
                ("connections", new.connections != running.connections),
                ("metrics", new.metrics != running.metrics),
            ] {
                if changed {
                    tracing::warn!("{what}: the change needs a restart to apply");
                }
            }
            for (i, server) in tls {
                let Some(t) = new.listeners.get(*i).and_then(|l| l.tls.as_ref()) else { continue };
                match server.reload_from(t) {
                    Ok(()) => tracing::info!("listeners[{i}]: TLS certificates reloaded"),
                    Err(e) => tracing::error!("listeners[{i}]: TLS certificates not reloaded, keeping the old ones: {e}"),
                }
            }
            refresher.refresh(Some(new.core.clone())).await;
            *running = new;
            tracing::info!("configuration reloaded from {}", path.display());
        }
        Err(e) => {
            tracing::error!("configuration not reloaded, keeping the running one: {e}");
            refresher.refresh(None).await;
        }
    }
    notify::ready();
}

/// After SIGTERM: accept loops have stopped; wait for transactions to end.
async fn drain(life: &Lifecycle, hub: &Arc<Hub>, grace: Duration) {
    // Counters are published once a second: let them catch up first.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let active = hub.totals().transactions;
    if active == 0 {
        tracing::info!("no transactions left: stopping");
        return;
    }
    tracing::info!("waiting up to {}s for {active} transaction(s) to end", grace.as_secs());
    let h = Arc::clone(hub);
    life.tracker().spawn(async move {
        while h.totals().transactions > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    if let rtc_daemon::Drain::Abandoned { .. } = life.drain(grace).await {
        tracing::info!("{} transaction(s) dropped at shutdown", hub.totals().transactions);
    }
}
