//! The bundled Kafka-wire-compatible broker engine: Kafka-style partition logs on the
//! agent-prepared volume, and (from the wire modules) the Kafka protocol over TCP.

pub mod fsutil;
pub mod log;

/// The engine's version, reported by `broker-agent --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
