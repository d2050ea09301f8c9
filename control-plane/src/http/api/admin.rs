//! `/hosts` (platform admin, read-only for now) and `/audit`.

use axum::{extract::State, Json};
use tideway_api::{
    audit::{AuditEntry, AuditFilter},
    hosts::Host,
    Page,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::Caller,
    db,
    error::{ApiQuery, ApiResult},
    service,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_hosts))
        .routes(routes!(list_audit))
}

/// Hosts registered by agents (platform admin).
#[utoipa::path(get, path = "/hosts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<Host>), (status = "default", response = ProblemResponse)))]
async fn list_hosts(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Host>>> {
    caller.require_platform_admin()?;
    Ok(Json(db::hosts::list(&s.db, s.host_offline_after()).await?))
}

/// The audit log, newest first: everything for a platform admin, the tenants they
/// administer for a tenant admin.
#[utoipa::path(get, path = "/audit", tag = "admin", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = Page<AuditEntry>), (status = "default", response = ProblemResponse)))]
async fn list_audit(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    Ok(Json(service::audit::list(&s, &caller, &f).await?))
}
