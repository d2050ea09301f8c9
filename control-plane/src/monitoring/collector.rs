//! The sampling loop: one active instance among the control-plane replicas (a Postgres
//! advisory lock). Every `metrics_interval` it stores each broker's latest report, reads
//! every Ready or Degraded cluster's topic end offsets and consumer-group positions over
//! the Kafka protocol, evaluates the alert rules, and prunes samples older than the
//! retention.
//! Between passes it delivers due alert webhooks (every second).

use std::{
    collections::{hash_map::Entry, BTreeMap, HashMap},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tideway_api::{clusters::Cluster, ClusterId};

use super::{alerts, consumer_groups, export, offsets, webhook};
use crate::{db, db::samples::LagSample, error::ApiError, service, state::AppState};

/// Advisory lock key held by the active sampler ("tidemon1").
pub const LOCK_KEY: i64 = 0x7469_6465_6d6f_6e31;

/// A group partition: (group, topic, partition).
type GroupPartition = (String, String, i32);

/// What the sampler remembers between ticks: when each group partition's committed
/// offset was first seen, per cluster, and the clients that read each cluster.
#[derive(Default)]
pub struct Memory {
    commits: HashMap<ClusterId, HashMap<GroupPartition, (i64, DateTime<Utc>)>>,
    /// Each cluster's offset reader, with how it reaches the cluster.
    readers: HashMap<ClusterId, (String, offsets::Reader)>,
    ticks: u64,
}

/// Runs the sampler for the life of the process.
pub fn spawn(state: AppState) {
    let interval = state.config.metrics_interval;
    crate::leader::spawn_forever("monitoring", interval, move || {
        let state = state.clone();
        async move { lead(&state, interval).await }
    });
}

async fn lead(state: &AppState, interval: Duration) -> anyhow::Result<()> {
    let Some(mut lock) = crate::leader::try_lock(&state.db, LOCK_KEY).await? else {
        return Ok(());
    };
    let mut memory = Memory::default();
    let hooks = webhook::Webhooks::new(state.webhook_policy.clone())?;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deliveries = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = sample_once(state, &mut memory).await {
                    tracing::warn!(error = %e, "monitoring pass failed");
                }
                sqlx::query("SELECT 1").execute(&mut *lock).await?;
            }
            _ = deliveries.tick() => {
                if let Err(e) = webhook::deliver_due(state, &hooks).await {
                    tracing::warn!(error = %e, "alert delivery failed");
                }
            }
        }
    }
}

/// One sampling pass.
pub async fn sample_once(state: &AppState, memory: &mut Memory) -> Result<(), ApiError> {
    let now = Utc::now();
    let fresh = state.host_offline_after().num_seconds();
    db::samples::record_brokers(&state.db, now, fresh).await?;
    db::samples::record_hosts(&state.db, now, fresh).await?;
    // Every approved cluster, loaded once: those with brokers are sampled, and all of them
    // (tenants' slices included) are evaluated below.
    let mut clusters = Vec::new();
    let mut sampled = std::collections::HashSet::new();
    for (id, placed) in db::brokers::approved_clusters(&state.db).await? {
        let Some(cluster) = service::clusters::load(state, id).await? else {
            continue;
        };
        // A degraded cluster still serves; its consumers matter all the more.
        let serving = matches!(cluster.status.phase.as_str(), "Ready" | "Degraded");
        if placed && serving && cluster.bootstrap_servers.is_some() {
            sampled.insert(id);
            if let Err(e) = sample_cluster(state, memory, &cluster, now).await {
                tracing::warn!(cluster_id = %id, error = %e, "could not sample the cluster");
            }
        }
        clusters.push(cluster);
    }
    // Clients of clusters no longer sampled (deleted, or not serving) are closed.
    memory.readers.retain(|id, _| sampled.contains(id));
    let groups = consumer_groups::of_clusters(state, clusters).await?;
    alerts::evaluate(state, &groups).await?;
    export::publish(state, &groups).await?;
    memory.ticks += 1;
    let prune_every = (3600 / state.config.metrics_interval.as_secs().max(1)).max(1);
    if memory.ticks % prune_every == 1 {
        let retention = chrono::Duration::from_std(state.config.metrics_retention)
            .unwrap_or(chrono::Duration::days(14));
        let gone = db::samples::prune(&state.db, now - retention).await?;
        tracing::debug!(gone, "pruned old samples");
    }
    Ok(())
}

async fn sample_cluster(
    state: &AppState,
    memory: &mut Memory,
    cluster: &Cluster,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let id = cluster.id;
    let access = service::security::access(state, cluster).await?;
    // A reader (and its clients) is kept while the cluster is reached the same way.
    let how = format!("{}|{}", access.bootstrap, access.secured.is_some());
    let reader = match memory.readers.remove(&id) {
        Some((known, reader)) if known == how => reader,
        _ => {
            let timeout = state
                .config
                .canary_timeout
                .min(state.config.metrics_interval);
            offsets::Reader::new(access.client_config(), timeout).map_err(ApiError::Unavailable)?
        }
    };
    let (reader, read) = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let read = reader.read();
        (reader, read)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("offsets task: {e}")))?;
    let positions = read.map_err(ApiError::Unavailable)?;
    memory.readers.insert(id, (how, reader));
    let mut per_topic: BTreeMap<String, i64> = BTreeMap::new();
    for ((topic, _), end) in &positions.ends {
        *per_topic.entry(topic.clone()).or_default() += end;
    }
    let topics: Vec<(String, i64)> = per_topic.into_iter().collect();
    db::samples::record_topics(&state.db, id, now, &topics).await?;
    let commits = match memory.commits.entry(id) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(slot) => {
            // After a restart, commit times carry over from the newest stored samples.
            let known = db::samples::latest_lag(&state.db, id).await?;
            slot.insert(
                known
                    .into_iter()
                    .map(|s| {
                        (
                            (s.group_id, s.topic, s.partition),
                            (s.committed, s.committed_at),
                        )
                    })
                    .collect(),
            )
        }
    };
    let mut samples = Vec::with_capacity(positions.groups.len());
    let mut seen = HashMap::with_capacity(positions.groups.len());
    for p in &positions.groups {
        let Some(end) = positions.end_of(&p.topic, p.partition) else {
            continue;
        };
        let key = (p.group.clone(), p.topic.clone(), p.partition);
        // Kafka does not say when a group committed: a new offset counts as a commit now,
        // and so does a live member (an unmoving offset is then STALL, not STOP).
        let committed_at = match commits.get(&key) {
            Some((committed, at)) if *committed == p.committed && !p.live => *at,
            _ => now,
        };
        seen.insert(key, (p.committed, committed_at));
        samples.push(LagSample {
            group_id: p.group.clone(),
            topic: p.topic.clone(),
            partition: p.partition,
            at: now,
            committed: p.committed,
            committed_at,
            end_offset: end,
            next_record_at: p.next_record_ms.and_then(DateTime::from_timestamp_millis),
        });
    }
    *commits = seen;
    db::samples::record_lag(&state.db, id, &samples).await?;
    Ok(())
}
