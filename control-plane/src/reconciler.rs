//! The reconciler: level-triggered and idempotent, one active instance among the
//! control-plane replicas (a Postgres advisory lock). Each pass reloads approved clusters
//! from the database, places unplaced ones on hosts, and turns what agents report plus
//! the canary into status conditions. It writes only what changed. Passes run every
//! interval, and at once when a write to clusters or hosts notifies it (LISTEN/NOTIFY).

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use tideway_api::{
    clusters::{Cluster, ClusterKind, Condition, ConditionStatus},
    ClusterId, Generation,
};
use tokio::time::Instant;

use crate::{
    canary, db,
    error::ApiError,
    service::{
        placement::{self, Demand},
        slices,
    },
    state::AppState,
};

/// Advisory lock key held by the active reconciler ("tideway1").
pub const LOCK_KEY: i64 = 0x7469_6465_7761_7931;
/// The channel on which the database wakes the reconciler (see the reconcile_wake
/// migration: cluster and host writes notify it).
pub const WAKE_CHANNEL: &str = "tideway_reconcile";
/// How often a Ready cluster's canary runs again.
const CANARY_EVERY: Duration = Duration::from_secs(30);

/// When each cluster's canary last passed.
#[derive(Default)]
pub struct Memory {
    canary_passed: HashMap<ClusterId, Instant>,
}

/// Runs the reconciler loop for the life of the process (it idles while another replica
/// holds the lock).
pub fn spawn(state: AppState, interval: Duration) {
    crate::leader::spawn_forever("the reconciler", interval, move || {
        let state = state.clone();
        async move { lead(&state, interval).await }
    });
}

async fn lead(state: &AppState, interval: Duration) -> anyhow::Result<()> {
    let Some(mut lock) = crate::leader::try_lock(&state.db, LOCK_KEY).await? else {
        return Ok(());
    };
    tracing::info!("this replica runs the reconciler");
    let mut wakes = sqlx::postgres::PgListener::connect_with(&state.db).await?;
    wakes.listen(WAKE_CHANNEL).await?;
    let mut memory = Memory::default();
    loop {
        if let Err(e) = reconcile_once(state, &mut memory).await {
            tracing::warn!(error = %e, "reconcile pass failed");
        }
        // The next pass: at the next tick, or at once when a write asks for one.
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            woken = wakes.recv() => {
                let woken = woken?;
                tracing::debug!(by = woken.payload(), "reconciler woken");
            }
        }
        sqlx::query("SELECT 1").execute(&mut *lock).await?;
    }
}

fn condition(kind: &str, status: ConditionStatus, reason: &str, message: String) -> Condition {
    Condition {
        kind: kind.into(),
        status,
        reason: reason.into(),
        message,
        last_transition_time: Utc::now(),
    }
}

/// The generation a cluster's status may claim as observed: the current one only once the
/// cluster is Ready for it and every host carrying its brokers has applied its desired
/// state (so the brokers run what this generation asks for); until then the last
/// generation that was observed, or none.
pub fn observed_generation(
    phase: &str,
    hosts_caught_up: bool,
    generation: Generation,
    previous: Option<Generation>,
) -> Option<Generation> {
    if phase == "Ready" && hosts_caught_up {
        Some(generation)
    } else {
        previous
    }
}

/// Writes the status when phase, conditions or the observed generation changed (keeping
/// transition times of conditions whose status did not change).
async fn set_status(
    state: &AppState,
    c: &Cluster,
    phase: &str,
    mut conditions: Vec<Condition>,
) -> Result<(), ApiError> {
    let same = |a: &Condition, b: &Condition| {
        a.kind == b.kind && a.status == b.status && a.reason == b.reason && a.message == b.message
    };
    let mut conn = state.db.acquire().await?;
    // A slice runs on its shared cluster's brokers.
    let runs_on = c.shared_cluster_id.unwrap_or(c.id);
    let caught_up = phase == "Ready" && db::brokers::hosts_caught_up(&mut conn, runs_on).await?;
    let observed =
        observed_generation(phase, caught_up, c.generation, c.status.observed_generation);
    let unchanged = c.status.phase == phase
        && c.status.observed_generation == observed
        && c.status.conditions.len() == conditions.len()
        && c.status
            .conditions
            .iter()
            .zip(&conditions)
            .all(|(a, b)| same(a, b));
    if unchanged {
        return Ok(());
    }
    for new in &mut conditions {
        if let Some(old) = c
            .status
            .conditions
            .iter()
            .find(|o| o.kind == new.kind && o.status == new.status)
        {
            new.last_transition_time = old.last_transition_time;
        }
    }
    db::clusters::set_status(&mut conn, c.id, phase, &conditions, observed).await?;
    tracing::info!(cluster_id = %c.id, phase, "cluster status changed");
    Ok(())
}

/// What one pass could not do: the clusters whose reconciliation failed, with why.
#[derive(Debug, Default)]
pub struct Pass {
    pub failed: Vec<(ClusterId, ApiError)>,
}

/// One pass over every approved cluster. A cluster that fails is logged and skipped:
/// it never stops the others.
pub async fn reconcile_once(state: &AppState, memory: &mut Memory) -> Result<Pass, ApiError> {
    let mut pass = Pass::default();
    for (id, placed) in db::brokers::approved_clusters(&state.db).await? {
        if let Err(e) = reconcile_cluster(state, memory, id, placed).await {
            tracing::warn!(cluster_id = %id, error = %e, "reconciling the cluster failed");
            pass.failed.push((id, e));
        }
    }
    Ok(pass)
}

async fn reconcile_cluster(
    state: &AppState,
    memory: &mut Memory,
    id: ClusterId,
    placed: bool,
) -> Result<(), ApiError> {
    let Some(cluster) = crate::service::clusters::load(state, id).await? else {
        return Ok(());
    };
    if placed {
        assess(state, &cluster, memory).await
    } else {
        place(state, &cluster).await
    }
}

async fn place(state: &AppState, c: &Cluster) -> Result<(), ApiError> {
    let waiting = |reason: &str, message: String| {
        vec![
            condition("Ready", ConditionStatus::False, reason, message.clone()),
            condition("Progressing", ConditionStatus::False, reason, message),
        ]
    };
    if c.kind == ClusterKind::Shared && c.spec.broker_count.is_none() {
        return allocate(state, c).await;
    }
    let brokers = c.spec.broker_count.unwrap_or(1).max(1) as usize;
    let demand = Demand {
        brokers,
        profile: c.spec.hardware_profile,
        backend: c.spec.storage_backend,
        bytes_per_broker: (c.spec.storage_gib as u64) << 30,
    };
    let mut tx = state.db.begin().await?;
    let offline_after = state.host_offline_after().num_seconds();
    let hosts = db::brokers::candidates(&mut tx, offline_after).await?;
    match placement::place(demand, &hosts) {
        Ok(spots) => {
            let mut where_ = Vec::new();
            for (i, spot) in spots.iter().enumerate() {
                db::brokers::insert(
                    &mut tx,
                    c.id,
                    i as i32 + 1,
                    spot,
                    c.spec.storage_backend,
                    demand.bytes_per_broker as i64,
                )
                .await?;
                let port = spot.port;
                let name = hosts
                    .iter()
                    .find(|h| h.id == spot.host)
                    .map(|h| h.name.clone())
                    .unwrap_or_default();
                where_.push(format!("{name}:{port}"));
            }
            crate::service::security::secure_brokers(&mut tx, state, c).await?;
            tx.commit().await?;
            let m = format!(
                "Placed on {}; waiting for the brokers to start.",
                where_.join(", ")
            );
            let conditions = vec![
                condition("Ready", ConditionStatus::False, "Starting", m.clone()),
                condition("Progressing", ConditionStatus::True, "Placed", m),
            ];
            set_status(state, c, "Provisioning", conditions).await
        }
        Err(reason) => {
            drop(tx);
            set_status(
                state,
                c,
                "Provisioning",
                waiting(
                    "Unschedulable",
                    format!("Cannot place the brokers: {reason}."),
                ),
            )
            .await
        }
    }
}

/// A tenant's slice of a shared cluster: bound to a Ready shared cluster of its security,
/// backend and profile, with a topic prefix of its own; it is as healthy as its host.
async fn allocate(state: &AppState, c: &Cluster) -> Result<(), ApiError> {
    let host = match c.shared_cluster_id {
        Some(host) => crate::service::clusters::load(state, host).await?.map(|h| {
            (
                h.name,
                h.status.phase,
                c.topic_prefix.clone().unwrap_or_default(),
            )
        }),
        None => {
            let mut conn = state.db.acquire().await?;
            let ready = db::clusters::ready_shared_clusters(&mut conn).await?;
            match slices::choose_shared_cluster(&c.spec, &ready) {
                Ok(host) => {
                    let tenant = db::tenants::get(&mut *conn, c.tenant_id)
                        .await?
                        .map(|t| t.name)
                        .unwrap_or_default();
                    let prefix = slices::slice_prefix(&tenant, &c.name);
                    db::clusters::bind_to_shared(&mut conn, c.id, host, &prefix).await?;
                    // The shared brokers learn the slice's storage quota from their hosts.
                    db::brokers::bump_hosts_of(&mut conn, host).await?;
                    let name = ready
                        .iter()
                        .find(|r| r.id == host)
                        .map(|r| r.name.clone())
                        .unwrap_or_default();
                    Some((name, "Ready".to_owned(), prefix))
                }
                Err(why) => {
                    let conditions = vec![
                        condition(
                            "Ready",
                            ConditionStatus::False,
                            "Unschedulable",
                            why.clone(),
                        ),
                        condition("Progressing", ConditionStatus::False, "Unschedulable", why),
                    ];
                    return set_status(state, c, "Provisioning", conditions).await;
                }
            }
        }
    };
    let Some((name, phase, prefix)) = host else {
        let m = "Its shared cluster is gone.".to_owned();
        let conditions = vec![
            condition(
                "Ready",
                ConditionStatus::False,
                "SharedClusterGone",
                m.clone(),
            ),
            condition("Degraded", ConditionStatus::True, "SharedClusterGone", m),
        ];
        return set_status(state, c, "Degraded", conditions).await;
    };
    if phase == "Ready" {
        let m = format!("Allocated on shared cluster {name}; topics start with {prefix}.");
        let conditions = vec![
            condition("Ready", ConditionStatus::True, "Allocated", m.clone()),
            condition("Progressing", ConditionStatus::False, "Allocated", m),
        ];
        set_status(state, c, "Ready", conditions).await
    } else {
        let m = format!("The shared cluster {name} is {phase}.");
        let conditions = vec![
            condition(
                "Ready",
                ConditionStatus::False,
                "SharedClusterNotReady",
                m.clone(),
            ),
            condition(
                "Degraded",
                ConditionStatus::True,
                "SharedClusterNotReady",
                m,
            ),
        ];
        set_status(state, c, "Degraded", conditions).await
    }
}

async fn assess(state: &AppState, c: &Cluster, memory: &mut Memory) -> Result<(), ApiError> {
    let down: Vec<String> = c
        .brokers
        .iter()
        .filter(|b| !b.healthy)
        .map(|b| format!("broker {} on {} ({})", b.node_id, b.host, b.detail))
        .collect();
    let was_ready = c.status.phase == "Ready" || c.status.phase == "Degraded";
    if !down.is_empty() {
        memory.canary_passed.remove(&c.id);
        let m = format!("Waiting for {}.", down.join(", "));
        let (phase, conditions) = if was_ready {
            (
                "Degraded",
                vec![
                    condition("Ready", ConditionStatus::False, "BrokerDown", m.clone()),
                    condition("Degraded", ConditionStatus::True, "BrokerDown", m),
                ],
            )
        } else {
            (
                "Provisioning",
                vec![
                    condition("Ready", ConditionStatus::False, "Starting", m.clone()),
                    condition("Progressing", ConditionStatus::True, "Starting", m),
                ],
            )
        };
        return set_status(state, c, phase, conditions).await;
    }
    crate::service::security::renew_due(state, c).await?;
    if memory
        .canary_passed
        .get(&c.id)
        .is_some_and(|t| t.elapsed() < CANARY_EVERY)
        && c.status.phase == "Ready"
    {
        return Ok(());
    }
    let probed = match crate::service::security::access(state, c).await {
        Ok(access) => canary::probe(&access.client_config(), state.config.canary_timeout).await,
        Err(e) => Err(e.to_string()),
    };
    match probed {
        Ok(()) => {
            memory.canary_passed.insert(c.id, Instant::now());
            let m = format!(
                "All {} brokers are healthy; the canary produced and consumed a record.",
                c.brokers.len()
            );
            set_status(
                state,
                c,
                "Ready",
                vec![
                    condition("Ready", ConditionStatus::True, "CanaryPassed", m.clone()),
                    condition("Progressing", ConditionStatus::False, "Ready", m),
                ],
            )
            .await
        }
        Err(e) => {
            memory.canary_passed.remove(&c.id);
            let m = format!("The brokers run but the canary failed: {e}.");
            let phase = if was_ready {
                "Degraded"
            } else {
                "Provisioning"
            };
            set_status(
                state,
                c,
                phase,
                vec![
                    condition("Ready", ConditionStatus::False, "CanaryFailed", m.clone()),
                    condition(
                        if was_ready { "Degraded" } else { "Progressing" },
                        ConditionStatus::True,
                        "CanaryFailed",
                        m,
                    ),
                ],
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_observed_generation_moves_only_when_the_cluster_is_ready_on_caught_up_hosts() {
        let g = |n| Some(Generation(n));
        // (phase, hosts caught up, generation, previous) → observed
        let cases = [
            ("Provisioning", false, 1, None, None),
            ("Provisioning", true, 1, None, None),
            ("Ready", false, 1, None, None),
            ("Ready", true, 1, None, g(1)),
            ("Ready", false, 3, g(2), g(2)),
            ("Degraded", true, 3, g(2), g(2)),
            ("Ready", true, 3, g(2), g(3)),
        ];
        for (phase, caught_up, generation, previous, want) in cases {
            assert_eq!(
                observed_generation(phase, caught_up, Generation(generation), previous),
                want,
                "{phase}, caught up {caught_up}, generation {generation}, before {previous:?}"
            );
        }
    }
}
