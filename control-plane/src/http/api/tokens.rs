//! `/tokens`: API tokens for automation.

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::{
    tokens::{ApiToken, CreateToken, CreatedToken},
    TokenId,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::Caller,
    error::{ApiJson, ApiPath, ApiResult},
    service::tokens as svc,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// Tokens of the tenants the caller administers (all for a platform admin).
#[utoipa::path(get, path = "/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiToken>), (status = "default", response = ProblemResponse)))]
async fn list_tokens(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(svc::list(&s, &caller).await?))
}

/// Create a token; the secret is in this answer only.
#[utoipa::path(post, path = "/tokens", tag = "tokens", security(("bearer" = [])), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = "default", response = ProblemResponse)))]
async fn create_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, req).await?),
    ))
}

/// Revoke a token; it is refused from the next request on.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", security(("bearer" = [])), params(("id" = TokenId, Path)),
    responses((status = 204, description = "Revoked"), (status = "default", response = ProblemResponse)))]
async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<StatusCode> {
    svc::revoke(&s, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
