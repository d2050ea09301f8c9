//! The bundled Kafka-wire-compatible broker engine: Kafka-style partition logs on the
//! agent-prepared volume, served over the Kafka protocol (codec from `kafka-protocol`).

pub mod api;
pub mod backoff;
pub mod broker;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod fsutil;
pub mod groups;
pub mod log;
pub mod log_dirs;
pub mod metrics;
pub mod producer_ids;
pub mod replication;
pub mod security;
pub mod server;
pub mod stats;
pub mod storage_budget;
pub mod topics;

/// The engine's version, reported by `broker-agent --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
