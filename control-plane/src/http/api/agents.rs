//! `/agent-tokens` (platform admin) and the agent protocol under `/agent/v1`.

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::{
    agents::{
        AgentToken, CreateAgentToken, CreatedAgentToken, DesiredState, Heartbeat, HeartbeatAck,
        RegisterHost, Registered,
    },
    HostId, TokenId,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::{agent::AgentCaller, Caller},
    error::{ApiJson, ApiPath, ApiResult},
    service::agents as svc,
    state::AppState,
};

/// Token administration, under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agent_tokens, create_agent_token))
        .routes(routes!(revoke_agent_token))
}

/// The agent protocol, under `/agent/v1`.
pub fn agent_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(heartbeat))
        .routes(routes!(desired))
}

#[utoipa::path(get, path = "/agent-tokens", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentToken>), (status = "default", response = ProblemResponse)))]
async fn list_agent_tokens(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AgentToken>>> {
    Ok(Json(svc::list_tokens(&s, &caller).await?))
}

/// Issue a token for `broker-agent run --token-file` (platform admin); the secret is shown once.
#[utoipa::path(post, path = "/agent-tokens", tag = "agents", security(("bearer" = [])), request_body = CreateAgentToken,
    responses((status = 201, body = CreatedAgentToken), (status = "default", response = ProblemResponse)))]
async fn create_agent_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAgentToken>,
) -> ApiResult<(StatusCode, Json<CreatedAgentToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create_token(&s, &caller, req).await?),
    ))
}

/// Revoke an agent token; its agent is refused from the next request on.
#[utoipa::path(delete, path = "/agent-tokens/{id}", tag = "agents", security(("bearer" = [])), params(("id" = TokenId, Path)),
    responses((status = 204, description = "Revoked"), (status = "default", response = ProblemResponse)))]
async fn revoke_agent_token(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<StatusCode> {
    svc::revoke_token(&s, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register (or re-register) the agent's host.
#[utoipa::path(post, path = "/register", tag = "agent protocol", security(("bearer" = [])), request_body = RegisterHost,
    responses((status = 200, body = Registered), (status = "default", response = ProblemResponse)))]
async fn register(
    State(s): State<AppState>,
    agent: AgentCaller,
    ApiJson(req): ApiJson<RegisterHost>,
) -> ApiResult<Json<Registered>> {
    Ok(Json(svc::register(&s, &agent, req).await?))
}

/// Report liveness and what the agent applied; answers the generation it should be at.
#[utoipa::path(post, path = "/hosts/{id}/heartbeat", tag = "agent protocol", security(("bearer" = [])),
    params(("id" = HostId, Path)), request_body = Heartbeat,
    responses((status = 200, body = HeartbeatAck), (status = "default", response = ProblemResponse)))]
async fn heartbeat(
    State(s): State<AppState>,
    agent: AgentCaller,
    ApiPath(id): ApiPath<HostId>,
    ApiJson(hb): ApiJson<Heartbeat>,
) -> ApiResult<Json<HeartbeatAck>> {
    Ok(Json(svc::heartbeat(&s, &agent, id, hb).await?))
}

/// The brokers the host should run, with the desired-state generation.
#[utoipa::path(get, path = "/hosts/{id}/desired", tag = "agent protocol", security(("bearer" = [])),
    params(("id" = HostId, Path)),
    responses((status = 200, body = DesiredState), (status = "default", response = ProblemResponse)))]
async fn desired(
    State(s): State<AppState>,
    agent: AgentCaller,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<Json<DesiredState>> {
    Ok(Json(svc::desired(&s, &agent, id).await?))
}
