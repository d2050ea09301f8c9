//! Hosts that run broker agents, as the control plane knows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    agents::{HostCapacity, PortRange, StorageCapacity},
    clusters::HardwareProfile,
    Generation, HostId,
};

/// A host registered by its agent.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Host {
    pub id: HostId,
    pub name: String,
    pub address: String,
    pub hardware_profile: HardwareProfile,
    pub labels: serde_json::Value,
    /// `online` or `offline` (silent for longer than the control plane's
    /// `--host-offline-after`).
    pub state: String,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub agent_version: Option<String>,
    pub capacity: HostCapacity,
    pub storage: Vec<StorageCapacity>,
    /// CPU and memory use with the last heartbeat.
    #[serde(default)]
    pub metrics: Option<crate::agents::HostMetrics>,
    pub port_range: Option<PortRange>,
    pub generation: Generation,
    pub observed_generation: Option<Generation>,
}
