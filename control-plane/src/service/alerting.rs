//! Alerts, alert rules and tenants' alert webhooks as callers see them: a platform admin
//! sees every alert and sets the platform defaults; a tenant's members see its alerts,
//! rules and webhook, and its admins override rules and set the webhook.

use tideway_api::{
    monitoring::{Alert, AlertRule, AlertWebhook, SetAlertRule, SetAlertWebhook},
    FieldError, Role, TenantId,
};

use super::{ensure_valid, Audit};
use crate::{
    auth::Caller,
    db::{self, alerts::RuleSetting},
    error::ApiError,
    monitoring::alerts::{rule_def, RuleDef, Rules},
    state::AppState,
};

/// The newest alerts the caller may see, firing ones first.
pub async fn recent(state: &AppState, caller: &Caller, limit: i64) -> Result<Vec<Alert>, ApiError> {
    let visible = caller.visible_tenants();
    Ok(db::alerts::recent(&state.db, visible.as_deref(), limit.clamp(1, 500)).await?)
}

/// The alerts firing for `tenant` (which the caller must see).
pub async fn firing_for(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
) -> Result<Vec<Alert>, ApiError> {
    caller.require(tenant, Role::Viewer, "tenant")?;
    let recent = db::alerts::recent(&state.db, Some(&[tenant]), 100).await?;
    Ok(recent
        .into_iter()
        .filter(|a| a.resolved_at.is_none())
        .collect())
}

async fn rules(state: &AppState) -> Result<Rules, ApiError> {
    Ok(Rules::new(db::alerts::rule_settings(&state.db).await?))
}

/// The platform defaults (any signed-in caller may read them).
pub async fn defaults(state: &AppState) -> Result<Vec<AlertRule>, ApiError> {
    Ok(rules(state).await?.describe(None))
}

/// The rules as they apply to `tenant`'s clusters.
pub async fn of_tenant(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
) -> Result<Vec<AlertRule>, ApiError> {
    caller.require(tenant, Role::Viewer, "tenant")?;
    Ok(rules(state).await?.describe(Some(tenant)))
}

fn known(rule: &str) -> Result<&'static RuleDef, ApiError> {
    rule_def(rule).ok_or_else(|| ApiError::NotFound(format!("no alert rule named {rule:?}")))
}

fn check(def: &RuleDef, body: &SetAlertRule) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !body.threshold.is_finite() || body.threshold < 0.0 {
        errors.push(FieldError {
            field: "threshold".into(),
            message: "must be a number of at least 0".into(),
        });
    } else if def.unit == "percent" && body.threshold > 100.0 {
        errors.push(FieldError {
            field: "threshold".into(),
            message: "a percentage must be at most 100".into(),
        });
    }
    ensure_valid(errors)
}

/// Sets a platform default (platform admin) or, with `tenant`, the tenant's override
/// (tenant admin).
pub async fn set(
    state: &AppState,
    caller: &Caller,
    tenant: Option<TenantId>,
    rule: &str,
    body: SetAlertRule,
) -> Result<AlertRule, ApiError> {
    match tenant {
        None => caller.require_platform_admin()?,
        Some(t) => caller.require(t, Role::TenantAdmin, "tenant").map(drop)?,
    }
    let def = known(rule)?;
    check(def, &body)?;
    let setting = RuleSetting {
        tenant_id: tenant,
        rule: def.name.into(),
        enabled: body.enabled,
        threshold: body.threshold,
    };
    let mut tx = state.db.begin().await?;
    db::alerts::put_rule(&mut tx, &setting).await?;
    Audit {
        action: "alert_rule.set",
        tenant_id: tenant,
        target_type: "alert_rule",
        target_id: def.name.into(),
    }
    .record(&mut tx, caller, None::<&()>, Some(&body))
    .await?;
    tx.commit().await?;
    let applied = rules(state).await?.describe(tenant);
    applied
        .into_iter()
        .find(|r| r.rule == def.name)
        .ok_or_else(|| ApiError::Internal("the rule vanished".into()))
}

/// Drops a tenant's override: the platform default applies again.
pub async fn reset(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
    rule: &str,
) -> Result<(), ApiError> {
    caller.require(tenant, Role::TenantAdmin, "tenant")?;
    let def = known(rule)?;
    let mut tx = state.db.begin().await?;
    if !db::alerts::delete_override(&mut tx, tenant, def.name).await? {
        return Err(ApiError::NotFound(format!(
            "the tenant has no override of {rule}"
        )));
    }
    Audit {
        action: "alert_rule.reset",
        tenant_id: Some(tenant),
        target_type: "alert_rule",
        target_id: def.name.into(),
    }
    .record(&mut tx, caller, None::<&()>, None::<&()>)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's own alert webhook, if it set one.
pub async fn webhook_of(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
) -> Result<AlertWebhook, ApiError> {
    caller.require(tenant, Role::Viewer, "tenant")?;
    db::alerts::tenant_webhook(&state.db, tenant)
        .await?
        .map(|(url, secret)| AlertWebhook {
            url,
            signed: secret.is_some(),
        })
        .ok_or_else(|| ApiError::NotFound("the tenant has no alert webhook".into()))
}

/// Sets where the tenant's alerts are POSTed too (tenant admin).
pub async fn set_webhook(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
    body: SetAlertWebhook,
) -> Result<AlertWebhook, ApiError> {
    caller.require(tenant, Role::TenantAdmin, "tenant")?;
    let mut errors = Vec::new();
    let url = body.url.trim();
    let parsed = reqwest::Url::parse(url).ok();
    match parsed.filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
        None => errors.push(FieldError {
            field: "url".into(),
            message: "must be an http:// or https:// URL with a host".into(),
        }),
        Some(url) => {
            if let Err(why) = state.webhook_policy.check_url(&url).await {
                errors.push(FieldError {
                    field: "url".into(),
                    message: why,
                });
            }
        }
    }
    if body.secret.as_deref().is_some_and(|s| s.len() < 16) {
        errors.push(FieldError {
            field: "secret".into(),
            message: "must be at least 16 characters".into(),
        });
    }
    ensure_valid(errors)?;
    let sealed = body
        .secret
        .as_deref()
        .map(|s| state.sealer.seal(s.as_bytes()));
    let shown = AlertWebhook {
        url: url.to_owned(),
        signed: sealed.is_some(),
    };
    let mut tx = state.db.begin().await?;
    db::alerts::put_tenant_webhook(&mut tx, tenant, url, sealed.as_deref()).await?;
    Audit {
        action: "alert_webhook.set",
        tenant_id: Some(tenant),
        target_type: "alert_webhook",
        target_id: tenant.to_string(),
    }
    .record(&mut tx, caller, None::<&()>, Some(&shown))
    .await?;
    tx.commit().await?;
    Ok(shown)
}

/// Stops sending the tenant's alerts to its webhook (tenant admin).
pub async fn delete_webhook(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
) -> Result<(), ApiError> {
    caller.require(tenant, Role::TenantAdmin, "tenant")?;
    let mut tx = state.db.begin().await?;
    if !db::alerts::delete_tenant_webhook(&mut tx, tenant).await? {
        return Err(ApiError::NotFound("the tenant has no alert webhook".into()));
    }
    Audit {
        action: "alert_webhook.delete",
        tenant_id: Some(tenant),
        target_type: "alert_webhook",
        target_id: tenant.to_string(),
    }
    .record(&mut tx, caller, None::<&()>, None::<&()>)
    .await?;
    tx.commit().await?;
    Ok(())
}
