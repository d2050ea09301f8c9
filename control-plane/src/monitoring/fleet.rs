//! The platform admin's fleet view: clusters by state, hosts with what their brokers
//! store against their storage, the busiest tenants, and recent alerts; and the brokers'
//! metrics endpoints for Prometheus' service discovery.

use tideway_api::{
    hosts::Host,
    monitoring::{Alert, PrometheusTargetGroup},
};

use crate::{
    auth::Caller,
    db::{self, samples::TenantActivity},
    error::ApiError,
    service,
    state::AppState,
};

/// A host with its brokers' data and its storage.
pub struct HostLine {
    pub host: Host,
    pub used_bytes: i64,
    pub total_bytes: u64,
}

pub struct Fleet {
    pub phases: Vec<(String, i64)>,
    pub hosts: Vec<HostLine>,
    pub tenants: Vec<TenantActivity>,
    pub alerts: Vec<Alert>,
}

/// Every broker's metrics endpoint, for Prometheus' HTTP service discovery (platform
/// admin).
pub async fn prometheus_targets(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<PrometheusTargetGroup>, ApiError> {
    caller.require_platform_admin()?;
    let fresh = state.host_offline_after().num_seconds();
    let endpoints = db::brokers::metrics_endpoints(&state.db, fresh).await?;
    Ok(endpoints
        .into_iter()
        .map(|(cluster, cluster_id, tenant, host, address, node, port)| {
            let labels = [
                ("tideway_cluster", cluster),
                ("tideway_cluster_id", cluster_id.to_string()),
                ("tideway_tenant", tenant),
                ("tideway_host", host),
                ("tideway_node_id", node.to_string()),
            ];
            PrometheusTargetGroup {
                targets: vec![format!("{address}:{port}")],
                labels: labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            }
        })
        .collect())
}

/// The fleet as a platform admin sees it.
pub async fn overview(state: &AppState, caller: &Caller) -> Result<Fleet, ApiError> {
    caller.require_platform_admin()?;
    let used = db::samples::disk_used_per_host(&state.db).await?;
    let hosts = db::hosts::list(&state.db, state.host_offline_after())
        .await?
        .into_iter()
        .map(|host| HostLine {
            used_bytes: used.get(&host.id).copied().unwrap_or(0),
            total_bytes: host.storage.iter().map(|s| s.total_bytes).sum(),
            host,
        })
        .collect();
    Ok(Fleet {
        phases: db::samples::clusters_by_phase(&state.db).await?,
        hosts,
        tenants: db::samples::top_tenants(&state.db, 10).await?,
        alerts: service::alerting::recent(state, caller, 20).await?,
    })
}
