//! REST handlers under `/api/v1` (and the agent protocol under `/agent/v1`): each extracts, authorizes through the service, calls it,
//! and maps the answer. The paths register themselves in the OpenAPI document.

mod admin;
mod agents;
mod clusters;
mod kafka_users;
mod monitoring;
mod tenants;
mod tokens;
mod topics;
mod users;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{openapi::ApiDoc, state::AppState};

/// The API router with its OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(users::router())
        .merge(tenants::router())
        .merge(clusters::router())
        .merge(tokens::router())
        .merge(topics::router())
        .merge(kafka_users::router())
        .merge(monitoring::router())
        .merge(admin::router())
        .merge(agents::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .nest("/agent/v1", agents::agent_router())
}

/// The error answer of every endpoint.
#[derive(utoipa::ToResponse)]
#[response(
    description = "An RFC 7807 problem",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct ProblemResponse(tideway_api::Problem);
