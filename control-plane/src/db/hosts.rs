//! Hosts registered by agents; a host is online when it was heard from recently.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, FromRow, PgPool};
use tideway_api::{
    agents::{HostCapacity, HostMetrics, PortRange, StorageCapacity},
    clusters::HardwareProfile,
    hosts::Host,
    Generation, HostId,
};

#[derive(FromRow)]
struct HostRow {
    id: HostId,
    name: String,
    address: String,
    hardware_profile: HardwareProfile,
    labels: serde_json::Value,
    last_seen_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    agent_version: Option<String>,
    capacity: Json<HostCapacity>,
    storage: Json<Vec<StorageCapacity>>,
    metrics: Option<Json<HostMetrics>>,
    port_first: Option<i32>,
    port_last: Option<i32>,
    generation: Generation,
    observed_generation: Option<Generation>,
}

/// Every host by name, `online` when seen within `offline_after`.
pub async fn list(db: &PgPool, offline_after: chrono::Duration) -> sqlx::Result<Vec<Host>> {
    let rows: Vec<HostRow> = sqlx::query_as(
        "SELECT id, name, address, hardware_profile, labels, last_seen_at, created_at, agent_version,
                capacity, storage, metrics, port_first, port_last, generation, observed_generation
         FROM hosts ORDER BY name",
    )
    .fetch_all(db)
    .await?;
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|r| Host {
            state: match r.last_seen_at {
                Some(seen) if now - seen <= offline_after => "online".into(),
                _ => "offline".into(),
            },
            port_range: match (r.port_first, r.port_last) {
                (Some(first), Some(last)) => Some(PortRange {
                    first: first as u16,
                    last: last as u16,
                }),
                _ => None,
            },
            id: r.id,
            name: r.name,
            address: r.address,
            hardware_profile: r.hardware_profile,
            labels: r.labels,
            last_seen_at: r.last_seen_at,
            created_at: r.created_at,
            agent_version: r.agent_version,
            capacity: r.capacity.0,
            storage: r.storage.0,
            metrics: r.metrics.map(|m| m.0),
            generation: r.generation,
            observed_generation: r.observed_generation,
        })
        .collect())
}
