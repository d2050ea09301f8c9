//! `/clusters`: requests, clusters, and the admin's approve and reject.

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::{
    clusters::{Cluster, ClusterFilter, ClusterSpecPatch, CreateCluster, Decision},
    ClusterId, Page,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::Caller,
    error::{ApiJson, ApiPath, ApiQuery, ApiResult},
    service::clusters as svc,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, create_cluster))
        .routes(routes!(get_cluster, update_cluster, delete_cluster))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// Clusters the caller may see, oldest first. Platform admins see every tenant's; use
/// `approval=pending` for the approval queue.
#[utoipa::path(get, path = "/clusters", tag = "clusters", security(("bearer" = [])), params(ClusterFilter),
    responses((status = 200, body = Page<Cluster>), (status = "default", response = ProblemResponse)))]
async fn list_clusters(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(f): ApiQuery<ClusterFilter>,
) -> ApiResult<Json<Page<Cluster>>> {
    Ok(Json(svc::list(&s, &caller, &f).await?))
}

/// Request a cluster. Within quota and with the tenant's auto-approval on, it is approved
/// at once; otherwise it waits for a platform admin.
#[utoipa::path(post, path = "/clusters", tag = "clusters", security(("bearer" = [])), request_body = CreateCluster,
    responses((status = 201, body = Cluster), (status = "default", response = ProblemResponse)))]
async fn create_cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateCluster>,
) -> ApiResult<(StatusCode, Json<Cluster>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/clusters/{id}", tag = "clusters", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    responses((status = 200, body = Cluster), (status = "default", response = ProblemResponse)))]
async fn get_cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
) -> ApiResult<Json<Cluster>> {
    Ok(Json(svc::get(&s, &caller, id).await?))
}

/// Change the spec; bumps the generation.
#[utoipa::path(patch, path = "/clusters/{id}", tag = "clusters", security(("bearer" = [])),
    params(("id" = ClusterId, Path)), request_body = ClusterSpecPatch,
    responses((status = 200, body = Cluster), (status = "default", response = ProblemResponse)))]
async fn update_cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(patch): ApiJson<ClusterSpecPatch>,
) -> ApiResult<Json<Cluster>> {
    Ok(Json(svc::update(&s, &caller, id, patch).await?))
}

#[utoipa::path(delete, path = "/clusters/{id}", tag = "clusters", security(("bearer" = [])), params(("id" = ClusterId, Path)),
    responses((status = 204, description = "Deleted"), (status = "default", response = ProblemResponse)))]
async fn delete_cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
) -> ApiResult<StatusCode> {
    svc::delete(&s, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approve a pending request (platform admin); the tenant's quota must hold it.
#[utoipa::path(post, path = "/clusters/{id}/approve", tag = "clusters", security(("bearer" = [])),
    params(("id" = ClusterId, Path)), request_body = Decision,
    responses((status = 200, body = Cluster), (status = "default", response = ProblemResponse)))]
async fn approve(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(d): ApiJson<Decision>,
) -> ApiResult<Json<Cluster>> {
    Ok(Json(svc::approve(&s, &caller, id, d).await?))
}

/// Reject a pending request with a reason (platform admin).
#[utoipa::path(post, path = "/clusters/{id}/reject", tag = "clusters", security(("bearer" = [])),
    params(("id" = ClusterId, Path)), request_body = Decision,
    responses((status = 200, body = Cluster), (status = "default", response = ProblemResponse)))]
async fn reject(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
    ApiJson(d): ApiJson<Decision>,
) -> ApiResult<Json<Cluster>> {
    Ok(Json(svc::reject(&s, &caller, id, d).await?))
}
