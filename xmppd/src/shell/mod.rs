//! The tokio shell around [`crate::core`]: sockets, TLS, the database,
//! signals and metrics. [`run`] is all the `xmppd` binary calls.
//!
//! # Tasks
//!
//! - One core task owns the single [`Server`](crate::core::Server) (XMPP
//!   routing needs every session's state) and exchanges messages with the
//!   others (`driver.rs`).
//! - One task per client connection does the socket I/O and TLS, so
//!   handshakes and encryption run in parallel on the worker threads
//!   (`conn.rs`).
//! - A few storage workers answer the core's storage requests from
//!   `rtc-userdb`, in order per account (`storage.rs`).
//! - One accept loop per listener (`listen.rs`).
//!
//! # Lifecycle
//!
//! The `READY` line is printed (and systemd told) once every listener is
//! bound. SIGHUP re-reads the configuration and the drop-in files (hosts,
//! limits, policy, log level) and reloads TLS certificates for new
//! handshakes; sessions stay up. SIGTERM stops accepting, sends every stream
//! `<system-shutdown/>`, waits up to `shutdown_grace_secs` for connections
//! to close and storage writes (offline messages of ending sessions) to
//! finish, then returns.
//!
//! - Outgoing server-to-server connections get their own task
//!   (`s2s_out.rs`: DNS SRV, connect, client TLS); certificate validation
//!   for both directions is in `s2s_tls.rs`.
//!
//! Deliberately not here: protocol decisions (the core makes them all), and
//! changing listeners or the database without a restart.

mod c2s_tls;
mod conn;
mod driver;
mod error;
mod http;
mod listen;
mod mailbox;
mod metrics;
mod s2s_out;
mod s2s_tls;
mod muc_storage;
mod storage;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_daemon::logging::LogHandle;
use rtc_daemon::{notify, Event, Lifecycle, MetricsServer, ShutdownTrigger};
use rtc_tls::TlsServer;
use rtc_userdb::UserDb;
use tokio::sync::mpsc;

pub use error::ShellError;
pub use tls::ALPN_XMPP_CLIENT;

use crate::config::XmppdConfig;
use crate::core::Server;
use driver::{Gauges, ToCore};
use storage::{Quotas, Storage};

/// What [`run`] needs besides the lifecycle.
#[derive(Debug)]
pub struct Startup {
    /// The file the configuration came from, re-read on SIGHUP.
    pub config_path: PathBuf,
    /// The loaded, validated configuration.
    pub config: XmppdConfig,
    /// The logger's handle, to apply a reloaded `log` level.
    pub log: Option<LogHandle>,
}

/// The number of runtime worker threads for a configured `workers` value.
pub fn worker_count(configured: usize) -> usize {
    rtc_daemon::cli::worker_count(configured, 256)
}

/// `--check-config`: load every enabled host's certificate the way the
/// daemon would. The error names the file.
pub fn check_certificates(path: &Path, config: &XmppdConfig) -> Result<(), rtc_daemon::Error> {
    match config.tls_config() {
        Some(c) => TlsServer::new(&c, &[ALPN_XMPP_CLIENT])
            .map(drop)
            .map_err(|e| rtc_daemon::Error::invalid(path, "hosts.tls", e.to_string())),
        None => Ok(()),
    }
}

fn quotas(config: &XmppdConfig) -> Quotas {
    let l = &config.core.limits;
    let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Quotas {
        offline: l.offline_queue,
        roster: clamp(l.max_roster_items),
        blocklist: clamp(l.max_blocklist_items),
        private: 100,
    }
}

/// Serve until SIGTERM (or [`rtc_daemon::LifecycleHandle::stop`]) and the
/// drain that follows. `life` must not have its signals installed yet.
pub async fn run(startup: Startup, mut life: Lifecycle) -> Result<(), ShellError> {
    life.install_signals()?;
    let Startup { config_path, mut config, log } = startup;
    let db = UserDb::open(&config.database).await?;
    if config.core.upload.secret.is_empty() {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(ShellError::Random)?;
        config.core.upload.secret = hex::encode(key);
    }
    let tls = match config.tls_config() {
        Some(c) => Some(TlsServer::new(&c, &[ALPN_XMPP_CLIENT])?),
        None => None,
    };
    let bound = listen::bind_all(&config.listeners)?;

    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(ShellError::Random)?;
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let core = Server::new(config.core_config(), &config.virtual_hosts(), seed, Instant::now(), unix_now);
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let storage = Storage::start(db.xmpp(), quotas(&config), core_tx.clone());
    let gauges = Arc::new(Gauges::default());
    let s2s_tls = s2s_tls::S2sTls::new(&config)?;
    let s2s_ctx = Arc::new(s2s_out::S2sContext {
        core: core_tx.clone(),
        tls: s2s_tls.clone(),
        hosts: config.core.s2s.hosts.clone(),
        direct_tls: config.core.s2s.direct_tls,
        transport: config.transport.clone(),
        resolver: hickory_resolver::TokioResolver::builder_tokio().ok().map(|b| b.build()),
    });
    let core_task = tokio::spawn(driver::run(core, core_rx, storage.clone(), Arc::clone(&gauges), s2s_ctx));

    let ctx = Arc::new(conn::ConnContext {
        core: core_tx.clone(),
        tls: tls.clone(),
        c2s_configs: tls::C2sConfigs::default(),
        transport: config.transport.clone(),
        shutdown: life.shutdown(),
        s2s_tls: Some(s2s_tls),
        backlog: storage.backlog(),
    });
    let web = http::start(&config, core_tx.clone(), tls.clone(), life.shutdown(), storage.backlog());
    let mut announced = Vec::new();
    for b in bound {
        announced.push(rtc_daemon::Listener::new(b.kind.service(), b.kind.proto(), b.addr));
        let web = Arc::clone(&web);
        tokio::spawn(listen::accept_loop(b, Arc::clone(&ctx), web, life.tracker(), life.shutdown()));
    }
    // The endpoint keeps answering while sessions drain; it stops with the process.
    let (_metrics_alive, metrics_token) = ShutdownTrigger::new();
    if let Some(addr) = config.metrics.listen {
        let registry = rtc_daemon::metrics::shared_registry("xmppd");
        registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .register_collector(Box::new(metrics::XmppdCollector::new(Arc::clone(&gauges), storage.clone())));
        let server = MetricsServer::bind(addr, registry).await?;
        announced.push(server.listener());
        tokio::spawn(server.run(metrics_token));
    }
    for l in &announced {
        rtc_daemon::announce(l);
    }
    let hosts: Vec<&str> = config.enabled_hosts().map(|h| h.domain.as_str()).collect();
    tracing::info!(hosts = ?hosts, "xmppd started");
    rtc_daemon::ready("xmppd", &announced)?;

    while let Event::Reload = life.next_event().await {
        reload(&config_path, &mut config, log.as_ref(), tls.as_ref(), &core_tx);
    }
    notify::stopping();
    let _ = core_tx.send(ToCore::Shutdown);
    drain(&life, &gauges, &storage, Duration::from_secs(config.shutdown_grace_secs)).await;
    drop(ctx);
    drop(core_tx);
    core_task.abort();
    Ok(())
}

/// SIGHUP: apply what can change without a restart.
fn reload(
    path: &Path,
    running: &mut XmppdConfig,
    log: Option<&LogHandle>,
    tls: Option<&TlsServer>,
    core: &mpsc::UnboundedSender<ToCore>,
) {
    notify::reloading();
    match XmppdConfig::load(path) {
        Ok(mut new) => {
            if new.core.upload.secret.is_empty() {
                // Keep the random key so granted slots stay valid.
                new.core.upload.secret.clone_from(&running.core.upload.secret);
            }
            if let Some(log) = log {
                if let Err(e) = log.set_level(&new.log) {
                    tracing::warn!("log level not changed: {e}");
                }
            }
            for (what, changed) in [
                ("listeners", new.listeners != running.listeners),
                ("database", new.database != running.database),
                ("workers", new.workers != running.workers),
                ("metrics", new.metrics != running.metrics),
                ("transport", new.transport != running.transport),
                ("web", new.web != running.web),
                ("s2s.hosts/ca_file/system_roots/direct_tls", s2s_shell_changed(&new, running)),
            ] {
                if changed {
                    tracing::warn!("{what}: the change needs a restart to apply");
                }
            }
            match (tls, new.tls_config()) {
                (Some(server), Some(c)) => match server.reload_from(&c) {
                    Ok(()) => tracing::info!("TLS certificates reloaded"),
                    Err(e) => tracing::error!("TLS certificates not reloaded, keeping the old ones: {e}"),
                },
                (None, Some(_)) => tracing::warn!("tls: adding TLS needs a restart"),
                (_, None) => {}
            }
            let _ = core.send(ToCore::Reconfigure {
                config: Box::new(new.core_config()),
                hosts: new.virtual_hosts(),
            });
            *running = new;
            tracing::info!("configuration reloaded from {}", path.display());
        }
        Err(e) => tracing::error!("configuration not reloaded, keeping the running one: {e}"),
    }
    notify::ready();
}

/// Whether the s2s settings the shell reads at startup changed.
fn s2s_shell_changed(new: &XmppdConfig, running: &XmppdConfig) -> bool {
    let (a, b) = (&new.core.s2s, &running.core.s2s);
    a.hosts != b.hosts || a.ca_file != b.ca_file || a.system_roots != b.system_roots || a.direct_tls != b.direct_tls
}

/// After SIGTERM: wait for connections to close and storage to settle.
async fn drain(life: &Lifecycle, gauges: &Arc<Gauges>, storage: &Storage, grace: Duration) {
    use std::sync::atomic::Ordering;
    let (g, s) = (Arc::clone(gauges), storage.clone());
    life.tracker().spawn(async move {
        // Storage answers may start more writes (offline messages): wait
        // until a quiet moment with nothing in flight.
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if s.in_flight() == 0 && g.connections.load(Ordering::Relaxed) == 0 {
                break;
            }
        }
    });
    match life.drain(grace).await {
        rtc_daemon::Drain::Abandoned { .. } => tracing::warn!(
            "stopped after {}s with {} connection(s) and {} storage request(s) left",
            grace.as_secs(),
            gauges.connections.load(Ordering::Relaxed),
            storage.in_flight()
        ),
        _ => tracing::info!("all sessions closed: stopping"),
    }
}
