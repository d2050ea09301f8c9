//! The platform admin's hosts page: registered hosts with liveness and capacity, and the
//! agent tokens that let agents register.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Router,
};
use serde::Deserialize;
use tideway_api::{
    agents::{AgentToken, CreateAgentToken},
    hosts::Host,
    TokenId,
};

use super::{path_id, render, Chrome, CsrfForm, NoFields, WebResult, WebSession};
use crate::{db, service, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/hosts", axum::routing::get(page))
        .route("/admin/agent-tokens", post(issue))
        .route("/admin/agent-tokens/{id}/revoke", post(revoke))
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    page: Chrome,
    hosts: Vec<Host>,
    tokens: Vec<AgentToken>,
    created: Option<(String, String)>,
    error: Option<String>,
}

impl HostsPage {
    fn gib(&self, bytes: &u64) -> String {
        format!("{:.1} GiB", *bytes as f64 / (1u64 << 30) as f64)
    }
}

async fn render_page(
    state: &AppState,
    session: &WebSession,
    created: Option<(String, String)>,
    error: Option<String>,
) -> WebResult<axum::response::Html<String>> {
    session.caller.require_platform_admin()?;
    let hosts = db::hosts::list(&state.db, state.host_offline_after())
        .await
        .map_err(crate::error::ApiError::from)?;
    let tokens = service::agents::list_tokens(state, &session.caller).await?;
    render(&HostsPage {
        page: session.chrome(),
        hosts,
        tokens,
        created,
        error,
    })
}

async fn page(State(state): State<AppState>, session: WebSession) -> WebResult<impl IntoResponse> {
    render_page(&state, &session, None, None).await
}

#[derive(Deserialize)]
struct IssueForm {
    name: String,
}

async fn issue(
    State(state): State<AppState>,
    CsrfForm(session, form): CsrfForm<IssueForm>,
) -> WebResult<Response> {
    let req = CreateAgentToken {
        name: form.name,
        expires_in_days: None,
    };
    Ok(
        match service::agents::create_token(&state, &session.caller, req).await {
            Ok(t) => render_page(&state, &session, Some((t.token.name, t.secret)), None)
                .await?
                .into_response(),
            Err(e @ crate::error::ApiError::Invalid(_)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                render_page(&state, &session, None, Some(e.public_detail())).await?,
            )
                .into_response(),
            Err(e) => return Err(e.into()),
        },
    )
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, NoFields {}): CsrfForm<NoFields>,
) -> WebResult<Redirect> {
    service::agents::revoke_token(
        &state,
        &session.caller,
        path_id::<TokenId>(&id, "agent token")?,
    )
    .await?;
    Ok(Redirect::to("/admin/hosts"))
}
