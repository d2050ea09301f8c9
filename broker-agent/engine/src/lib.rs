//! The bundled Kafka-wire-compatible broker engine. Its protocol and storage arrive with the
//! engine issue; for now the crate only names its version.

/// The engine's version, reported by `broker-agent --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
