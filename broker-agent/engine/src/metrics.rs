//! The broker's Prometheus metrics, served as text on `/metrics` at `metrics-listen` (a
//! port apart from Kafka's): bytes in/out and messages in per topic, requests and their
//! latency per API, open connections, failed authentications, throttle time, and — read
//! when scraped — each partition's log size and the under-replicated partitions this
//! broker leads.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

use crate::broker::Broker;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: String,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 13 s.
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

/// Every metric of one broker, in its own registry (several brokers may share a process
/// in tests).
pub struct BrokerMetrics {
    registry: Registry,
    bytes_in: Family<TopicLabel, Counter>,
    bytes_out: Family<TopicLabel, Counter>,
    messages_in: Family<TopicLabel, Counter>,
    requests: Family<ApiLabel, Counter>,
    request_seconds: Family<ApiLabel, Histogram, fn() -> Histogram>,
    connections: Gauge,
    refused_connections: Counter,
    failed_authentications: Counter,
    throttle_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    log_size: Family<PartitionLabel, Gauge>,
    under_replicated: Gauge,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kafka");
        let m = BrokerMetrics {
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            messages_in: Family::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            connections: Gauge::default(),
            refused_connections: Counter::default(),
            failed_authentications: Counter::default(),
            throttle_seconds: Counter::default(),
            log_size: Family::default(),
            under_replicated: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "server_bytes_in",
            "Record bytes produced to a topic",
            m.bytes_in.clone(),
        );
        registry.register(
            "server_bytes_out",
            "Record bytes fetched from a topic",
            m.bytes_out.clone(),
        );
        registry.register(
            "server_messages_in",
            "Records produced to a topic",
            m.messages_in.clone(),
        );
        registry.register(
            "network_requests",
            "Requests answered, per API",
            m.requests.clone(),
        );
        registry.register(
            "network_request_duration_seconds",
            "Time to answer a request, per API",
            m.request_seconds.clone(),
        );
        registry.register(
            "server_connections",
            "Open client connections",
            m.connections.clone(),
        );
        registry.register(
            "server_refused_connections",
            "Connections closed at once for exceeding max-connections or max-connections-per-ip",
            m.refused_connections.clone(),
        );
        registry.register(
            "server_failed_authentications",
            "Failed TLS handshakes and SASL logins, and requests sent before logging in",
            m.failed_authentications.clone(),
        );
        registry.register(
            "server_throttle_seconds",
            "Time clients were throttled for their quotas",
            m.throttle_seconds.clone(),
        );
        registry.register(
            "log_size_bytes",
            "Bytes of a partition's log on disk",
            m.log_size.clone(),
        );
        registry.register(
            "server_under_replicated_partitions",
            "Partitions this broker leads whose ISR is smaller than their replicas",
            m.under_replicated.clone(),
        );
        BrokerMetrics { registry, ..m }
    }
}

impl BrokerMetrics {
    pub fn produced(&self, topic: &str, bytes: usize, messages: i64) {
        let label = TopicLabel {
            topic: topic.to_owned(),
        };
        self.bytes_in.get_or_create(&label).inc_by(bytes as u64);
        self.messages_in
            .get_or_create(&label)
            .inc_by(messages.max(0) as u64);
    }

    pub fn fetched(&self, topic: &str, bytes: usize) {
        if bytes > 0 {
            let label = TopicLabel {
                topic: topic.to_owned(),
            };
            self.bytes_out.get_or_create(&label).inc_by(bytes as u64);
        }
    }

    /// One request of `api` answered in `took`.
    pub fn answered(&self, api: &str, took: Duration) {
        let label = ApiLabel {
            api: api.to_owned(),
        };
        self.requests.get_or_create(&label).inc();
        self.request_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    pub fn authentication_failed(&self) {
        self.failed_authentications.inc();
    }

    pub fn connection_refused(&self) {
        self.refused_connections.inc();
    }

    pub fn throttled(&self, how_long: Duration) {
        self.throttle_seconds.inc_by(how_long.as_secs_f64());
    }

    /// Counts an open connection until the guard is dropped.
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.inc();
        ConnectionGuard(self.clone())
    }

    /// The text exposition, with the log sizes and under-replicated partitions as of now.
    pub fn render(&self, broker: &Broker) -> String {
        self.log_size.clear();
        for ((topic, partition), p) in broker.named_partitions() {
            let size = p.log.lock().unwrap_or_else(|e| e.into_inner()).size_bytes();
            self.log_size
                .get_or_create(&PartitionLabel { topic, partition })
                .set(size as i64);
        }
        self.under_replicated
            .set(broker.under_replicated_partitions() as i64);
        text(&self.registry)
    }
}

/// The content type of the text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A registry in the OpenMetrics text exposition.
pub fn text(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(e) = encode(&mut text, registry) {
        tracing::warn!(error = %e, "cannot encode the metrics");
    }
    text
}

/// Decrements the open-connection gauge when dropped.
pub struct ConnectionGuard(Arc<BrokerMetrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

impl Broker {
    /// Every partition with its topic and index.
    fn named_partitions(&self) -> Vec<((String, i32), Arc<crate::broker::Partition>)> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, p)| (k.clone(), p.clone())).collect()
    }

    /// Partitions this broker leads whose ISR is smaller than their replica set (none for
    /// a standalone broker).
    fn under_replicated_partitions(&self) -> usize {
        let Some(q) = self.quorum() else {
            return 0;
        };
        let me = self.config.node_id;
        q.image()
            .topics
            .values()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.leader == me && p.isr.len() < p.replicas.len())
            .count()
    }
}

async fn render(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
    let b = broker.clone();
    let text = crate::api::blocking(move || b.traffic.metrics.render(&b)).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

/// Serves `/metrics` on `listener` until `stop` changes.
pub async fn serve(
    broker: Arc<Broker>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(broker);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await
}

/// Binds `addr` for the metrics endpoint; the message names the address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen for metrics on {addr}: {e}"))
}
