//! Tenants, their members and their quotas.

use tideway_api::{
    tenants::{CreateTenant, Member, PutMember, Quota, QuotaReport, Tenant, UpdateTenant},
    FieldError, Role, TenantId,
};

use super::{cluster_rules::check_name, ensure_valid, Audit};
use crate::{auth::Caller, db, error::ApiError, state::AppState};

fn audit<'a>(
    action: &'a str,
    tenant: TenantId,
    target_type: &'a str,
    target_id: String,
) -> Audit<'a> {
    Audit {
        action,
        tenant_id: Some(tenant),
        target_type,
        target_id,
    }
}

fn check_display_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() || name.chars().count() > 100 {
        errors.push(FieldError {
            field: "display_name".into(),
            message: "use 1 to 100 characters".into(),
        });
    }
}

fn check_quota(q: &Quota) -> Vec<FieldError> {
    let fields = [
        ("max_clusters", q.max_clusters),
        ("max_brokers", q.max_brokers),
        ("max_storage_bytes", q.max_storage_bytes),
        ("max_partitions", q.max_partitions),
        ("max_produce_bytes_per_sec", q.max_produce_bytes_per_sec),
        ("max_consume_bytes_per_sec", q.max_consume_bytes_per_sec),
    ];
    fields
        .into_iter()
        .filter(|(_, v)| *v < 0)
        .map(|(f, v)| FieldError {
            field: format!("quota.{f}"),
            message: format!("must not be negative, got {v}"),
        })
        .collect()
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: CreateTenant,
) -> Result<Tenant, ApiError> {
    caller.require_platform_admin()?;
    let display_name = req.display_name.clone().unwrap_or_else(|| req.name.clone());
    let quota = req.quota.unwrap_or_default();
    let mut errors = Vec::new();
    check_name("name", &req.name, &mut errors);
    check_display_name(&display_name, &mut errors);
    errors.extend(check_quota(&quota));
    ensure_valid(errors)?;

    let mut tx = state.db.begin().await?;
    let row = db::tenants::insert(&mut tx, &req.name, &display_name, req.auto_approve, &quota)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict(format!("a tenant named {:?} already exists", req.name))
            }
            other => other,
        })?;
    let tenant = Tenant::from(row);
    audit("tenant.create", tenant.id, "tenant", tenant.id.to_string())
        .record(&mut tx, caller, None::<&()>, Some(&(&tenant, &quota)))
        .await?;
    tx.commit().await?;
    Ok(tenant)
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Tenant>, ApiError> {
    let visible = caller.visible_tenants();
    Ok(db::tenants::list(&state.db, visible.as_deref())
        .await?
        .into_iter()
        .map(Tenant::from)
        .collect())
}

pub async fn get(state: &AppState, caller: &Caller, id: TenantId) -> Result<Tenant, ApiError> {
    caller.require(id, Role::Viewer, "tenant")?;
    db::tenants::get(&state.db, id)
        .await?
        .map(Tenant::from)
        .ok_or_else(|| ApiError::NotFound("tenant not found".into()))
}

/// Tenant admins may rename; only platform admins change the approval policy.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: TenantId,
    req: UpdateTenant,
) -> Result<Tenant, ApiError> {
    caller.require(id, Role::TenantAdmin, "tenant")?;
    if req.auto_approve.is_some() {
        caller.require_platform_admin()?;
    }
    let before = get(state, caller, id).await?;
    let display_name = req
        .display_name
        .unwrap_or_else(|| before.display_name.clone());
    let mut errors = Vec::new();
    check_display_name(&display_name, &mut errors);
    ensure_valid(errors)?;
    let mut tx = state.db.begin().await?;
    let after = Tenant::from(
        db::tenants::update(
            &mut tx,
            id,
            &display_name,
            req.auto_approve.unwrap_or(before.auto_approve),
        )
        .await?,
    );
    audit("tenant.update", id, "tenant", id.to_string())
        .record(&mut tx, caller, Some(&before), Some(&after))
        .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn members(
    state: &AppState,
    caller: &Caller,
    id: TenantId,
) -> Result<Vec<Member>, ApiError> {
    caller.require(id, Role::Viewer, "tenant")?;
    Ok(db::tenants::members(&state.db, id).await?)
}

/// Grants `username` a role; nobody grants more than they hold.
pub async fn put_member(
    state: &AppState,
    caller: &Caller,
    id: TenantId,
    username: &str,
    req: PutMember,
) -> Result<Member, ApiError> {
    let own = caller.require(id, Role::TenantAdmin, "tenant")?;
    if req.role == Role::PlatformAdmin {
        return Err(ApiError::field(
            "role",
            "platform-admin is not a tenant role",
        ));
    }
    if req.role > own {
        return Err(ApiError::Forbidden(format!(
            "you cannot grant {} while holding {own}",
            req.role
        )));
    }
    let username = username.trim();
    if username.is_empty() || username.len() > 64 || username.chars().any(char::is_control) {
        return Err(ApiError::field(
            "username",
            "use 1 to 64 printable characters",
        ));
    }
    get(state, caller, id).await?;
    let mut tx = state.db.begin().await?;
    let user = db::users::ensure(&mut tx, username).await?;
    let before = db::tenants::member_role(&mut tx, id, user.id).await?;
    db::tenants::put_member(&mut tx, id, user.id, req.role, false).await?;
    audit("member.put", id, "user", username.to_owned())
        .record(&mut tx, caller, before.as_ref(), Some(&req.role))
        .await?;
    tx.commit().await?;
    Ok(Member {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        role: req.role,
        from_directory: false,
    })
}

pub async fn delete_member(
    state: &AppState,
    caller: &Caller,
    id: TenantId,
    username: &str,
) -> Result<(), ApiError> {
    caller.require(id, Role::TenantAdmin, "tenant")?;
    let user = db::users::by_username(&state.db, username)
        .await?
        .ok_or_else(|| ApiError::NotFound("member not found".into()))?;
    let mut tx = state.db.begin().await?;
    let before = db::tenants::member_role(&mut tx, id, user.id).await?;
    if !db::tenants::delete_member(&mut tx, id, user.id).await? {
        return Err(ApiError::NotFound("member not found".into()));
    }
    audit("member.delete", id, "user", username.to_owned())
        .record(&mut tx, caller, before.as_ref(), None::<&()>)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn quota(
    state: &AppState,
    caller: &Caller,
    id: TenantId,
) -> Result<QuotaReport, ApiError> {
    caller.require(id, Role::Viewer, "tenant")?;
    let quota = db::tenants::quota(&state.db, id).await?;
    let usage = db::tenants::usage(&mut *state.db.acquire().await?, id).await?;
    Ok(QuotaReport {
        tenant_id: id,
        quota,
        usage,
    })
}

/// Platform admins set quotas. Lowering a quota below usage is allowed (it blocks growth,
/// it does not remove clusters).
pub async fn put_quota(
    state: &AppState,
    caller: &Caller,
    id: TenantId,
    q: Quota,
) -> Result<QuotaReport, ApiError> {
    get(state, caller, id).await?;
    caller.require_platform_admin()?;
    ensure_valid(check_quota(&q))?;
    let mut tx = state.db.begin().await?;
    let before = db::tenants::lock_quota(&mut tx, id).await?;
    db::tenants::put_quota(&mut tx, id, &q).await?;
    // The tenant's Kafka users get the new byte rates on the brokers before the quota is
    // stored; if a cluster cannot take them, the quota stays as it was.
    super::kafka_users::apply_tenant_quota(state, id, &q, &before).await?;
    audit("quota.update", id, "tenant", id.to_string())
        .record(&mut tx, caller, Some(&before), Some(&q))
        .await?;
    let usage = db::tenants::usage(&mut tx, id).await?;
    tx.commit().await?;
    Ok(QuotaReport {
        tenant_id: id,
        quota: q,
        usage,
    })
}
