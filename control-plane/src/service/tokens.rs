//! API tokens: created by tenant admins (or platform admins for platform tokens), shown
//! once, expiring, revocable at once.

use chrono::Utc;
use tideway_api::{
    tokens::{ApiToken, CreateToken, CreatedToken},
    Role, TenantId, TokenId,
};

use super::Audit;
use crate::{
    auth::{jwt::TokenKind, Actor, Caller},
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
    let creator = match &caller.actor {
        Actor::User { id, .. } => Some(*id),
        Actor::Token { id, .. } => db::tokens::creator_of(&mut tx, *id).await?,
        Actor::Agent { .. } | Actor::System => None,
    };
    let row = db::tokens::insert(
        &mut tx,
        &db::tokens::NewToken {
            name,
            tenant: req.tenant_id,
            role: req.role,
            created_by: &caller.actor.to_string(),
            creator,
            expires_at,
        },
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

/// Whether a token's creator still holds the authority the token grants: a platform admin
/// backs any token; anyone else only tokens of a tenant they hold at least that role in.
pub fn backed_by_creator(role: Role, creator: db::tokens::CreatorStanding) -> bool {
    creator.known
        && (creator.platform_admin
            || (role != Role::PlatformAdmin && creator.tenant_role.is_some_and(|r| r >= role)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tokens::CreatorStanding;

    #[test]
    fn a_token_works_only_while_its_creator_holds_its_role() {
        let member = |role| CreatorStanding {
            known: true,
            platform_admin: false,
            tenant_role: role,
        };
        let admin = CreatorStanding {
            known: true,
            platform_admin: true,
            tenant_role: None,
        };
        for (role, creator, backed) in [
            (Role::Member, member(Some(Role::TenantAdmin)), true),
            (Role::TenantAdmin, member(Some(Role::TenantAdmin)), true),
            (Role::TenantAdmin, member(Some(Role::Member)), false),
            (Role::Viewer, member(None), false),
            (Role::PlatformAdmin, member(Some(Role::TenantAdmin)), false),
            (Role::PlatformAdmin, admin, true),
            (Role::TenantAdmin, admin, true),
            (Role::Viewer, CreatorStanding::default(), false),
        ] {
            assert_eq!(
                backed_by_creator(role, creator),
                backed,
                "{role:?} {creator:?}"
            );
        }
    }
}
