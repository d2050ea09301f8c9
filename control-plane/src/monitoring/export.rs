//! Fleet-level gauges on the control plane's own `/metrics`, set by every sampling pass:
//! clusters per phase, hosts online and offline, firing alerts per rule, and each
//! consumer group's lag and verdict (0 OK, 1 WARNING, 2 REWIND, 3 STALL, 4 STOP,
//! 5 ERROR), so that a site's Prometheus can alert on them too.

use tideway_api::monitoring::LagStatus;

use super::consumer_groups::ClusterGroups;
use crate::{db, error::ApiError, state::AppState};

/// The phases of approved clusters, reported even at zero so that a phase emptied does
/// not keep its last count.
const APPROVED_PHASES: &[&str] = &["Provisioning", "Ready", "Degraded"];

/// The gauge value of a verdict.
pub fn status_value(s: LagStatus) -> f64 {
    match s {
        LagStatus::Ok => 0.0,
        LagStatus::Warning => 1.0,
        LagStatus::Rewind => 2.0,
        LagStatus::Stall => 3.0,
        LagStatus::Stop => 4.0,
        LagStatus::Error => 5.0,
    }
}

pub async fn publish(state: &AppState, groups: &[ClusterGroups]) -> Result<(), ApiError> {
    let mut phases: std::collections::BTreeMap<String, i64> =
        APPROVED_PHASES.iter().map(|p| (p.to_string(), 0)).collect();
    phases.extend(db::samples::clusters_by_phase(&state.db).await?);
    for (phase, n) in phases {
        metrics::gauge!("tideway_clusters", "phase" => phase).set(n as f64);
    }
    let hosts = db::hosts::list(&state.db, state.host_offline_after()).await?;
    for s in ["online", "offline"] {
        let n = hosts.iter().filter(|h| h.state == s).count();
        metrics::gauge!("tideway_hosts", "state" => s).set(n as f64);
    }
    let firing = db::alerts::firing(&state.db).await?;
    for def in super::alerts::RULES {
        let n = firing.iter().filter(|a| a.rule == def.name).count();
        metrics::gauge!("tideway_alerts_firing", "rule" => def.name, "severity" => def.severity)
            .set(n as f64);
    }
    for (cluster, groups) in groups {
        for g in groups {
            let labels = [
                ("cluster", cluster.name.clone()),
                ("cluster_id", cluster.id.to_string()),
                ("group", g.group_id.clone()),
            ];
            metrics::gauge!("tideway_consumer_group_lag", &labels).set(g.total_lag as f64);
            metrics::gauge!("tideway_consumer_group_status", &labels).set(status_value(g.status));
            let seconds = g.max_time_lag_ms.unwrap_or(0) as f64 / 1000.0;
            metrics::gauge!("tideway_consumer_group_time_lag_seconds", &labels).set(seconds);
        }
    }
    Ok(())
}
