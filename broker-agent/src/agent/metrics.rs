//! The agent's Prometheus metrics on `--metrics-listen` (`/metrics`): the host's CPU and
//! memory use, each storage backend's size and free space, the brokers it runs and how
//! many heartbeats failed. Updated with every heartbeat.

use std::{net::SocketAddr, sync::Arc};

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use tideway_api::agents::{HostMetrics, StorageCapacity};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

/// The agent's metrics and their registry.
pub struct AgentMetrics {
    registry: Registry,
    cpu_percent: Gauge<f64, std::sync::atomic::AtomicU64>,
    memory_used: Gauge,
    memory_total: Gauge,
    storage_total: Family<BackendLabel, Gauge>,
    storage_free: Family<BackendLabel, Gauge>,
    brokers_running: Gauge,
    heartbeat_failures: Counter,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tideway");
        let m = AgentMetrics {
            registry: Registry::default(),
            cpu_percent: Gauge::default(),
            memory_used: Gauge::default(),
            memory_total: Gauge::default(),
            storage_total: Family::default(),
            storage_free: Family::default(),
            brokers_running: Gauge::default(),
            heartbeat_failures: Counter::default(),
        };
        registry.register(
            "host_cpu_percent",
            "Busy share of all CPUs",
            m.cpu_percent.clone(),
        );
        registry.register(
            "host_memory_used_bytes",
            "Memory in use",
            m.memory_used.clone(),
        );
        registry.register(
            "host_memory_total_bytes",
            "Memory installed",
            m.memory_total.clone(),
        );
        registry.register(
            "host_storage_total_bytes",
            "Size of a storage backend",
            m.storage_total.clone(),
        );
        registry.register(
            "host_storage_free_bytes",
            "Free space of a storage backend",
            m.storage_free.clone(),
        );
        registry.register(
            "agent_brokers_running",
            "Broker processes running",
            m.brokers_running.clone(),
        );
        registry.register(
            "agent_heartbeat_failures",
            "Heartbeats the control plane did not answer",
            m.heartbeat_failures.clone(),
        );
        AgentMetrics { registry, ..m }
    }
}

impl AgentMetrics {
    /// Takes in what the agent is about to report.
    pub fn observe(&self, host: &HostMetrics, storage: &[StorageCapacity]) {
        self.cpu_percent.set(f64::from(host.cpu_percent));
        self.memory_used.set(host.memory_used_bytes as i64);
        self.memory_total.set(host.memory_total_bytes as i64);
        self.brokers_running.set(i64::from(host.brokers_running));
        for s in storage {
            let label = BackendLabel {
                backend: s.backend.to_string(),
            };
            self.storage_total
                .get_or_create(&label)
                .set(s.total_bytes as i64);
            self.storage_free
                .get_or_create(&label)
                .set(s.free_bytes as i64);
        }
    }

    pub fn heartbeat_failed(&self) {
        self.heartbeat_failures.inc();
    }

    fn render(&self) -> String {
        tideway_engine::metrics::text(&self.registry)
    }
}

async fn render(State(metrics): State<Arc<AgentMetrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, tideway_engine::metrics::CONTENT_TYPE)],
        metrics.render(),
    )
}

/// Serves `/metrics` on `addr` for the life of the process.
pub async fn serve(metrics: Arc<AgentMetrics>, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen for metrics on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    println!("tideway agent metrics on http://{bound}/metrics");
    tracing::info!(%bound, "serving agent metrics");
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(())
}
