//! The Prometheus view of the daemon (`metrics.listen`). Labels never carry
//! a user name or an address.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rtc_daemon::prometheus_client::collector::Collector;
use rtc_daemon::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use rtc_daemon::prometheus_client::metrics::counter::ConstCounter;
use rtc_daemon::prometheus_client::metrics::gauge::ConstGauge;
use rtc_daemon::prometheus_client::metrics::MetricType;

use super::driver::Gauges;
use super::storage::Storage;

/// Encodes the core task's counters on each scrape.
#[derive(Debug)]
pub(crate) struct XmppdCollector {
    gauges: Arc<Gauges>,
    storage: Storage,
}

impl XmppdCollector {
    pub(crate) fn new(gauges: Arc<Gauges>, storage: Storage) -> Self {
        Self { gauges, storage }
    }
}

fn value(a: &AtomicUsize) -> i64 {
    i64::try_from(a.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
}

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> fmt::Result {
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> fmt::Result {
    let v = u64::try_from(v).unwrap_or(0);
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

impl Collector for XmppdCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let g = &self.gauges;
        gauge(&mut enc, "c2s_connections", "Open client connections.", value(&g.connections))?;
        gauge(&mut enc, "sessions", "Bound sessions, including ones awaiting resumption.", value(&g.sessions))?;
        let pending = i64::try_from(self.storage.in_flight()).unwrap_or(i64::MAX);
        gauge(&mut enc, "storage_in_flight", "Storage requests not answered yet.", pending)?;
        counter(&mut enc, "auth_success", "Successful authentications.", value(&g.auth_ok))?;
        counter(&mut enc, "auth_failure", "Failed authentications.", value(&g.auth_failed))?;
        counter(&mut enc, "connections_refused", "Connections refused by per-source limits.", value(&g.refused))?;
        Ok(())
    }
}
