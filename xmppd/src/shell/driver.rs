//! The core task: owns the one [`Server`], feeds it what connection tasks
//! and storage workers report, and hands its outputs back to them.
//!
//! Outputs for one connection produced by one call are delivered as a single
//! batch, so a connection task sees `<proceed/>` and the order to start TLS
//! together and never reads the client's TLS handshake as XML.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::core::{
    ConnId, CoreConfig, Event, Listener, Output, RequestId, Server, StorageAnswer, StorageError,
    TlsInfo, VirtualHost,
};

use super::mailbox;
use super::storage::Storage;

/// What the core task receives.
#[derive(Debug)]
pub(crate) enum ToCore {
    /// A connection was accepted; answer with its id, or `None` to close it.
    Opened {
        peer: SocketAddr,
        listener: Listener,
        tx: mailbox::Sender,
        reply: oneshot::Sender<Option<ConnId>>,
    },
    /// The TLS handshake of a connection finished.
    Tls { conn: ConnId, info: TlsInfo },
    /// Decrypted bytes from a client.
    Bytes { conn: ConnId, data: Vec<u8> },
    /// An outgoing server connection is up (`Event::ConnectS2s`).
    S2sConnected { conn: ConnId },
    /// The client went away (EOF, error, timeout).
    Closed { conn: ConnId },
    /// A storage worker's answer.
    Storage {
        id: RequestId,
        result: Result<StorageAnswer, StorageError>,
    },
    /// SIGHUP: new settings.
    Reconfigure { config: Box<CoreConfig>, hosts: Vec<VirtualHost> },
    /// SIGTERM: `<system-shutdown/>` to everyone; refuse new connections.
    Shutdown,
}

/// What a connection task is told to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToConn {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Run the server side of a TLS handshake now.
    StartTls,
    /// Stop reading.
    Pause,
    /// Read again.
    Resume,
    /// Flush and close.
    Close,
}

/// Counters shared with the metrics endpoint and the drain.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    pub connections: AtomicUsize,
    pub sessions: AtomicUsize,
    pub auth_ok: AtomicUsize,
    pub auth_failed: AtomicUsize,
    pub refused: AtomicUsize,
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Run the core until every sender of `rx` is gone.
pub(crate) async fn run(
    mut core: Server,
    mut rx: mpsc::UnboundedReceiver<ToCore>,
    storage: Storage,
    gauges: Arc<Gauges>,
    s2s: Arc<super::s2s_out::S2sContext>,
) {
    let mut conns: HashMap<ConnId, mailbox::Sender> = HashMap::new();
    let mut stopping = false;
    let mut deadline = Instant::now() + Duration::from_secs(3600);
    let mut last_wall = (Instant::now(), unix_now());
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => Some(m), None => break },
            () = tokio::time::sleep_until(deadline.into()) => None,
        };
        let now = Instant::now();
        check_wall_clock(&mut core, &mut last_wall, now);
        match msg {
            None => core.handle_timeout(now),
            Some(ToCore::Opened { peer, listener, tx, reply }) => {
                let id = if stopping {
                    None
                } else {
                    match core.handle_connection_opened(peer, listener, now) {
                        Ok(id) => Some(id),
                        Err(reason) => {
                            gauges.refused.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(%peer, "connection refused: {reason}");
                            None
                        }
                    }
                };
                if let Some(id) = id {
                    conns.insert(id, tx);
                }
                if reply.send(id).is_err() {
                    if let Some(id) = id {
                        core.handle_connection_closed(id, now);
                    }
                }
            }
            Some(ToCore::Tls { conn, info }) => core.handle_tls_established(conn, info, now),
            Some(ToCore::S2sConnected { conn }) => core.handle_s2s_connected(conn, now),
            Some(ToCore::Bytes { conn, data }) => core.handle_bytes(conn, &data, now),
            Some(ToCore::Closed { conn }) => {
                conns.remove(&conn);
                core.handle_connection_closed(conn, now);
            }
            Some(ToCore::Storage { id, result }) => core.handle_storage(id, result, now),
            Some(ToCore::Reconfigure { config, hosts }) => core.reconfigure(*config, &hosts, now),
            Some(ToCore::Shutdown) => {
                stopping = true;
                core.shutdown(now);
            }
        }
        deadline = drain(&mut core, &mut conns, &storage, &gauges, &s2s);
        gauges.connections.store(core.connection_count(), Ordering::Relaxed);
        gauges.sessions.store(core.session_count(), Ordering::Relaxed);
    }
}

/// Deliver every pending output; return the core's next deadline.
fn drain(
    core: &mut Server,
    conns: &mut HashMap<ConnId, mailbox::Sender>,
    storage: &Storage,
    gauges: &Gauges,
    s2s: &Arc<super::s2s_out::S2sContext>,
) -> Instant {
    let mut spawned = Vec::new();
    let mut batches: Vec<(ConnId, Vec<ToConn>)> = Vec::new();
    let mut push = |conn: ConnId, cmd: ToConn| match batches.iter_mut().find(|(c, _)| *c == conn) {
        Some((_, b)) => b.push(cmd),
        None => batches.push((conn, vec![cmd])),
    };
    let deadline = loop {
        match core.poll_output() {
            Output::Transmit(t) => push(t.conn, ToConn::Write(t.data)),
            Output::Timeout(at) => break at,
            Output::Event(e) => match e {
                Event::StartTls { conn } => push(conn, ToConn::StartTls),
                Event::Close { conn } => push(conn, ToConn::Close),
                Event::PauseReading { conn } => push(conn, ToConn::Pause),
                Event::ResumeReading { conn } => push(conn, ToConn::Resume),
                Event::Storage { id, request } => storage.submit(id, request),
                Event::Authenticated { conn, user, mechanism } => {
                    gauges.auth_ok.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(conn = conn.as_u64(), %user, mechanism, "authenticated");
                }
                Event::ConnectS2s { conn, local, remote } => {
                    let (tx, rx) = crate::shell::mailbox::mailbox();
                    spawned.push((conn, tx));
                    tracing::info!(conn = conn.as_u64(), %local, %remote, "s2s connecting");
                    tokio::spawn(super::s2s_out::run(conn, local, remote, rx, Arc::clone(s2s)));
                }
                Event::S2sAuthenticated { conn, domain, method } => {
                    tracing::info!(conn = conn.as_u64(), %domain, method, "s2s authenticated");
                }
                Event::S2sAuthFailed { conn, domain } => {
                    tracing::warn!(conn = conn.as_u64(), %domain, "s2s authentication refused");
                }
                Event::AuthFailed { conn, peer, user } => {
                    gauges.auth_failed.fetch_add(1, Ordering::Relaxed);
                    // One fixed-format line per failure, for fail2ban.
                    tracing::warn!(
                        conn = conn.as_u64(),
                        "authentication failed for {} from {peer}",
                        user.as_deref().unwrap_or("-")
                    );
                }
            },
        }
    };
    conns.extend(spawned);
    for (conn, batch) in batches {
        // A task that is gone has already reported (or will report) Closed.
        if batch.contains(&ToConn::Close) {
            if let Some(tx) = conns.remove(&conn) {
                let _ = tx.send(batch);
            }
        } else if let Some(tx) = conns.get(&conn) {
            let _ = tx.send(batch);
        }
    }
    deadline
}

/// Resynchronise the core's wall clock when the system clock was stepped.
fn check_wall_clock(core: &mut Server, last: &mut (Instant, Duration), now: Instant) {
    let wall = unix_now();
    let expected = last.1 + now.saturating_duration_since(last.0);
    let drift = wall.abs_diff(expected);
    if drift > Duration::from_secs(2) {
        tracing::info!("system clock stepped by {}s; resynchronising", drift.as_secs());
        core.set_wall_clock(now, wall);
    }
    *last = (now, wall);
}
