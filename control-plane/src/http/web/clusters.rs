//! Cluster pages: list, request form with inline validation, detail with a self-refreshing
//! status area, delete, and the admin's approve and reject buttons.

use std::collections::HashMap;

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
    clusters::{
        ApprovalState, Cluster, ClusterFilter, ClusterKind, ClusterSecurity, ClusterSpec,
        CreateCluster, Decision, HardwareProfile, StorageBackend, TopicDefaults,
    },
    tenants::Tenant,
    ClusterId, FieldError, Role, TenantId,
};

use super::{path_id, render, Chrome, CsrfForm, NoFields, WebResult, WebSession};
use crate::{error::ApiError, service, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clusters", get(list).post(create))
        .route("/clusters/new", get(new_form))
        .route("/clusters/validate", post(validate))
        .route("/clusters/{id}", get(detail))
        .route("/clusters/{id}/status", get(status))
        .route("/clusters/{id}/delete", post(delete))
        .route("/clusters/{id}/approve", post(approve))
        .route("/clusters/{id}/reject", post(reject))
}

/// Tenant names by id, for the tenants the caller can see.
pub async fn tenant_names(
    state: &AppState,
    session: &WebSession,
) -> WebResult<HashMap<TenantId, String>> {
    let tenants = service::tenants::list(state, &session.caller).await?;
    Ok(tenants.into_iter().map(|t| (t.id, t.name)).collect())
}

#[derive(Template)]
#[template(path = "clusters.html")]
struct ListPage {
    page: Chrome,
    clusters: Vec<Cluster>,
    names: HashMap<TenantId, String>,
    total: i64,
    offset: i64,
    limit: i64,
}

impl ListPage {
    fn tenant(&self, id: &TenantId) -> &str {
        self.names.get(id).map(String::as_str).unwrap_or("?")
    }

    fn prev_offset(&self) -> i64 {
        (self.offset - self.limit).max(0)
    }
}

#[derive(Deserialize)]
struct ListQuery {
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    session: WebSession,
    Query(q): Query<ListQuery>,
) -> WebResult<impl IntoResponse> {
    let filter = ClusterFilter {
        offset: q.offset,
        ..Default::default()
    };
    let page = service::clusters::list(&state, &session.caller, &filter).await?;
    let names = tenant_names(&state, &session).await?;
    render(&ListPage {
        page: session.chrome(),
        clusters: page.items,
        names,
        total: page.total,
        offset: page.offset,
        limit: page.limit,
    })
}

/// The request form as typed, all text, so every mistake can be reported as a sentence.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClusterForm {
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub broker_count: String,
    pub storage_backend: String,
    pub storage_gib: String,
    pub hardware_profile: String,
    /// `sasl-ssl` or `plaintext`; empty means the default (sasl-ssl).
    pub security: String,
    pub partitions: String,
    pub replication_factor: String,
    pub retention_hours: String,
    /// Checkbox: present when ticked.
    pub auto_create_topics: Option<String>,
}

fn number<T: std::str::FromStr>(
    field: &str,
    text: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let parsed = text.trim().parse().ok();
    if parsed.is_none() {
        errors.push(FieldError {
            field: field.into(),
            message: format!("{:?} is not a whole number", text.trim()),
        });
    }
    parsed
}

fn choice<T: std::str::FromStr<Err = String>>(
    field: &str,
    text: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    text.parse()
        .map_err(|e: String| {
            errors.push(FieldError {
                field: field.into(),
                message: e,
            })
        })
        .ok()
}

impl ClusterForm {
    fn blank() -> Self {
        ClusterForm {
            kind: "dedicated".into(),
            broker_count: "3".into(),
            storage_backend: "local-ssd".into(),
            storage_gib: "100".into(),
            hardware_profile: "virtual".into(),
            security: "sasl-ssl".into(),
            partitions: "6".into(),
            replication_factor: "3".into(),
            retention_hours: "168".into(),
            ..Default::default()
        }
    }

    /// The API request this form describes, or every problem with it.
    pub fn to_request(&self) -> Result<CreateCluster, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tenant_id = self.tenant_id.parse::<TenantId>().map_err(|_| {
            errors.push(FieldError {
                field: "tenant_id".into(),
                message: "choose a tenant".into(),
            })
        });
        let kind = choice::<ClusterKind>("kind", &self.kind, &mut errors);
        let broker_count = match kind {
            Some(ClusterKind::Shared) => None,
            _ => number::<i32>("spec.broker_count", &self.broker_count, &mut errors),
        };
        let backend =
            choice::<StorageBackend>("spec.storage_backend", &self.storage_backend, &mut errors);
        let gib = number::<i64>("spec.storage_gib", &self.storage_gib, &mut errors);
        let profile =
            choice::<HardwareProfile>("spec.hardware_profile", &self.hardware_profile, &mut errors);
        let security = if self.security.is_empty() {
            Some(ClusterSecurity::default())
        } else {
            choice::<ClusterSecurity>("spec.security", &self.security, &mut errors)
        };
        let partitions = number::<i32>(
            "spec.topic_defaults.partitions",
            &self.partitions,
            &mut errors,
        );
        let rf = number::<i32>(
            "spec.topic_defaults.replication_factor",
            &self.replication_factor,
            &mut errors,
        );
        let hours = number::<i64>(
            "spec.topic_defaults.retention_ms",
            &self.retention_hours,
            &mut errors,
        );
        let (
            Ok(tenant_id),
            Some(kind),
            Some(backend),
            Some(gib),
            Some(profile),
            Some(partitions),
            Some(rf),
            Some(hours),
            Some(security),
        ) = (
            tenant_id, kind, backend, gib, profile, partitions, rf, hours, security,
        )
        else {
            service::cluster_rules::check_name("name", self.name.trim(), &mut errors);
            return Err(errors);
        };
        let retention_ms = if hours < 0 {
            -1
        } else {
            hours.saturating_mul(3_600_000)
        };
        let req = CreateCluster {
            tenant_id,
            name: self.name.trim().to_owned(),
            kind,
            spec: ClusterSpec {
                security,
                broker_count,
                storage_backend: backend,
                storage_gib: gib,
                hardware_profile: profile,
                topic_defaults: Some(TopicDefaults {
                    partitions,
                    replication_factor: rf,
                    retention_ms,
                }),
                auto_create_topics: self.auto_create_topics.is_some(),
            },
        };
        let problems = service::cluster_rules::validate_create(&req);
        if problems.is_empty() {
            Ok(req)
        } else {
            Err(problems)
        }
    }
}

/// The label a person sees for an API field path.
fn label(field: &str) -> &'static str {
    match field {
        "tenant_id" => "Tenant",
        "name" => "Name",
        "kind" => "Kind",
        "spec.broker_count" => "Brokers",
        "spec.storage_backend" => "Storage backend",
        "spec.storage_gib" => "Storage per broker (GiB)",
        "spec.hardware_profile" => "Hardware profile",
        "spec.security" => "Security",
        "spec.topic_defaults.partitions" => "Default partitions",
        "spec.topic_defaults.replication_factor" => "Default replication factor",
        "spec.topic_defaults.retention_ms" => "Default retention",
        _ => "Request",
    }
}

#[derive(Template)]
#[template(path = "cluster_new.html")]
struct NewPage {
    page: Chrome,
    tenants: Vec<Tenant>,
    form: ClusterForm,
    errors: Vec<ErrorLine>,
}

#[derive(Template)]
#[template(path = "form_errors.html")]
struct FormErrors {
    errors: Vec<ErrorLine>,
}

/// A validation problem as a person reads it.
struct ErrorLine {
    label: &'static str,
    message: String,
}

fn lines(errors: Vec<FieldError>) -> Vec<ErrorLine> {
    errors
        .into_iter()
        .map(|e| ErrorLine {
            label: label(&e.field),
            message: e.message,
        })
        .collect()
}

async fn requestable_tenants(state: &AppState, session: &WebSession) -> WebResult<Vec<Tenant>> {
    let all = service::tenants::list(state, &session.caller).await?;
    Ok(all
        .into_iter()
        .filter(|t| {
            session
                .caller
                .role_in(t.id)
                .is_some_and(|r| r >= Role::Member)
        })
        .collect())
}

async fn new_form(
    State(state): State<AppState>,
    session: WebSession,
) -> WebResult<impl IntoResponse> {
    let tenants = requestable_tenants(&state, &session).await?;
    let mut form = ClusterForm::blank();
    if let [only] = tenants.as_slice() {
        form.tenant_id = only.id.to_string();
    }
    render(&NewPage {
        page: session.chrome(),
        tenants,
        form,
        errors: vec![],
    })
}

/// htmx: checks the form as it is typed and returns the list of problems (empty when fine).
async fn validate(CsrfForm(_, form): CsrfForm<ClusterForm>) -> WebResult<impl IntoResponse> {
    render(&FormErrors {
        errors: lines(form.to_request().err().unwrap_or_default()),
    })
}

async fn create(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<ClusterForm>,
) -> WebResult<Response> {
    let errors = match form.to_request() {
        Ok(req) => match service::clusters::create(&state, &session.caller, req).await {
            Ok(c) => return Ok(Redirect::to(&format!("/clusters/{}", c.id)).into_response()),
            Err(ApiError::Invalid(errors)) => errors,
            Err(e @ (ApiError::Conflict(_) | ApiError::Forbidden(_))) => {
                vec![FieldError {
                    field: "request".into(),
                    message: e.public_detail(),
                }]
            }
            Err(e) => return Err(e.into()),
        },
        Err(errors) => errors,
    };
    let tenants = requestable_tenants(&state, &session).await?;
    let page = NewPage {
        page: session.chrome(),
        tenants,
        form,
        errors: lines(errors),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "cluster_detail.html")]
struct DetailPage {
    page: Chrome,
    c: Cluster,
    tenant: String,
    can_change: bool,
    /// Clients connect with SASL_SSL and a Kafka user.
    secured: bool,
}

#[derive(Template)]
#[template(path = "cluster_status.html")]
struct StatusFragment {
    c: Cluster,
}

impl DetailPage {
    fn pending(&self) -> bool {
        self.c.approval.state == ApprovalState::Pending
    }
}

async fn detail(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> WebResult<impl IntoResponse> {
    let c = service::clusters::get(
        &state,
        &session.caller,
        path_id::<ClusterId>(&id, "cluster")?,
    )
    .await?;
    let tenant = tenant_names(&state, &session)
        .await?
        .remove(&c.tenant_id)
        .unwrap_or_default();
    let can_change = session
        .caller
        .role_in(c.tenant_id)
        .is_some_and(|r| r >= Role::Member);
    let secured = service::security::ca_of(&state, &c).await?.is_some();
    render(&DetailPage {
        page: session.chrome(),
        c,
        tenant,
        can_change,
        secured,
    })
}

async fn status(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> WebResult<impl IntoResponse> {
    let c = service::clusters::get(
        &state,
        &session.caller,
        path_id::<ClusterId>(&id, "cluster")?,
    )
    .await?;
    render(&StatusFragment { c })
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    reason: String,
    /// Where to go afterwards: the approval queue or the cluster page.
    #[serde(default)]
    back: String,
}

impl DecisionForm {
    fn redirect(&self, id: ClusterId) -> Redirect {
        if self.back == "queue" {
            Redirect::to("/admin/approvals")
        } else {
            Redirect::to(&format!("/clusters/{id}"))
        }
    }

    fn decision(&self) -> Decision {
        Decision {
            reason: Some(self.reason.trim().to_owned()).filter(|r| !r.is_empty()),
        }
    }
}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<DecisionForm>,
) -> WebResult<Redirect> {
    let id = path_id::<ClusterId>(&id, "cluster")?;
    service::clusters::approve(&state, &session.caller, id, form.decision()).await?;
    Ok(form.redirect(id))
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<DecisionForm>,
) -> WebResult<Redirect> {
    let id = path_id::<ClusterId>(&id, "cluster")?;
    service::clusters::reject(&state, &session.caller, id, form.decision()).await?;
    Ok(form.redirect(id))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, NoFields {}): CsrfForm<NoFields>,
) -> WebResult<Redirect> {
    service::clusters::delete(
        &state,
        &session.caller,
        path_id::<ClusterId>(&id, "cluster")?,
    )
    .await?;
    Ok(Redirect::to("/clusters"))
}
