//! `/clusters/{id}/kafka-users`: SCRAM users of a secured cluster (password shown once).

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::{
    kafka_users::{CreateKafkaUser, CreatedKafkaUser, KafkaUser},
    ClusterId,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::Caller,
    error::{ApiJson, ApiPath, ApiResult},
    service::kafka_users as svc,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_kafka_users, create_kafka_user))
        .routes(routes!(delete_kafka_user))
}

#[utoipa::path(get, path = "/clusters/{id}/kafka-users", tag = "kafka-users", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    responses((status = 200, body = Vec<KafkaUser>), (status = "default", response = ProblemResponse)))]
async fn list_kafka_users(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
) -> ApiResult<Json<Vec<KafkaUser>>> {
    Ok(Json(svc::list(&s, &caller, id).await?))
}

/// Create a Kafka user (member): its password and connection settings are in this
/// answer only.
#[utoipa::path(post, path = "/clusters/{id}/kafka-users", tag = "kafka-users", security(("bearer" = [])),
    params(("id" = ClusterId, Path)), request_body = CreateKafkaUser,
    responses((status = 201, body = CreatedKafkaUser), (status = "default", response = ProblemResponse)))]
async fn create_kafka_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(req): ApiJson<CreateKafkaUser>,
) -> ApiResult<(StatusCode, Json<CreatedKafkaUser>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, id, req).await?),
    ))
}

/// Delete a Kafka user (member): its credentials and ACLs go from the brokers.
#[utoipa::path(delete, path = "/clusters/{id}/kafka-users/{name}", tag = "kafka-users", security(("bearer" = [])),
    params(("id" = ClusterId, Path), ("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ProblemResponse)))]
async fn delete_kafka_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, name)): ApiPath<(ClusterId, String)>,
) -> ApiResult<StatusCode> {
    svc::delete(&s, &caller, id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
