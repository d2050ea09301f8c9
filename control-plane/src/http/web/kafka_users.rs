//! Kafka users on the cluster page: the list (an htmx fragment), a create form whose
//! answer shows the password and client settings once, and delete buttons, through the
//! same service as the REST API.

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
    kafka_users::{CreateKafkaUser, CreatedKafkaUser, KafkaUser},
    ClusterId,
};

use super::{path_id, render, CsrfForm, NoFields, WebResult, WebSession};
use crate::{error::ApiError, service, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/clusters/{id}/kafka-users",
            axum::routing::get(list).post(create),
        )
        .route("/clusters/{id}/kafka-users/{name}/delete", post(delete))
}

#[derive(Template)]
#[template(path = "kafka_users.html")]
struct KafkaUsersFragment {
    cluster: ClusterId,
    csrf: String,
    secured: bool,
    users: Vec<KafkaUser>,
    created: Option<CreatedKafkaUser>,
    error: Option<String>,
}

async fn fragment(
    state: &AppState,
    session: &WebSession,
    id: ClusterId,
    created: Option<CreatedKafkaUser>,
    error: Option<String>,
) -> WebResult<axum::response::Html<String>> {
    let (secured, users) = service::kafka_users::overview(state, &session.caller, id).await?;
    render(&KafkaUsersFragment {
        cluster: id,
        csrf: session.chrome().csrf,
        secured,
        users,
        created,
        error,
    })
}

async fn list(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> WebResult<impl IntoResponse> {
    fragment(&state, &session, path_id(&id, "cluster")?, None, None).await
}

#[derive(Deserialize)]
struct KafkaUserForm {
    name: String,
}

async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<KafkaUserForm>,
) -> WebResult<Response> {
    let id: ClusterId = path_id(&id, "cluster")?;
    let req = CreateKafkaUser {
        name: form.name.trim().to_owned(),
    };
    Ok(
        match service::kafka_users::create(&state, &session.caller, id, req).await {
            Ok(created) => fragment(&state, &session, id, Some(created), None)
                .await?
                .into_response(),
            Err(
                e @ (ApiError::Invalid(_)
                | ApiError::Conflict(_)
                | ApiError::BadRequest(_)
                | ApiError::Unavailable(_)),
            ) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                fragment(&state, &session, id, None, Some(e.public_detail())).await?,
            )
                .into_response(),
            Err(e) => return Err(e.into()),
        },
    )
}

async fn delete(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    CsrfForm(session, NoFields {}): CsrfForm<NoFields>,
) -> WebResult<Redirect> {
    let id: ClusterId = path_id(&id, "cluster")?;
    service::kafka_users::delete(&state, &session.caller, id, &name).await?;
    Ok(Redirect::to(&format!("/clusters/{id}")))
}
