//! The tokio shell around [`crate::core`]: sockets, threads, the database,
//! TLS, signals and metrics. [`run`] is all the `turnd` binary calls.
//!
//! # Threads
//!
//! - The control thread (the caller's current-thread runtime) handles signals,
//!   reloads, the metrics endpoint and user-database queries.
//! - `workers` worker threads (0 = one per CPU core, at most 256) each run a
//!   current-thread runtime with their own [`Server`](crate::core::Server),
//!   their own `SO_REUSEPORT` socket on every listening address, and the relay
//!   sockets of the allocations they created. A client's 5-tuple always lands
//!   on the same worker, so the hot path takes no lock and crosses no channel.
//!
//! # The hot path
//!
//! UDP sockets are read with `recvmmsg` (up to 32 datagrams per call) and GRO
//! through quinn-udp, and read again only after a new readiness edge once a
//! batch came back short. Relayed datagrams to one destination go out in one
//! GSO send when the kernel supports it. Relay sockets have no buffer or task
//! of their own: they sit in one edge-triggered epoll set per worker
//! (`relay_poll.rs`), whose single task reads every ready socket into the
//! worker's shared buffers, where the core frames ChannelData or Data
//! indications in place; what they relay to clients leaves the listening
//! socket in `sendmmsg` batches (`mmsg.rs`). Relay sockets allow IP
//! fragmentation unless the client sent DONT-FRAGMENT (RFC 8656 §14.8).
//!
//! # Lifecycle
//!
//! The `READY` line is printed (and systemd told) once every worker has
//! bound its sockets. SIGHUP re-reads the configuration (log level, realm,
//! credentials, limits (the TCP/TLS ones for new connections), peer policy),
//! forgets cached keys so database changes apply at once, and reloads TLS
//! certificates for new handshakes. SIGTERM
//! stops accepting connections, puts every worker's core in draining mode
//! (new Allocate requests get 508 Insufficient Capacity; existing allocations
//! keep working), waits up to `shutdown_grace_secs` for allocations to end,
//! then returns.
//!
//! Deliberately not here: any protocol decision (the core makes them all),
//! DTLS, and changing listeners, relay addresses or the database without a
//! restart.

mod client_udp;
mod common;
mod error;
mod keys;
mod listen;
mod metrics;
mod mmsg;
mod relay;
mod relay_poll;
mod sockopt;
mod stream;
mod tcp_relay;
mod udp;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rtc_daemon::logging::LogHandle;
use rtc_daemon::{notify, Event, Lifecycle, MetricsServer, ShutdownTrigger};
use rtc_tls::{TlsConfig, TlsServer};
use rtc_userdb::UserDb;
use tokio::sync::mpsc;

pub use error::ShellError;
pub use sockopt::{fragmentation, set_fragmentation, Fragmentation};

use crate::config::{ListenerProto, TurndConfig};
use crate::core::Shared;
use common::Common;
use keys::KeyService;

/// ALPN protocol accepted on TLS listeners (RFC 7443).
pub const ALPN_STUN_TURN: &[u8] = b"stun.turn";

/// Most worker threads: the top byte of an RFC 6062 connection id names one.
pub const MAX_WORKERS: usize = 256;

/// What [`run`] needs besides the lifecycle.
#[derive(Debug)]
pub struct Startup {
    /// The file the configuration came from, re-read on SIGHUP.
    pub config_path: PathBuf,
    /// The loaded, validated configuration.
    pub config: TurndConfig,
    /// The logger's handle, to apply a reloaded `log` level.
    pub log: Option<LogHandle>,
}

/// The number of workers for a configured `workers` value.
pub fn worker_count(configured: usize) -> usize {
    rtc_daemon::cli::worker_count(configured, MAX_WORKERS)
}

/// The certificates TLS listeners serve: the configured ones, or a generated
/// self-signed pair (created on first use).
fn tls_source(config: &TurndConfig) -> Result<Option<TlsConfig>, rtc_tls::TlsError> {
    let Some(tls) = &config.tls else { return Ok(None) };
    if let Some(c) = tls.tls_config() {
        return Ok(Some(c));
    }
    match &tls.self_signed {
        Some(s) => {
            let (cert, key) = rtc_tls::ensure_self_signed(&s.dir, &s.names)?;
            Ok(Some(TlsConfig::single(cert, key)))
        }
        None => Ok(None),
    }
}

fn wants_tls(config: &TurndConfig) -> bool {
    config.listeners.iter().any(|l| l.proto == ListenerProto::Tls)
}

/// `--check-config`: load the configured certificates (and an existing
/// self-signed pair) the way the daemon would. The error names the file and key.
pub fn check_certificates(path: &Path, config: &TurndConfig) -> Result<(), rtc_daemon::Error> {
    let Some(tls) = &config.tls else { return Ok(()) };
    let source = match (&tls.tls_config(), &tls.self_signed) {
        (Some(c), _) => Some(("tls.certificates", c.clone())),
        (None, Some(s)) => {
            let cert = s.dir.join(rtc_tls::SELF_SIGNED_CERT);
            let key = s.dir.join(rtc_tls::SELF_SIGNED_KEY);
            // Not generated yet: the daemon will create it.
            (cert.is_file() && key.is_file()).then(|| ("tls.self_signed", TlsConfig::single(cert, key)))
        }
        (None, None) => None,
    };
    match source {
        Some((key, c)) => TlsServer::new(&c, &[ALPN_STUN_TURN])
            .map(drop)
            .map_err(|e| rtc_daemon::Error::invalid(path, key, e.to_string())),
        None => Ok(()),
    }
}

/// Serve until SIGTERM (or [`rtc_daemon::LifecycleHandle::stop`]) and the drain
/// that follows. Call inside a current-thread tokio runtime; `life` must not
/// have its signals installed yet.
pub async fn run(startup: Startup, mut life: Lifecycle) -> Result<(), ShellError> {
    life.install_signals()?;
    let Startup { config_path, mut config, log } = startup;
    let db = UserDb::open(&config.database).await?;
    let tls = match tls_source(&config)? {
        Some(c) if wants_tls(&config) => Some(TlsServer::new(&c, &[ALPN_STUN_TURN])?),
        _ => None,
    };
    let workers = worker_count(config.workers);
    if config.workers > MAX_WORKERS {
        tracing::warn!("workers: using {MAX_WORKERS}, the most supported");
    }
    let bound = listen::bind_all(&config.listeners, workers)?;

    let mut nonce_key = [0u8; 32];
    getrandom::getrandom(&mut nonce_key).map_err(ShellError::Random)?;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
    let common = Arc::new(Common::new(
        Shared::new(nonce_key),
        Arc::new(config.core_config()),
        config.stream_limits,
        config.relay.clone(),
        KeyService::new(db, tokio::runtime::Handle::current()),
        tls,
        life.shutdown(),
        senders,
    ));

    let mut listeners = bound.listeners.clone();
    // The endpoint keeps answering while allocations drain; it stops with the process.
    let (_metrics_alive, metrics_token) = ShutdownTrigger::new();
    if let Some(addr) = config.metrics.listen {
        let registry = rtc_daemon::metrics::shared_registry("turnd");
        registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .register_collector(Box::new(metrics::TurndCollector(Arc::clone(&common))));
        let server = MetricsServer::bind(addr, registry).await?;
        listeners.push(server.listener());
        tokio::spawn(server.run(metrics_token));
    }

    for (index, (sockets, mail)) in bound.workers.into_iter().zip(receivers).enumerate() {
        let failed = |reason: String| ShellError::Worker { index, reason };
        let id = u8::try_from(index).map_err(|_| failed("too many workers".into()))?;
        let started = worker::spawn(id, Arc::clone(&common), sockets, mail).map_err(|e| failed(e.to_string()))?;
        started.await.map_err(|_| failed("exited".into()))?.map_err(failed)?;
    }
    for l in &listeners {
        rtc_daemon::announce(l);
    }
    tracing::info!(
        workers,
        relay = ?config.relay.addresses,
        ports = %format!("{}-{}", config.relay.port_min, config.relay.port_max),
        realm = %config.realm,
        "turnd started"
    );
    rtc_daemon::ready("turnd", &listeners)?;

    while let Event::Reload = life.next_event().await {
        reload(&config_path, &mut config, log.as_ref(), &common);
    }
    notify::stopping();
    common.broadcast(|| worker::Mail::Draining);
    drain(&life, &common, Duration::from_secs(config.shutdown_grace_secs)).await;
    Ok(())
}

/// SIGHUP: apply what can change without a restart.
fn reload(path: &Path, running: &mut TurndConfig, log: Option<&LogHandle>, common: &Common) {
    notify::reloading();
    match TurndConfig::load(path) {
        Ok(new) => {
            if let Some(log) = log {
                if let Err(e) = log.set_level(&new.log) {
                    tracing::warn!("log level not changed: {e}");
                }
            }
            for (what, changed) in [
                ("listeners", new.listeners != running.listeners),
                ("relay", new.relay != running.relay),
                ("database", new.database != running.database),
                ("workers", new.workers != running.workers),
                ("metrics", new.metrics != running.metrics),
            ] {
                if changed {
                    tracing::warn!("{what}: the change needs a restart to apply");
                }
            }
            if let Some(tls) = &common.tls {
                match tls_source(&new) {
                    Ok(Some(c)) => match tls.reload_from(&c) {
                        Ok(()) => tracing::info!("TLS certificates reloaded"),
                        Err(e) => tracing::error!("TLS certificates not reloaded, keeping the old ones: {e}"),
                    },
                    Ok(None) => tracing::warn!("tls: removing TLS needs a restart; keeping the old certificates"),
                    Err(e) => tracing::error!("TLS certificates not reloaded, keeping the old ones: {e}"),
                }
            }
            common.set_core_config(Arc::new(new.core_config()));
            common.set_stream_limits(new.stream_limits);
            *running = new;
            tracing::info!("configuration reloaded from {}", path.display());
        }
        Err(e) => tracing::error!("configuration not reloaded, keeping the running one: {e}"),
    }
    // Users and secrets live in the database: forget what the workers cached.
    common.broadcast(|| worker::Mail::ForgetKeys);
    notify::ready();
}

/// After SIGTERM: workers stopped accepting; wait for allocations to end.
async fn drain(life: &Lifecycle, common: &Arc<Common>, grace: Duration) {
    let active = common.shared.allocations();
    if active == 0 {
        tracing::info!("no allocations left: stopping");
        return;
    }
    tracing::info!("waiting up to {}s for {active} allocation(s) to end", grace.as_secs());
    let shared = Arc::clone(&common.shared);
    life.tracker().spawn(async move {
        while shared.allocations() > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    if let rtc_daemon::Drain::Abandoned { .. } = life.drain(grace).await {
        tracing::info!("{} allocation(s) dropped at shutdown", common.shared.allocations());
    }
}
