//! Platform-admin pages: the approval queue and tenant management.

use askama::Template;
use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use serde::Deserialize;
use tideway_api::{
    clusters::{ApprovalState, Cluster, ClusterFilter},
    page::MAX_PAGE_LIMIT,
    tenants::{CreateTenant, Tenant},
};

use super::{clusters::tenant_names, render, Chrome, CsrfForm, WebResult, WebSession};
use crate::{error::ApiError, service, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/approvals", get(approvals))
        .route("/admin/tenants", get(tenants).post(create_tenant))
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    page: Chrome,
    pending: Vec<(Cluster, String)>,
}

async fn approvals(
    State(state): State<AppState>,
    session: WebSession,
) -> WebResult<impl IntoResponse> {
    session.caller.require_platform_admin()?;
    let filter = ClusterFilter {
        approval: Some(ApprovalState::Pending),
        limit: Some(MAX_PAGE_LIMIT),
        ..Default::default()
    };
    let items = service::clusters::list(&state, &session.caller, &filter)
        .await?
        .items;
    let names = tenant_names(&state, &session).await?;
    let pending = items
        .into_iter()
        .map(|c| {
            let tenant = names.get(&c.tenant_id).cloned().unwrap_or_default();
            (c, tenant)
        })
        .collect();
    render(&ApprovalsPage {
        page: session.chrome(),
        pending,
    })
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    page: Chrome,
    tenants: Vec<Tenant>,
    error: Option<String>,
    notice: Option<String>,
}

async fn tenants(
    State(state): State<AppState>,
    session: WebSession,
) -> WebResult<impl IntoResponse> {
    let tenants = service::tenants::list(&state, &session.caller).await?;
    render(&TenantsPage {
        page: session.chrome(),
        tenants,
        error: None,
        notice: None,
    })
}

#[derive(Deserialize)]
struct TenantForm {
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    auto_approve: Option<String>,
}

async fn create_tenant(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<TenantForm>,
) -> WebResult<Response> {
    let req = CreateTenant {
        name: form.name.trim().to_owned(),
        display_name: Some(form.display_name.trim().to_owned()).filter(|d| !d.is_empty()),
        auto_approve: form.auto_approve.is_some(),
        quota: None,
    };
    let (status, error, notice) = match service::tenants::create(&state, &session.caller, req).await
    {
        Ok(t) => {
            return Ok(Redirect::to(&format!("/tenants/{}/quota?created=1", t.id)).into_response())
        }
        Err(e @ (ApiError::Invalid(_) | ApiError::Conflict(_))) => {
            (e.status(), Some(e.public_detail()), None)
        }
        Err(e) => return Err(e.into()),
    };
    let tenants = service::tenants::list(&state, &session.caller).await?;
    let page = TenantsPage {
        page: session.chrome(),
        tenants,
        error,
        notice,
    };
    Ok((status, render(&page)?).into_response())
}
