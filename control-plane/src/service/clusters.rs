//! Cluster requests: create (auto-approved within quota when the tenant allows), list,
//! get, update the spec, delete, and the platform admin's approve and reject.

use tideway_api::{
    clusters::{
        ApprovalState, Cluster, ClusterFilter, ClusterKind, ClusterSpecPatch, CreateCluster,
        Decision,
    },
    ClusterId, Page, PageQuery, Role,
};

use super::{cluster_rules as rules, ensure_valid, Audit};
use crate::{
    auth::Caller,
    db::{self, clusters::ApprovalUpdate},
    error::ApiError,
    state::AppState,
};

/// Who decides a request approved by policy.
pub const AUTO_APPROVER: &str = "auto";

fn audit<'a>(action: &'a str, c: &Cluster) -> Audit<'a> {
    Audit {
        action,
        tenant_id: Some(c.tenant_id),
        target_type: "cluster",
        target_id: c.id.to_string(),
    }
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: CreateCluster,
) -> Result<Cluster, ApiError> {
    caller.require(req.tenant_id, Role::Member, "tenant")?;
    if req.kind == ClusterKind::Shared && req.spec.broker_count.is_some() && !caller.platform_admin
    {
        return Err(ApiError::field(
            "spec.broker_count",
            "a shared cluster is a slice of a platform cluster; leave the broker count out \
             (only platform admins create the shared cluster itself)",
        ));
    }
    ensure_valid(rules::validate_create(&req))?;
    let fp = rules::footprint(&req.spec);

    let mut tx = state.db.begin().await?;
    let tenant = db::tenants::get(&mut *tx, req.tenant_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant not found".into()))?;
    let quota = db::tenants::lock_quota(&mut tx, tenant.id).await?;
    let usage = db::tenants::usage(&mut tx, tenant.id).await?;
    let excess = rules::quota_excess(&quota, &usage, fp);

    let pending_reason;
    let (approval, phase_conditions) = if excess.is_empty() && tenant.auto_approve {
        (
            (
                ApprovalState::Approved,
                Some("Within quota; approved by the tenant's policy."),
                Some(AUTO_APPROVER),
            ),
            rules::approved_status(),
        )
    } else {
        pending_reason = if excess.is_empty() {
            "Within quota; waiting for a platform admin to approve.".to_owned()
        } else {
            format!(
                "Beyond the tenant's quota ({}); waiting for a platform admin.",
                excess.join("; ")
            )
        };
        (
            (ApprovalState::Pending, Some(pending_reason.as_str()), None),
            rules::pending_status(&pending_reason),
        )
    };
    let actor = caller.actor.to_string();
    let row = db::clusters::insert(
        &mut tx,
        &db::clusters::NewCluster {
            tenant_id: tenant.id,
            name: &req.name,
            kind: req.kind,
            spec: &req.spec,
            broker_count: fp.brokers,
            storage_bytes: fp.storage_bytes,
            requested_by: &actor,
        },
        &ApprovalUpdate {
            state: approval.0,
            reason: approval.1,
            decided_by: approval.2,
            phase: phase_conditions.0,
            conditions: &phase_conditions.1,
        },
    )
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "the tenant already has a cluster named {:?}",
            req.name
        )),
        other => other,
    })?;
    let cluster = Cluster::from(row);
    audit("cluster.create", &cluster)
        .record(&mut tx, caller, None::<&()>, Some(&cluster))
        .await?;
    tx.commit().await?;
    Ok(cluster)
}

/// A cluster the caller may see; 404 for any other.
pub async fn get(state: &AppState, caller: &Caller, id: ClusterId) -> Result<Cluster, ApiError> {
    let row = db::clusters::get(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    caller.require(row.tenant_id, Role::Viewer, "cluster")?;
    Ok(with_brokers(state, vec![row.into()]).await?.remove(0))
}

/// A cluster with its brokers, for the reconciler.
pub async fn load(state: &AppState, id: ClusterId) -> Result<Option<Cluster>, ApiError> {
    let Some(row) = db::clusters::get(&state.db, id).await? else {
        return Ok(None);
    };
    Ok(with_brokers(state, vec![row.into()]).await?.pop())
}

/// Fills in brokers (with health) and bootstrap servers.
async fn with_brokers(
    state: &AppState,
    mut clusters: Vec<Cluster>,
) -> Result<Vec<Cluster>, ApiError> {
    // A slice of a shared cluster is reached through its host's brokers.
    let ids: Vec<ClusterId> = clusters
        .iter()
        .map(|c| c.shared_cluster_id.unwrap_or(c.id))
        .collect();
    let brokers =
        db::brokers::of_clusters(&state.db, &ids, state.host_offline_after().num_seconds()).await?;
    for c in &mut clusters {
        c.brokers = brokers
            .get(&c.shared_cluster_id.unwrap_or(c.id))
            .cloned()
            .unwrap_or_default();
        if !c.brokers.is_empty() {
            c.bootstrap_servers = Some(
                c.brokers
                    .iter()
                    .map(|b| format!("{}:{}", b.address, b.port))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    Ok(clusters)
}

fn not_found() -> ApiError {
    ApiError::NotFound("cluster not found".into())
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    f: &ClusterFilter,
) -> Result<Page<Cluster>, ApiError> {
    let (limit, offset) = PageQuery {
        limit: f.limit,
        offset: f.offset,
    }
    .resolve()
    .map_err(ApiError::BadRequest)?;
    let visible = caller.visible_tenants();
    let only: Vec<_>;
    let tenants = match (f.tenant_id, &visible) {
        (Some(t), _) => {
            caller.require(t, Role::Viewer, "tenant")?;
            only = vec![t];
            Some(only.as_slice())
        }
        (None, Some(v)) => Some(v.as_slice()),
        (None, None) => None,
    };
    let (rows, total) = db::clusters::list(
        &state.db,
        &db::clusters::ClusterQuery {
            tenants,
            approval: f.approval,
            kind: f.kind,
            name_contains: f.name.as_deref(),
            limit,
            offset,
        },
    )
    .await?;
    let items = with_brokers(state, rows.into_iter().map(Cluster::from).collect()).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// Locks a cluster the caller holds at least `min` in (404 when they cannot see it).
async fn lock_for(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    id: ClusterId,
    min: Role,
) -> Result<db::clusters::ClusterRow, ApiError> {
    let row = db::clusters::lock(tx, id).await?.ok_or_else(not_found)?;
    caller.require(row.tenant_id, min, "cluster")?;
    Ok(row)
}

pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    patch: ClusterSpecPatch,
) -> Result<Cluster, ApiError> {
    let mut tx = state.db.begin().await?;
    let row = lock_for(&mut tx, caller, id, Role::Member).await?;
    let before = Cluster::from(row.clone());
    if before.approval.state == ApprovalState::Rejected {
        return Err(ApiError::Conflict(
            "a rejected request cannot be changed; request a new cluster".into(),
        ));
    }
    let new_spec = rules::apply_patch(&before.spec, &patch);
    if new_spec == before.spec {
        return Ok(before);
    }
    ensure_valid(rules::validate_spec(before.kind, &new_spec))?;
    let (old_fp, new_fp) = (rules::footprint(&before.spec), rules::footprint(&new_spec));
    if before.approval.state == ApprovalState::Approved {
        ensure_valid(rules::check_live_change(&before.spec, &new_spec))?;
        let quota = db::tenants::lock_quota(&mut tx, row.tenant_id).await?;
        let usage = db::tenants::usage(&mut tx, row.tenant_id).await?;
        let excess = rules::quota_excess(&quota, &usage, rules::growth(old_fp, new_fp));
        if !excess.is_empty() {
            return Err(ApiError::Conflict(format!(
                "the change would exceed the tenant's quota ({}); ask a platform admin to raise it",
                excess.join("; ")
            )));
        }
        if let Some(reason) = rules::unsupported_live_change(&before.spec, &new_spec) {
            return Err(ApiError::Conflict(reason));
        }
    }
    let updated = Cluster::from(
        db::clusters::update_spec(&mut tx, id, &new_spec, new_fp.brokers, new_fp.storage_bytes)
            .await?,
    );
    audit("cluster.update", &updated)
        .record(&mut tx, caller, Some(&before), Some(&updated))
        .await?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn delete(state: &AppState, caller: &Caller, id: ClusterId) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let row = lock_for(&mut tx, caller, id, Role::Member).await?;
    let before = Cluster::from(row);
    if before.shared_cluster_id.is_some() {
        // A slice leaves nothing behind on the shared brokers: its topics, users, ACLs and
        // quotas go first; if the brokers cannot be reached the slice stays, whole.
        let slice = with_brokers(state, vec![before.clone()])
            .await?
            .pop()
            .ok_or_else(not_found)?;
        super::topics::remove_all_of_slice(state, &slice).await?;
        super::kafka_users::remove_all_of_slice(state, &slice).await?;
    }
    // The hosts of its brokers get a new desired state without them: agents stop the
    // brokers and release their storage.
    db::brokers::bump_hosts_of(&mut tx, id).await?;
    if let Some(shared) = before.shared_cluster_id {
        // Its storage quota leaves the shared brokers.
        db::brokers::bump_hosts_of(&mut tx, shared).await?;
    }
    db::clusters::delete(&mut tx, id).await?;
    audit("cluster.delete", &before)
        .record(&mut tx, caller, Some(&before), None::<&()>)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A platform admin approves a pending request; the tenant's quota must hold it.
pub async fn approve(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    d: Decision,
) -> Result<Cluster, ApiError> {
    let mut tx = state.db.begin().await?;
    let before = lock_pending(&mut tx, caller, id).await?;
    let quota = db::tenants::lock_quota(&mut tx, before.tenant_id).await?;
    let usage = db::tenants::usage(&mut tx, before.tenant_id).await?;
    let excess = rules::quota_excess(&quota, &usage, rules::footprint(&before.spec));
    if !excess.is_empty() {
        return Err(ApiError::Conflict(format!(
            "approving would exceed the tenant's quota ({}); raise the quota first",
            excess.join("; ")
        )));
    }
    let reason = d
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "Approved by a platform admin.".into());
    let after = write_decision(&mut tx, caller, &before, ApprovalState::Approved, &reason).await?;
    tx.commit().await?;
    Ok(after)
}

/// A platform admin rejects a pending request with a reason.
pub async fn reject(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    d: Decision,
) -> Result<Cluster, ApiError> {
    let reason = d
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::field(
                "reason",
                "say why the request is rejected; the requester sees it",
            )
        })?;
    let mut tx = state.db.begin().await?;
    let before = lock_pending(&mut tx, caller, id).await?;
    let after = write_decision(&mut tx, caller, &before, ApprovalState::Rejected, &reason).await?;
    tx.commit().await?;
    Ok(after)
}

/// Locks a request for a platform admin's decision: 404 when the caller cannot see it,
/// 403 for anyone but a platform admin, 409 once it is decided.
async fn lock_pending(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    id: ClusterId,
) -> Result<Cluster, ApiError> {
    let before = Cluster::from(lock_for(tx, caller, id, Role::Viewer).await?);
    caller.require_platform_admin()?;
    ensure_pending(&before)?;
    Ok(before)
}

/// Writes a decision with the status it implies, and audits it.
async fn write_decision(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    before: &Cluster,
    decision: ApprovalState,
    reason: &str,
) -> Result<Cluster, ApiError> {
    let ((phase, conditions), action) = match decision {
        ApprovalState::Approved => (rules::approved_status(), "cluster.approve"),
        _ => (rules::rejected_status(reason), "cluster.reject"),
    };
    let actor = caller.actor.to_string();
    let update = ApprovalUpdate {
        state: decision,
        reason: Some(reason),
        decided_by: Some(&actor),
        phase,
        conditions: &conditions,
    };
    let after = Cluster::from(db::clusters::set_approval(tx, before.id, &update).await?);
    audit(action, &after)
        .record(tx, caller, Some(before), Some(&after))
        .await?;
    Ok(after)
}

fn ensure_pending(c: &Cluster) -> Result<(), ApiError> {
    match c.approval.state {
        ApprovalState::Pending => Ok(()),
        other => Err(ApiError::Conflict(format!(
            "the request is already {other}; only pending requests can be decided"
        ))),
    }
}
