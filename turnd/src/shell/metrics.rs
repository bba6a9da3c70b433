//! The Prometheus view of the workers' counters (`metrics.listen`).
//!
//! Workers publish their core's [`Metrics`](crate::core::Metrics) once a second;
//! a scrape adds them up. Labels come from small fixed sets only (direction,
//! reason, error code, method, result): never a user name or an address.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtc_daemon::prometheus_client::collector::Collector;
use rtc_daemon::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use rtc_daemon::prometheus_client::metrics::counter::ConstCounter;
use rtc_daemon::prometheus_client::metrics::gauge::ConstGauge;
use rtc_daemon::prometheus_client::metrics::MetricType;

use super::common::Common;
use crate::core::metrics::MethodCounts;

/// Encodes the summed worker counters on each scrape.
#[derive(Debug)]
pub(crate) struct TurndCollector(pub(crate) Arc<Common>);

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let v = i64::try_from(value).unwrap_or(i64::MAX);
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn labelled(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, label: &str, values: &[(&str, u64)]) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// `requests_by_method{method}` and `request_results{method,result}`: a
/// fixed table of eight methods and two results.
fn methods(enc: &mut DescriptorEncoder<'_>, m: &MethodCounts) -> fmt::Result {
    let mut family = enc.encode_descriptor(
        "requests_by_method",
        "STUN requests received by method (Send: indications received).",
        None,
        MetricType::Counter,
    )?;
    for (method, c) in m.iter() {
        ConstCounter::new(c.received).encode(family.encode_family(&[("method", method)])?)?;
    }
    let mut family = enc.encode_descriptor(
        "request_results",
        "Requests answered by method and result (Send: relayed or not).",
        None,
        MetricType::Counter,
    )?;
    for (method, c) in m.iter() {
        for (result, n) in [("success", c.success), ("error", c.error)] {
            ConstCounter::new(n).encode(family.encode_family(&[("method", method), ("result", result)])?)?;
        }
    }
    Ok(())
}

impl Collector for TurndCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let t = self.0.totals();
        let m = &t.core;
        gauge(&mut enc, "allocations_active", "Allocations currently held.", m.allocations_active)?;
        counter(&mut enc, "allocations_created", "Allocations created.", m.allocations_created)?;
        counter(&mut enc, "allocations_expired", "Allocations that ran out of lifetime.", m.allocations_expired)?;
        counter(&mut enc, "requests", "STUN requests received.", m.requests)?;
        counter(&mut enc, "binding_requests", "Binding requests answered.", m.binding_requests)?;
        methods(&mut enc, &m.methods)?;
        counter(&mut enc, "auth_failures", "Requests rejected for bad or unknown credentials.", m.auth_failures)?;
        counter(&mut enc, "auth_throttled", "Requests dropped after too many authentication failures.", m.auth_throttled)?;
        counter(
            &mut enc,
            "unauthenticated_dropped",
            "Unauthenticated requests dropped by the per-source rate limit.",
            m.unauthenticated_dropped,
        )?;
        counter(&mut enc, "key_lookups", "User and secret lookups in the database.", m.key_lookups)?;
        counter(&mut enc, "malformed_packets", "Packets that were neither valid STUN nor ChannelData.", m.malformed_packets)?;
        labelled(
            &mut enc,
            "relayed_packets",
            "Packets relayed, by direction.",
            "direction",
            &[("to_peer", m.packets_to_peers), ("to_client", m.packets_to_clients)],
        )?;
        labelled(
            &mut enc,
            "relayed_bytes",
            "Payload bytes relayed, by direction.",
            "direction",
            &[("to_peer", m.bytes_to_peers), ("to_client", m.bytes_to_clients)],
        )?;
        labelled(
            &mut enc,
            "relay_dropped",
            "Packets not relayed, by reason.",
            "reason",
            &[
                ("no_permission", m.dropped_no_permission),
                ("bandwidth", m.dropped_bandwidth),
                ("send_failed", t.send_drops),
            ],
        )?;
        let codes: Vec<(String, u64)> = m.errors.iter().map(|(c, n)| (c.to_string(), n)).collect();
        let codes: Vec<(&str, u64)> = codes.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        labelled(&mut enc, "error_responses", "Error responses sent, by ERROR-CODE.", "code", &codes)?;
        let s = &self.0.stream_counters;
        gauge(&mut enc, "tcp_connections_active", "Client TCP/TLS connections open.", t.streams)?;
        counter(&mut enc, "tcp_connections_accepted", "Client TCP/TLS connections accepted.", s.accepted.load(Ordering::Relaxed))?;
        counter(
            &mut enc,
            "tcp_connections_refused",
            "Client TCP/TLS connections refused by the per-source limits.",
            s.refused.load(Ordering::Relaxed),
        )?;
        counter(
            &mut enc,
            "tcp_connections_malformed",
            "Client TCP/TLS connections closed for non-STUN data or silence.",
            s.malformed.load(Ordering::Relaxed),
        )?;
        Ok(())
    }
}
