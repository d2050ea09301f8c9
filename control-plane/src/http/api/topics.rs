//! `/clusters/{id}/topics`: topics managed through the control plane.

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::{
    topics::{CreateTopic, Topic, UpdateTopic},
    ClusterId,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::Caller,
    error::{ApiJson, ApiPath, ApiResult},
    service::topics as svc,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_topics, create_topic))
        .routes(routes!(update_topic, delete_topic))
}

#[utoipa::path(get, path = "/clusters/{id}/topics", tag = "topics", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    responses((status = 200, body = Vec<Topic>), (status = "default", response = ProblemResponse)))]
async fn list_topics(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
) -> ApiResult<Json<Vec<Topic>>> {
    Ok(Json(svc::list(&s, &caller, id).await?))
}

/// Create a topic on the cluster (member); counts against the tenant's partition quota.
#[utoipa::path(post, path = "/clusters/{id}/topics", tag = "topics", security(("bearer" = [])),
    params(("id" = ClusterId, Path)), request_body = CreateTopic,
    responses((status = 201, body = Topic), (status = "default", response = ProblemResponse)))]
async fn create_topic(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(req): ApiJson<CreateTopic>,
) -> ApiResult<(StatusCode, Json<Topic>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, id, req).await?),
    ))
}

/// Replace a topic's config overrides (member).
#[utoipa::path(patch, path = "/clusters/{id}/topics/{name}", tag = "topics", security(("bearer" = [])),
    params(("id" = ClusterId, Path), ("name" = String, Path)), request_body = UpdateTopic,
    responses((status = 200, body = Topic), (status = "default", response = ProblemResponse)))]
async fn update_topic(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, name)): ApiPath<(ClusterId, String)>,
    ApiJson(req): ApiJson<UpdateTopic>,
) -> ApiResult<Json<Topic>> {
    Ok(Json(svc::update(&s, &caller, id, &name, req).await?))
}

#[utoipa::path(delete, path = "/clusters/{id}/topics/{name}", tag = "topics", security(("bearer" = [])),
    params(("id" = ClusterId, Path), ("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ProblemResponse)))]
async fn delete_topic(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, name)): ApiPath<(ClusterId, String)>,
) -> ApiResult<StatusCode> {
    svc::delete(&s, &caller, id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
