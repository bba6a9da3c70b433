//! A Prometheus scrape endpoint: `GET /metrics` on a tiny HTTP/1.1 server.
//!
//! Each daemon registers its metrics in a [`SharedRegistry`] and, when
//! `metrics.listen` is configured, runs a [`MetricsServer`]. The server answers
//! one request per connection, limits the request head to 8 KiB, waits at most
//! 5 seconds for it, and serves at most 32 connections at once.
//!
//! **Never label a metric by user name, peer address, call-id or any other
//! value chosen by clients**: every distinct label value is a new time series
//! kept forever, which is how coturn's per-user metrics leaked memory. Label by
//! small fixed sets only (listener, transport, result code).

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::http::{head_status, response, route, Head, Route, OPENMETRICS_TYPE};
use crate::ready::{Listener, Proto};
use crate::shutdown::Shutdown;

/// How long a client may take to send its request head, and to read the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed immediately.
pub const MAX_CONNECTIONS: usize = 32;

/// The `metrics:` section of a daemon configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the scrape endpoint, e.g. `127.0.0.1:9641`. Absent: disabled.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

/// A registry shared between the code that updates metrics and the endpoint.
pub type SharedRegistry = Arc<RwLock<Registry>>;

/// A new empty registry whose metric names all start with `prefix` (e.g. `turnd`).
pub fn shared_registry(prefix: &str) -> SharedRegistry {
    Arc::new(RwLock::new(Registry::with_prefix(prefix)))
}

/// The bound scrape endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: SharedRegistry,
    io_timeout: Duration,
}

impl MetricsServer {
    /// Bind the endpoint (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, registry: SharedRegistry) -> Result<Self> {
        let bind_err = |source| Error::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(Self {
            listener,
            local_addr,
            registry,
            io_timeout: IO_TIMEOUT,
        })
    }

    /// Replace [`IO_TIMEOUT`] for this server.
    pub fn with_io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The listener description for [`crate::announce`] and [`crate::ready()`].
    pub fn listener(&self) -> Listener {
        Listener::new("metrics", Proto::Http, self.local_addr)
    }

    /// Serve scrapes until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                () = shutdown.wait() => return,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!("metrics accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                continue; // over the limit: dropping the stream closes it
            };
            let registry = Arc::clone(&self.registry);
            let timeout = self.io_timeout;
            tokio::spawn(async move {
                serve_connection(stream, &registry, timeout).await;
                drop(slot);
            });
        }
    }
}

/// Read one request head; `None` when the client closed or stalled.
async fn read_head(stream: &mut TcpStream) -> Option<(Head, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        match head_status(&buf) {
            Head::Incomplete => {}
            status => return Some((status, buf)),
        }
    }
}

fn encode(registry: &SharedRegistry) -> Option<String> {
    let mut body = String::new();
    let registry = registry.read().unwrap_or_else(PoisonError::into_inner);
    prometheus_client::encoding::text::encode(&mut body, &registry).ok()?;
    Some(body)
}

async fn serve_connection(mut stream: TcpStream, registry: &SharedRegistry, timeout: Duration) {
    let Ok(Some((status, head))) = tokio::time::timeout(timeout, read_head(&mut stream)).await
    else {
        return;
    };
    let reply = match (status, route(&head)) {
        (Head::TooLarge, _) => response(
            "431 Request Header Fields Too Large",
            "text/plain",
            "header too large\n",
            true,
        ),
        (_, Route::Metrics { body }) => match encode(registry) {
            Some(text) => response("200 OK", OPENMETRICS_TYPE, &text, body),
            None => response(
                "500 Internal Server Error",
                "text/plain",
                "encoding failed\n",
                body,
            ),
        },
        (_, Route::NotFound) => response("404 Not Found", "text/plain", "not found\n", true),
        (_, Route::BadRequest) => response("400 Bad Request", "text/plain", "bad request\n", true),
    };
    let _ = tokio::time::timeout(timeout, async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    })
    .await;
}
