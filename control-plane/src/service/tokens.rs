//! API tokens: created by tenant admins (or platform admins for platform tokens), shown
//! once, expiring, revocable at once.

use chrono::Utc;
use tideway_api::{
    tokens::{ApiToken, CreateToken, CreatedToken},
    Role, TenantId, TokenId,
};

use super::Audit;
use crate::{
    auth::{jwt::TokenKind, Caller},
    db,
    error::ApiError,
    state::AppState,
};

/// Lifetime of a token when none is asked for.
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
/// Longest lifetime of a token.
pub const MAX_TOKEN_DAYS: i64 = 365;

fn audit<'a>(action: &'a str, t: &ApiToken) -> Audit<'a> {
    Audit {
        action,
        tenant_id: t.tenant_id,
        target_type: "token",
        target_id: t.id.to_string(),
    }
}

/// Checks the caller may manage tokens of `tenant` (platform tokens: `None`).
fn require_manage(caller: &Caller, tenant: Option<TenantId>) -> Result<Role, ApiError> {
    match tenant {
        Some(t) => caller.require(t, Role::TenantAdmin, "tenant"),
        None => caller.require_platform_admin().map(|_| Role::PlatformAdmin),
    }
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: CreateToken,
) -> Result<CreatedToken, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "use 1 to 100 characters"));
    }
    let days = req.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(ApiError::field(
            "expires_in_days",
            format!("must be between 1 and {MAX_TOKEN_DAYS}, got {days}"),
        ));
    }
    match (req.role, req.tenant_id) {
        (Role::PlatformAdmin, Some(_)) => {
            return Err(ApiError::field(
                "tenant_id",
                "a platform-admin token is not scoped to a tenant; leave it out",
            ))
        }
        (Role::PlatformAdmin, None) => {}
        (_, None) => {
            return Err(ApiError::field(
                "tenant_id",
                "a tenant token needs the tenant it acts in",
            ))
        }
        _ => {}
    }
    let own = require_manage(caller, req.tenant_id)?;
    if req.role > own {
        return Err(ApiError::Forbidden(format!(
            "you cannot create a {} token while holding {own}",
            req.role
        )));
    }
    let expires_at = Utc::now() + chrono::Duration::days(days);
    let mut tx = state.db.begin().await?;
    let row = db::tokens::insert(
        &mut tx,
        name,
        req.tenant_id,
        req.role,
        &caller.actor.to_string(),
        expires_at,
    )
    .await?;
    let token = ApiToken::from(row);
    audit("token.create", &token)
        .record(&mut tx, caller, None::<&()>, Some(&token))
        .await?;
    tx.commit().await?;
    let secret = state.jwt.sign(token.id.0, TokenKind::Api, expires_at, None);
    Ok(CreatedToken { token, secret })
}

/// Tokens the caller manages: all for a platform admin, else those of tenants they administer.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<ApiToken>, ApiError> {
    let visible: Option<Vec<TenantId>> = (!caller.platform_admin).then(|| {
        caller
            .roles
            .iter()
            .filter(|(_, r)| **r >= Role::TenantAdmin)
            .map(|(t, _)| *t)
            .collect()
    });
    Ok(db::tokens::list(&state.db, visible.as_deref())
        .await?
        .into_iter()
        .map(ApiToken::from)
        .collect())
}

pub async fn revoke(state: &AppState, caller: &Caller, id: TokenId) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let row = db::tokens::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("token not found".into()))?;
    require_manage(caller, row.tenant_id).map_err(|e| match e {
        ApiError::Forbidden(_) if row.tenant_id.is_none() => {
            ApiError::NotFound("token not found".into())
        }
        other => other,
    })?;
    let before = ApiToken::from(row);
    let after = ApiToken::from(db::tokens::revoke(&mut tx, id).await?);
    audit("token.revoke", &after)
        .record(&mut tx, caller, Some(&before), Some(&after))
        .await?;
    tx.commit().await?;
    Ok(())
}
