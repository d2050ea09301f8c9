//! `/tenants`, their members and quotas.

use axum::{extract::State, http::StatusCode, Json};
use tideway_api::{
    tenants::{CreateTenant, Member, PutMember, Quota, QuotaReport, Tenant, UpdateTenant},
    TenantId,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;

use crate::{
    auth::Caller,
    error::{ApiJson, ApiPath, ApiResult},
    service::tenants as svc,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(list_members))
        .routes(routes!(put_member, delete_member))
        .routes(routes!(get_quota, put_quota))
}

/// Tenants the caller belongs to (all of them for a platform admin).
#[utoipa::path(get, path = "/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = Vec<Tenant>),
              (status = "default", response = ProblemResponse)))]
async fn list_tenants(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(svc::list(&s, &caller).await?))
}

/// Create a tenant (platform admin).
#[utoipa::path(post, path = "/tenants", tag = "tenants", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = Tenant),
              (status = "default", response = ProblemResponse)))]
async fn create_tenant(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 200, body = Tenant),
              (status = "default", response = ProblemResponse)))]
async fn get_tenant(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(svc::get(&s, &caller, id).await?))
}

/// Rename (tenant admin) or change the approval policy (platform admin).
#[utoipa::path(patch, path = "/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path)), request_body = UpdateTenant,
    responses((status = 200, body = Tenant),
              (status = "default", response = ProblemResponse)))]
async fn update_tenant(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
    ApiJson(req): ApiJson<UpdateTenant>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(svc::update(&s, &caller, id, req).await?))
}

#[utoipa::path(get, path = "/tenants/{id}/members", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 200, body = Vec<Member>),
              (status = "default", response = ProblemResponse)))]
async fn list_members(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(svc::members(&s, &caller, id).await?))
}

/// Grant a user a role in the tenant (tenant admin).
#[utoipa::path(put, path = "/tenants/{id}/members/{username}", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path), ("username" = String, Path)), request_body = PutMember,
    responses((status = 200, body = Member),
              (status = "default", response = ProblemResponse)))]
async fn put_member(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, username)): ApiPath<(TenantId, String)>,
    ApiJson(req): ApiJson<PutMember>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        svc::put_member(&s, &caller, id, &username, req).await?,
    ))
}

#[utoipa::path(delete, path = "/tenants/{id}/members/{username}", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path), ("username" = String, Path)),
    responses((status = 204, description = "Removed"),
              (status = "default", response = ProblemResponse)))]
async fn delete_member(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, username)): ApiPath<(TenantId, String)>,
) -> ApiResult<StatusCode> {
    svc::delete_member(&s, &caller, id, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/tenants/{id}/quota", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 200, body = QuotaReport),
              (status = "default", response = ProblemResponse)))]
async fn get_quota(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<QuotaReport>> {
    Ok(Json(svc::quota(&s, &caller, id).await?))
}

/// Set the tenant's quota (platform admin).
#[utoipa::path(put, path = "/tenants/{id}/quota", tag = "tenants", security(("bearer" = [])),
    params(("id" = TenantId, Path)), request_body = Quota,
    responses((status = 200, body = QuotaReport),
              (status = "default", response = ProblemResponse)))]
async fn put_quota(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
    ApiJson(q): ApiJson<Quota>,
) -> ApiResult<Json<QuotaReport>> {
    Ok(Json(svc::put_quota(&s, &caller, id, q).await?))
}
