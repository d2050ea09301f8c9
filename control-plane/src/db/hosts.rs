//! Hosts registered by agents; a host is online when it was heard from recently.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use tideway_api::{clusters::HardwareProfile, hosts::Host, HostId};

#[derive(FromRow)]
struct HostRow {
    id: HostId,
    name: String,
    address: String,
    hardware_profile: HardwareProfile,
    labels: serde_json::Value,
    last_seen_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// Every host by name, `online` when seen within `offline_after`.
pub async fn list(db: &PgPool, offline_after: chrono::Duration) -> sqlx::Result<Vec<Host>> {
    let rows: Vec<HostRow> = sqlx::query_as(
        "SELECT id, name, address, hardware_profile, labels, last_seen_at, created_at
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
            id: r.id,
            name: r.name,
            address: r.address,
            hardware_profile: r.hardware_profile,
            labels: r.labels,
            last_seen_at: r.last_seen_at,
            created_at: r.created_at,
        })
        .collect())
}
