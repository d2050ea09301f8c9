//! Tenant pages: the dashboard, quotas, API tokens and the audit log.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use serde::Deserialize;
use tideway_api::{
    audit::{AuditEntry, AuditFilter},
    clusters::{ApprovalState, Cluster, ClusterFilter},
    page::MAX_PAGE_LIMIT,
    tenants::{Quota, QuotaReport, Tenant},
    tokens::{ApiToken, CreateToken},
    Role, TenantId, TokenId,
};

use super::{path_id, render, Chrome, CsrfForm, NoFields, WebResult, WebSession};
use crate::{error::ApiError, service, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/tenants/{id}/quota", get(quota).post(set_quota))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route("/audit", get(audit))
}

/// One tenant on the dashboard.
struct TenantCard {
    tenant: Tenant,
    role: Role,
    report: QuotaReport,
    clusters: Vec<Cluster>,
    /// Its consumer groups that are not OK.
    troubled: Vec<crate::monitoring::consumer_groups::Troubled>,
    alerts: Vec<tideway_api::monitoring::Alert>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    page: Chrome,
    cards: Vec<TenantCard>,
    pending_approvals: i64,
}

/// Percent of `limit` used, for the usage bars (capped at 100).
fn percent(used: i64, limit: i64) -> i64 {
    if limit <= 0 {
        return if used > 0 { 100 } else { 0 };
    }
    (used.saturating_mul(100) / limit).clamp(0, 100)
}

/// Bytes as GiB for people.
fn gib(bytes: i64) -> String {
    format!("{:.0} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Usage helpers for the templates that draw quota bars.
macro_rules! usage_helpers {
    ($($page:ty),+) => {$(
        impl $page {
            fn percent(&self, used: &i64, limit: &i64) -> i64 {
                percent(*used, *limit)
            }
            fn gib(&self, bytes: &i64) -> String {
                gib(*bytes)
            }
        }
    )+};
}
usage_helpers!(Dashboard, QuotaPage);

async fn dashboard(
    State(state): State<AppState>,
    session: WebSession,
) -> WebResult<impl IntoResponse> {
    let caller = &session.caller;
    let mut cards = Vec::new();
    for tenant in service::tenants::list(&state, caller).await? {
        let Some(role) = caller
            .roles
            .get(&tenant.id)
            .copied()
            .or(caller.platform_admin.then_some(Role::PlatformAdmin))
        else {
            continue;
        };
        if caller.platform_admin && !caller.roles.contains_key(&tenant.id) {
            continue; // admins see every tenant elsewhere; the dashboard shows their own teams
        }
        let report = service::tenants::quota(&state, caller, tenant.id).await?;
        let filter = ClusterFilter {
            tenant_id: Some(tenant.id),
            limit: Some(MAX_PAGE_LIMIT),
            ..Default::default()
        };
        let clusters = service::clusters::list(&state, caller, &filter)
            .await?
            .items;
        let troubled = crate::monitoring::consumer_groups::troubled(&state, &clusters).await?;
        let alerts = service::alerting::firing_for(&state, caller, tenant.id).await?;
        cards.push(TenantCard {
            tenant,
            role,
            report,
            clusters,
            troubled,
            alerts,
        });
    }
    let pending_approvals = if caller.platform_admin {
        let filter = ClusterFilter {
            approval: Some(ApprovalState::Pending),
            limit: Some(1),
            ..Default::default()
        };
        service::clusters::list(&state, caller, &filter)
            .await?
            .total
    } else {
        0
    };
    render(&Dashboard {
        page: session.chrome(),
        cards,
        pending_approvals,
    })
}

#[derive(Template)]
#[template(path = "quota.html")]
struct QuotaPage {
    page: Chrome,
    tenant: Tenant,
    report: QuotaReport,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct QuotaQuery {
    created: Option<String>,
}

async fn quota(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
    Query(q): Query<QuotaQuery>,
) -> WebResult<impl IntoResponse> {
    let id = path_id::<TenantId>(&id, "tenant")?;
    let tenant = service::tenants::get(&state, &session.caller, id).await?;
    let report = service::tenants::quota(&state, &session.caller, id).await?;
    let notice = q
        .created
        .map(|_| format!("Tenant {} created with the default quota.", tenant.name));
    render(&QuotaPage {
        page: session.chrome(),
        tenant,
        report,
        error: None,
        notice,
    })
}

/// The quota form, in GiB and MiB/s for people.
#[derive(Deserialize)]
struct QuotaForm {
    max_clusters: String,
    max_brokers: String,
    max_storage_gib: String,
    max_partitions: String,
    max_produce_mib_per_sec: String,
    max_consume_mib_per_sec: String,
}

impl QuotaForm {
    fn to_quota(&self) -> Result<Quota, String> {
        let n = |label: &str, v: &str| -> Result<i64, String> {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("{label}: {:?} is not a whole number", v.trim()))
        };
        Ok(Quota {
            max_clusters: n("Clusters", &self.max_clusters)?,
            max_brokers: n("Brokers", &self.max_brokers)?,
            max_storage_bytes: n("Storage", &self.max_storage_gib)?.saturating_mul(1 << 30),
            max_partitions: n("Partitions", &self.max_partitions)?,
            max_produce_bytes_per_sec: n("Produce rate", &self.max_produce_mib_per_sec)?
                .saturating_mul(1 << 20),
            max_consume_bytes_per_sec: n("Consume rate", &self.max_consume_mib_per_sec)?
                .saturating_mul(1 << 20),
        })
    }
}

async fn set_quota(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<QuotaForm>,
) -> WebResult<Response> {
    let id = path_id::<TenantId>(&id, "tenant")?;
    let tenant = service::tenants::get(&state, &session.caller, id).await?;
    let outcome = match form.to_quota() {
        Ok(q) => match service::tenants::put_quota(&state, &session.caller, id, q).await {
            Ok(report) => Ok(report),
            Err(e @ ApiError::Invalid(_)) => Err(e.public_detail()),
            Err(e) => return Err(e.into()),
        },
        Err(message) => Err(message),
    };
    let (status, report, error, notice) = match outcome {
        Ok(report) => (
            StatusCode::OK,
            report,
            None,
            Some("Quota saved.".to_owned()),
        ),
        Err(message) => {
            let report = service::tenants::quota(&state, &session.caller, id).await?;
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                report,
                Some(message),
                None,
            )
        }
    };
    Ok((
        status,
        render(&QuotaPage {
            page: session.chrome(),
            tenant,
            report,
            error,
            notice,
        })?,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    page: Chrome,
    tokens: Vec<ApiToken>,
    tenants: Vec<Tenant>,
    created: Option<(String, String)>,
    error: Option<String>,
}

impl TokensPage {
    fn tenant_name(&self, id: &Option<TenantId>) -> String {
        match id {
            None => "(platform)".into(),
            Some(id) => self
                .tenants
                .iter()
                .find(|t| t.id == *id)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
        }
    }
}

/// The tenants whose tokens the caller manages.
async fn token_tenants(state: &AppState, session: &WebSession) -> WebResult<Vec<Tenant>> {
    let all = service::tenants::list(state, &session.caller).await?;
    Ok(all
        .into_iter()
        .filter(|t| {
            session
                .caller
                .role_in(t.id)
                .is_some_and(|r| r >= Role::TenantAdmin)
        })
        .collect())
}

async fn tokens_page(
    state: &AppState,
    session: &WebSession,
    created: Option<(String, String)>,
    error: Option<String>,
) -> WebResult<Html> {
    let tokens = service::tokens::list(state, &session.caller).await?;
    let tenants = token_tenants(state, session).await?;
    render(&TokensPage {
        page: session.chrome(),
        tokens,
        tenants,
        created,
        error,
    })
}

type Html = axum::response::Html<String>;

async fn tokens(State(state): State<AppState>, session: WebSession) -> WebResult<Html> {
    tokens_page(&state, &session, None, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    /// A tenant id, or `platform` for a platform-admin token.
    tenant: String,
    role: String,
    expires_in_days: String,
}

async fn create_token(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<TokenForm>,
) -> WebResult<Response> {
    let parsed = (|| -> Result<CreateToken, String> {
        let role: Role = form.role.parse()?;
        let tenant_id = match form.tenant.as_str() {
            "platform" => None,
            t => Some(
                t.parse::<TenantId>()
                    .map_err(|_| "choose a tenant".to_owned())?,
            ),
        };
        let days = form
            .expires_in_days
            .trim()
            .parse::<i64>()
            .map_err(|_| "Expires in: enter a number of days".to_owned())?;
        Ok(CreateToken {
            name: form.name.clone(),
            tenant_id,
            role,
            expires_in_days: Some(days),
        })
    })();
    let outcome = match parsed {
        Ok(req) => service::tokens::create(&state, &session.caller, req)
            .await
            .map_err(|e| e.public_detail()),
        Err(message) => Err(message),
    };
    Ok(match outcome {
        Ok(created) => tokens_page(
            &state,
            &session,
            Some((created.token.name, created.secret)),
            None,
        )
        .await?
        .into_response(),
        Err(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            tokens_page(&state, &session, None, Some(message)).await?,
        )
            .into_response(),
    })
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, NoFields {}): CsrfForm<NoFields>,
) -> WebResult<Redirect> {
    let id = path_id::<TokenId>(&id, "token")?;
    service::tokens::revoke(&state, &session.caller, id).await?;
    Ok(Redirect::to("/tokens"))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Chrome,
    entries: Vec<AuditLine>,
    total: i64,
    offset: i64,
    limit: i64,
    action: String,
}

impl AuditPage {
    fn prev_offset(&self) -> i64 {
        (self.offset - self.limit).max(0)
    }
}

/// One audit entry as shown: the change as compact JSON.
struct AuditLine {
    at: String,
    actor: String,
    action: String,
    target: String,
    change: String,
}

impl From<AuditEntry> for AuditLine {
    fn from(e: AuditEntry) -> Self {
        let json = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "—".into())
        };
        AuditLine {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: e.actor,
            action: e.action,
            target: format!("{} {}", e.target_type, e.target_id),
            change: format!("before: {}\nafter: {}", json(&e.before), json(&e.after)),
        }
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    action: Option<String>,
    offset: Option<i64>,
}

async fn audit(
    State(state): State<AppState>,
    session: WebSession,
    Query(q): Query<AuditQuery>,
) -> WebResult<impl IntoResponse> {
    let action = q.action.filter(|a| !a.trim().is_empty());
    let filter = AuditFilter {
        action: action.clone(),
        offset: q.offset,
        ..Default::default()
    };
    let page = service::audit::list(&state, &session.caller, &filter).await?;
    render(&AuditPage {
        page: session.chrome(),
        entries: page.items.into_iter().map(AuditLine::from).collect(),
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        action: action.unwrap_or_default(),
    })
}
