//! Sessions and bearer tokens: issuing a session after login, and turning any bearer
//! (session or API token) into a `Caller` after checking its row is live.

use std::collections::HashMap;

use chrono::Utc;
use tideway_api::{Role, TokenId, UserId};
use uuid::Uuid;

use super::{
    jwt::{Claims, TokenKind},
    Actor, Caller,
};
use crate::{db, error::ApiError, state::AppState};

/// A freshly issued session.
pub struct IssuedSession {
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub csrf: String,
}

/// Starts a session for `user` and signs its token.
pub async fn issue(state: &AppState, user: UserId) -> Result<IssuedSession, ApiError> {
    let id = Uuid::new_v4();
    let expires_at = Utc::now()
        + chrono::Duration::from_std(state.config.session_ttl)
            .map_err(|e| ApiError::Internal(format!("session ttl: {e}")))?;
    db::sessions::insert(&state.db, id, user, expires_at).await?;
    let csrf = crate::auth::random_token(24);
    let token = state
        .jwt
        .sign(id, TokenKind::Session, expires_at, Some(csrf.clone()));
    Ok(IssuedSession {
        token,
        expires_at,
        csrf,
    })
}

/// Ends a session at once.
pub async fn revoke(state: &AppState, claims: &Claims) -> Result<(), ApiError> {
    db::sessions::revoke(&state.db, claims.jti).await
}

const INVALID: &str = "the token is invalid, expired or revoked; log in again or use a new token";
const UNBACKED: &str = "the user who created this token no longer holds the role it grants; \
                        ask a tenant admin for a new token";

/// Checks a bearer (signature, expiry, live row) and loads what the caller may do.
pub async fn authenticate(state: &AppState, token: &str) -> Result<(Caller, Claims), ApiError> {
    let claims = state
        .jwt
        .verify(token)
        .map_err(|_| ApiError::Unauthorized(INVALID.into()))?;
    let caller = match claims.kind {
        TokenKind::Session => {
            let user = db::sessions::live_user(&state.db, claims.jti)
                .await?
                .ok_or_else(|| ApiError::Unauthorized(INVALID.into()))?;
            user_caller(state, user).await?
        }
        TokenKind::Api => {
            let (token, creator) = db::tokens::get_live(&state.db, TokenId(claims.jti))
                .await?
                .ok_or_else(|| ApiError::Unauthorized(INVALID.into()))?;
            if !crate::service::tokens::backed_by_creator(token.role, creator) {
                return Err(ApiError::Unauthorized(UNBACKED.into()));
            }
            db::tokens::touch(&state.db, token.id).await?;
            token_caller(token)
        }
        TokenKind::Agent => {
            return Err(ApiError::Unauthorized(
                "agent tokens only work on /agent/v1".into(),
            ));
        }
    };
    Ok((caller, claims))
}

/// The caller for a logged-in user, with their memberships.
pub async fn user_caller(state: &AppState, user: db::users::UserRow) -> Result<Caller, ApiError> {
    let roles = db::tenants::roles_of(&state.db, user.id).await?;
    Ok(Caller {
        actor: Actor::User {
            id: user.id,
            username: user.username,
        },
        platform_admin: user.platform_admin,
        roles,
        request_id: None,
    })
}

fn token_caller(token: db::tokens::TokenRow) -> Caller {
    let role: Role = token.role;
    let mut roles = HashMap::new();
    if let Some(tenant) = token.tenant_id {
        roles.insert(tenant, role);
    }
    Caller {
        actor: Actor::Token {
            id: token.id,
            name: token.name,
        },
        platform_admin: role == Role::PlatformAdmin,
        roles,
        request_id: None,
    }
}
