//! Topics on a tenant's cluster: created, reconfigured and deleted through the control
//! plane, applied over the Kafka protocol inside the same transaction (a change the
//! cluster refuses stores nothing), counted against the tenant's partition quota.

use std::collections::BTreeMap;

use tideway_api::{
    clusters::{Cluster, TopicDefaults},
    topics::{CreateTopic, Topic, UpdateTopic},
    ClusterId, FieldError, Role,
};

use super::{clusters, ensure_valid, Audit};
use crate::{auth::Caller, db, error::ApiError, kafka_admin, state::AppState};

/// Topic configs tenants may set.
pub const ALLOWED_CONFIGS: &[&str] = &[
    "retention.ms",
    "retention.bytes",
    "cleanup.policy",
    "segment.bytes",
    "max.message.bytes",
    "min.insync.replicas",
    "compression.type",
];
/// Most partitions one topic may have.
pub const MAX_TOPIC_PARTITIONS: i32 = 1000;

fn field(errors: &mut Vec<FieldError>, field: &str, message: String) {
    errors.push(FieldError {
        field: field.into(),
        message,
    });
}

fn check_configs(configs: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    for (k, v) in configs {
        let f = format!("configs.{k}");
        if !ALLOWED_CONFIGS.contains(&k.as_str()) {
            field(
                errors,
                &f,
                format!(
                    "not a topic config tenants may set; use one of {}",
                    ALLOWED_CONFIGS.join(", ")
                ),
            );
            continue;
        }
        let numeric = !matches!(k.as_str(), "cleanup.policy" | "compression.type");
        if numeric && v.trim().parse::<i64>().map_or(true, |n| n < -1) {
            field(
                errors,
                &f,
                format!("{v:?} is not a whole number (-1 or more)"),
            );
        }
    }
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && !name.starts_with("__")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        field(
            errors,
            "name",
            "use 1 to 249 letters, digits, '.', '_' or '-', not starting with '__'".into(),
        );
    }
}

/// The cluster, if the caller holds `min` in its tenant, with how to reach its brokers.
async fn cluster_for(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    min: Role,
) -> Result<(Cluster, rdkafka::ClientConfig), ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    caller.require(cluster.tenant_id, min, "cluster")?;
    let access = super::security::access(state, &cluster).await?;
    Ok((cluster, access.client_config()))
}

fn audit<'a>(action: &'a str, c: &Cluster, name: &str) -> Audit<'a> {
    Audit {
        action,
        tenant_id: Some(c.tenant_id),
        target_type: "topic",
        target_id: format!("{}/{name}", c.id),
    }
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
) -> Result<Vec<Topic>, ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    Ok(db::topics::list(&state.db, cluster.id).await?)
}

/// Partitions, replication factor and configs of a new topic: what the request says, else
/// the cluster's topic defaults (retention included, as `retention.ms`; the replication
/// factor capped by the brokers), else one partition and one replica.
fn with_defaults(
    req: &CreateTopic,
    defaults: Option<TopicDefaults>,
    brokers: i32,
) -> (i32, i32, BTreeMap<String, String>) {
    let partitions = req
        .partitions
        .or(defaults.map(|d| d.partitions))
        .unwrap_or(1);
    let rf = req
        .replication_factor
        .or(defaults.map(|d| d.replication_factor.min(brokers)))
        .unwrap_or(1);
    let mut configs = req.configs.clone();
    if let Some(d) = defaults {
        configs
            .entry("retention.ms".to_owned())
            .or_insert_with(|| d.retention_ms.to_string());
    }
    (partitions, rf, configs)
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    req: CreateTopic,
) -> Result<Topic, ApiError> {
    let (cluster, kafka) = cluster_for(state, caller, id, Role::Member).await?;
    let brokers = cluster.brokers.len().max(1) as i32;
    let (partitions, rf, configs) = with_defaults(&req, cluster.spec.topic_defaults, brokers);
    let mut errors = Vec::new();
    check_name(&req.name, &mut errors);
    if let Some(prefix) = &cluster.topic_prefix {
        if !req.name.starts_with(prefix.as_str()) {
            field(
                &mut errors,
                "name",
                format!("topics of this slice of a shared cluster must start with {prefix:?}"),
            );
        }
    }
    if !(1..=MAX_TOPIC_PARTITIONS).contains(&partitions) {
        field(
            &mut errors,
            "partitions",
            format!("must be between 1 and {MAX_TOPIC_PARTITIONS}, got {partitions}"),
        );
    }
    if !(1..=brokers).contains(&rf) {
        field(
            &mut errors,
            "replication_factor",
            format!("must be between 1 and the cluster's {brokers} brokers, got {rf}"),
        );
    }
    check_configs(&configs, &mut errors);
    ensure_valid(errors)?;

    let mut tx = state.db.begin().await?;
    let quota = db::tenants::lock_quota(&mut tx, cluster.tenant_id).await?;
    let used = db::topics::partitions_of(&mut *tx, cluster.tenant_id).await?;
    if used + i64::from(partitions) > quota.max_partitions {
        return Err(ApiError::Conflict(format!(
            "partitions: {used} in use + {partitions} requested > {} allowed; ask a platform admin to raise the quota",
            quota.max_partitions
        )));
    }
    let topic = Topic {
        cluster_id: cluster.id,
        name: req.name.clone(),
        partitions,
        replication_factor: rf,
        configs,
        created_by: caller.actor.to_string(),
        created_at: chrono::Utc::now(),
    };
    db::topics::insert(&mut tx, &topic)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!(
                "the cluster already has a topic named {:?}",
                topic.name
            )),
            other => other,
        })?;
    kafka_admin::create_topic(&kafka, &topic.name, partitions, rf, &topic.configs).await?;
    audit("topic.create", &cluster, &topic.name)
        .record(&mut tx, caller, None::<&()>, Some(&topic))
        .await?;
    tx.commit().await?;
    Ok(topic)
}

pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    name: &str,
    req: UpdateTopic,
) -> Result<Topic, ApiError> {
    let (cluster, kafka) = cluster_for(state, caller, id, Role::Member).await?;
    let mut errors = Vec::new();
    check_configs(&req.configs, &mut errors);
    ensure_valid(errors)?;
    let mut tx = state.db.begin().await?;
    let before = db::topics::lock(&mut tx, cluster.id, name)
        .await?
        .ok_or_else(|| ApiError::NotFound("topic not found".into()))?;
    kafka_admin::set_topic_configs(&kafka, name, &req.configs).await?;
    db::topics::set_configs(&mut tx, cluster.id, name, &req.configs).await?;
    let after = Topic {
        configs: req.configs,
        ..before.clone()
    };
    audit("topic.update", &cluster, name)
        .record(&mut tx, caller, Some(&before), Some(&after))
        .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes every topic of a slice of a shared cluster from the shared brokers (the slice is
/// being deleted; its rows go with it).
pub(crate) async fn remove_all_of_slice(state: &AppState, slice: &Cluster) -> Result<(), ApiError> {
    let topics = db::topics::list(&state.db, slice.id).await?;
    if topics.is_empty() {
        return Ok(());
    }
    let kafka = super::security::access(state, slice).await?.client_config();
    for topic in topics {
        kafka_admin::delete_topic(&kafka, &topic.name).await?;
    }
    Ok(())
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    name: &str,
) -> Result<(), ApiError> {
    let (cluster, kafka) = cluster_for(state, caller, id, Role::Member).await?;
    let mut tx = state.db.begin().await?;
    let before = db::topics::lock(&mut tx, cluster.id, name)
        .await?
        .ok_or_else(|| ApiError::NotFound("topic not found".into()))?;
    kafka_admin::delete_topic(&kafka, name).await?;
    db::topics::delete(&mut tx, cluster.id, name).await?;
    audit("topic.delete", &cluster, name)
        .record(&mut tx, caller, Some(&before), None::<&()>)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_topics_take_the_clusters_defaults_unless_they_say_otherwise() {
        let defaults = Some(TopicDefaults {
            partitions: 6,
            replication_factor: 3,
            retention_ms: 3_600_000,
        });
        let req = |partitions, rf, retention: Option<&str>| CreateTopic {
            name: "t".into(),
            partitions,
            replication_factor: rf,
            configs: retention
                .map(|r| BTreeMap::from([("retention.ms".to_owned(), r.to_owned())]))
                .unwrap_or_default(),
        };
        let retention = |c: &BTreeMap<String, String>| c.get("retention.ms").cloned();
        let (p, rf, c) = with_defaults(&req(None, None, None), defaults, 3);
        assert_eq!((p, rf, retention(&c)), (6, 3, Some("3600000".into())));
        let (p, rf, c) = with_defaults(&req(None, None, None), defaults, 1);
        assert_eq!(
            (p, rf, retention(&c)),
            (6, 1, Some("3600000".into())),
            "capped by brokers"
        );
        let (p, rf, c) = with_defaults(&req(Some(2), Some(2), Some("-1")), defaults, 3);
        assert_eq!(
            (p, rf, retention(&c)),
            (2, 2, Some("-1".into())),
            "the request wins"
        );
        let (p, rf, c) = with_defaults(&req(None, None, None), None, 3);
        assert_eq!((p, rf, c.len()), (1, 1, 0), "no defaults, no configs");
    }
}
