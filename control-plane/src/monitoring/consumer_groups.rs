//! Consumer groups of a cluster with their lag verdicts: the samples of the lag window,
//! evaluated per partition and summed up per group. A tenant's slice of a shared cluster
//! sees only the groups under its prefix.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tideway_api::{
    clusters::{Cluster, ClusterKind},
    monitoring::{ConsumerGroup, PartitionLag},
    ClusterId,
};

use super::lag::{self, Observation};
use crate::{
    auth::Caller,
    db::{self, samples::LagSample},
    error::ApiError,
    service::{clusters, security::serving_cluster},
    state::AppState,
};

/// The consumer groups of cluster `id` as `caller` may see it.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
) -> Result<Vec<ConsumerGroup>, ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    of_cluster(state, &cluster).await
}

/// A cluster tenants consume from, with its groups.
pub type ClusterGroups = (Cluster, Vec<ConsumerGroup>);

/// Whether tenants consume from `cluster`: a dedicated cluster or a tenant's slice of a
/// shared one (not the shared cluster itself), once it has bootstrap servers.
fn consumed_by_a_tenant(cluster: &Cluster) -> bool {
    let shared_host = cluster.kind == ClusterKind::Shared && cluster.topic_prefix.is_none();
    !shared_host && cluster.bootstrap_servers.is_some()
}

/// The groups of each of `clusters` that tenants consume from.
pub async fn of_clusters(
    state: &AppState,
    clusters: Vec<Cluster>,
) -> Result<Vec<ClusterGroups>, ApiError> {
    let mut out = Vec::new();
    for cluster in clusters.into_iter().filter(consumed_by_a_tenant) {
        let groups = of_cluster(state, &cluster).await?;
        out.push((cluster, groups));
    }
    Ok(out)
}

/// A group that is not OK, with its cluster (for a tenant's dashboard).
pub struct Troubled {
    pub cluster_id: tideway_api::ClusterId,
    pub cluster: String,
    pub group: ConsumerGroup,
}

/// The groups of `clusters` whose verdict is not OK, worst first.
pub async fn troubled(state: &AppState, clusters: &[Cluster]) -> Result<Vec<Troubled>, ApiError> {
    let mut out = Vec::new();
    for c in clusters.iter().filter(|c| consumed_by_a_tenant(c)) {
        for group in of_cluster(state, c).await? {
            if group.status != tideway_api::monitoring::LagStatus::Ok {
                out.push(Troubled {
                    cluster_id: c.id,
                    cluster: c.name.clone(),
                    group,
                });
            }
        }
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.group.status));
    Ok(out)
}

/// The consumer groups of `cluster` (those under its prefix on a shared cluster).
pub async fn of_cluster(
    state: &AppState,
    cluster: &Cluster,
) -> Result<Vec<ConsumerGroup>, ApiError> {
    let window = state.config.lag_window;
    let since = Utc::now() - chrono::Duration::from_std(window).unwrap_or_default();
    let prefix = cluster.topic_prefix.clone().unwrap_or_default();
    let samples =
        db::samples::lag_since(&state.db, serving_cluster(cluster), &prefix, since).await?;
    Ok(evaluate(&samples, window, state.config.metrics_interval))
}

/// Verdicts from a window of samples (ordered by group, topic, partition, time). A group
/// last seen more than two intervals before the newest sample is gone and left out.
pub fn evaluate(
    samples: &[LagSample],
    window: std::time::Duration,
    interval: std::time::Duration,
) -> Vec<ConsumerGroup> {
    let Some(newest) = samples.iter().map(|s| s.at).max() else {
        return Vec::new();
    };
    let gone_before = newest - chrono::Duration::from_std(interval * 2).unwrap_or_default();
    let mut by_partition: BTreeMap<(&str, &str, i32), Vec<&LagSample>> = BTreeMap::new();
    for s in samples {
        by_partition
            .entry((&s.group_id, &s.topic, s.partition))
            .or_default()
            .push(s);
    }
    let mut groups: BTreeMap<&str, ConsumerGroup> = BTreeMap::new();
    for ((group, topic, partition), window_samples) in by_partition {
        let last = window_samples[window_samples.len() - 1];
        if last.at < gone_before {
            continue;
        }
        let observations: Vec<Observation> =
            window_samples.iter().map(|s| observation(s)).collect();
        let verdict = lag::evaluate(&observations, window);
        let millis = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as i64);
        let entry = groups.entry(group).or_insert_with(|| ConsumerGroup {
            group_id: group.to_owned(),
            status: verdict.status,
            total_lag: 0,
            max_time_lag_ms: None,
            clears_in_ms: Some(0),
            observed_at: last.at,
            partitions: Vec::new(),
        });
        entry.status = entry.status.max(verdict.status);
        entry.total_lag += verdict.lag;
        entry.max_time_lag_ms = entry.max_time_lag_ms.max(millis(verdict.time_lag));
        entry.clears_in_ms = match (entry.clears_in_ms, millis(verdict.clears_in)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        entry.observed_at = entry.observed_at.max(last.at);
        entry.partitions.push(PartitionLag {
            topic: topic.to_owned(),
            partition,
            status: verdict.status,
            committed_offset: last.committed,
            end_offset: last.end_offset,
            lag: verdict.lag,
            time_lag_ms: millis(verdict.time_lag),
            clears_in_ms: millis(verdict.clears_in),
        });
    }
    groups.into_values().collect()
}

fn observation(s: &LagSample) -> Observation {
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    Observation {
        at_ms: ms(s.at),
        committed: s.committed,
        committed_at_ms: ms(s.committed_at),
        end: s.end_offset,
        next_record_ms: s.next_record_at.map(ms),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tideway_api::monitoring::LagStatus;

    use super::*;

    fn sample(group: &str, partition: i32, second: i64, committed: i64, end: i64) -> LagSample {
        let at = DateTime::from_timestamp(1_800_000_000 + second, 0).expect("time");
        LagSample {
            group_id: group.into(),
            topic: "orders".into(),
            partition,
            at,
            committed,
            committed_at: at,
            end_offset: end,
            next_record_at: Some(at - chrono::Duration::seconds(3)),
        }
    }

    #[test]
    fn a_group_takes_its_worst_partition_and_sums_its_lag() {
        let mut samples = vec![
            sample("billing", 0, 0, 10, 10),
            sample("billing", 0, 60, 20, 20),
            sample("orders", 0, 0, 0, 10),
            sample("orders", 0, 60, 5, 30),
            sample("orders", 1, 0, 10, 10),
            sample("orders", 1, 60, 20, 20),
        ];
        samples.sort_by(|a, b| {
            (&a.group_id, a.partition, a.at).cmp(&(&b.group_id, b.partition, b.at))
        });
        let groups = evaluate(&samples, Duration::from_secs(600), Duration::from_secs(60));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].group_id, "billing");
        assert_eq!(groups[0].status, LagStatus::Ok);
        assert_eq!(groups[0].total_lag, 0);
        let orders = &groups[1];
        assert_eq!(orders.status, LagStatus::Warning);
        assert_eq!(orders.total_lag, 25);
        assert_eq!(orders.max_time_lag_ms, Some(3000));
        assert_eq!(orders.clears_in_ms, None, "lag grows, so it never clears");
        assert_eq!(orders.partitions.len(), 2);
    }

    #[test]
    fn a_group_no_longer_sampled_is_left_out() {
        let samples = vec![
            sample("gone", 0, 0, 1, 5),
            sample("here", 0, 0, 1, 5),
            sample("here", 0, 300, 5, 5),
        ];
        let groups = evaluate(&samples, Duration::from_secs(600), Duration::from_secs(60));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].group_id, "here");
    }
}
