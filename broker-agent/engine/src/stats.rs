//! Traffic counters of a broker — record bytes produced to it and fetched from it since
//! it started, and failed authentications — and the small file it rewrites every second
//! (`meta/stats.json` in its data dir) so that the agent on its host can report them
//! without speaking Kafka, with the port of its metrics endpoint. The same events feed
//! the Prometheus metrics, per topic.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU16, AtomicU64, Ordering},
        Arc,
    },
};

use serde::{Deserialize, Serialize};

use crate::{fsutil::write_atomic, metrics::BrokerMetrics};

/// Where the stats file lives under a data dir.
pub const STATS_FILE: &str = "meta/stats.json";

/// Counters updated by the request handlers.
#[derive(Default)]
pub struct TrafficStats {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    failed_authentications: AtomicU64,
    metrics_port: AtomicU16,
    /// The Prometheus view of the same events, and more.
    pub metrics: Arc<BrokerMetrics>,
}

/// What the stats file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficSnapshot {
    /// Record bytes appended by produce requests.
    pub bytes_in: u64,
    /// Record bytes returned by fetch requests.
    pub bytes_out: u64,
    /// Failed TLS handshakes and SASL authentications, and requests sent unauthenticated.
    #[serde(default)]
    pub failed_authentications: u64,
    /// Where the broker serves `/metrics`, when it does.
    #[serde(default)]
    pub metrics_port: Option<u16>,
}

impl TrafficStats {
    /// `messages` records of `bytes` appended to `topic`.
    pub fn produced(&self, topic: &str, bytes: usize, messages: i64) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.metrics.produced(topic, bytes, messages);
    }

    pub fn fetched(&self, topic: &str, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.metrics.fetched(topic, bytes);
    }

    pub fn authentication_failed(&self) {
        self.failed_authentications.fetch_add(1, Ordering::Relaxed);
        self.metrics.authentication_failed();
    }

    /// Records the port `/metrics` is served on, for the agent.
    pub fn serving_metrics_on(&self, port: u16) {
        self.metrics_port.store(port, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            failed_authentications: self.failed_authentications.load(Ordering::Relaxed),
            metrics_port: match self.metrics_port.load(Ordering::Relaxed) {
                0 => None,
                port => Some(port),
            },
        }
    }

    /// Rewrites the stats file under `data_dir`.
    pub fn publish(&self, data_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&self.snapshot())?;
        write_atomic(&data_dir.join(STATS_FILE), &bytes)
    }
}

/// The counters a broker last published under `data_dir`, if any.
pub fn read_published(data_dir: &Path) -> Option<TrafficSnapshot> {
    let bytes = std::fs::read(data_dir.join(STATS_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_published_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("meta")).expect("meta");
        assert_eq!(read_published(dir.path()), None);
        let stats = TrafficStats::default();
        stats.produced("t", 100, 1);
        stats.produced("t", 20, 1);
        stats.fetched("t", 7);
        stats.authentication_failed();
        stats.serving_metrics_on(9404);
        stats.publish(dir.path()).expect("publish");
        assert_eq!(
            read_published(dir.path()),
            Some(TrafficSnapshot {
                bytes_in: 120,
                bytes_out: 7,
                failed_authentications: 1,
                metrics_port: Some(9404),
            })
        );
    }
}
