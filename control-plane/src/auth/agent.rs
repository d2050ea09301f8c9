//! Agents authenticate with agent tokens (JWTs of kind `agent` naming a live row of
//! `agent_tokens`), issued and revoked by platform admins.

use axum::{extract::FromRequestParts, http::request::Parts};
use tideway_api::TokenId;

use super::{bearer, jwt::TokenKind, request_id};
use crate::{db, error::ApiError, state::AppState};

/// An authenticated agent.
#[derive(Clone, Debug)]
pub struct AgentCaller {
    pub token_id: TokenId,
    /// `agent:NAME`, for the audit log.
    pub actor: String,
    pub request_id: Option<String>,
}

const INVALID: &str =
    "the agent token is invalid, expired or revoked; ask a platform admin for a new one";

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = state
            .jwt
            .verify(bearer(parts)?)
            .map_err(|_| ApiError::Unauthorized(INVALID.into()))?;
        if claims.kind != TokenKind::Agent {
            return Err(ApiError::Unauthorized(
                "this route needs an agent token".into(),
            ));
        }
        let row = db::agents::live_token(&state.db, TokenId(claims.jti))
            .await?
            .ok_or_else(|| ApiError::Unauthorized(INVALID.into()))?;
        db::agents::touch_token(&state.db, row.id).await?;
        Ok(AgentCaller {
            token_id: row.id,
            actor: format!("agent:{}", row.name),
            request_id: request_id(parts),
        })
    }
}
