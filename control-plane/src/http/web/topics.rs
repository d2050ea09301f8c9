//! Topics on the cluster page: the list (an htmx fragment), a create form and delete
//! buttons, through the same service as the REST API.

use std::collections::BTreeMap;

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
    topics::{CreateTopic, Topic},
    ClusterId,
};

use super::{path_id, render, CsrfForm, NoFields, WebResult, WebSession};
use crate::{error::ApiError, service, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/clusters/{id}/topics",
            axum::routing::get(list).post(create),
        )
        .route("/clusters/{id}/topics/{name}/delete", post(delete))
}

#[derive(Template)]
#[template(path = "topics.html")]
struct TopicsFragment {
    cluster: ClusterId,
    csrf: String,
    topics: Vec<Topic>,
    error: Option<String>,
}

impl TopicsFragment {
    fn configs(&self, t: &Topic) -> String {
        t.configs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn fragment(
    state: &AppState,
    session: &WebSession,
    id: ClusterId,
    error: Option<String>,
) -> WebResult<axum::response::Html<String>> {
    let topics = service::topics::list(state, &session.caller, id).await?;
    render(&TopicsFragment {
        cluster: id,
        csrf: session.chrome().csrf,
        topics,
        error,
    })
}

async fn list(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> WebResult<impl IntoResponse> {
    fragment(&state, &session, path_id(&id, "cluster")?, None).await
}

#[derive(Deserialize)]
struct TopicForm {
    name: String,
    #[serde(default)]
    partitions: String,
    #[serde(default)]
    retention_hours: String,
}

async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, form): CsrfForm<TopicForm>,
) -> WebResult<Response> {
    let id: ClusterId = path_id(&id, "cluster")?;
    let number = |label: &str, text: &str| -> Result<Option<i64>, String> {
        let t = text.trim();
        if t.is_empty() {
            Ok(None)
        } else {
            t.parse()
                .map(Some)
                .map_err(|_| format!("{label}: {t:?} is not a whole number"))
        }
    };
    let parsed = number("Partitions", &form.partitions)
        .and_then(|p| Ok((p, number("Retention", &form.retention_hours)?)));
    let outcome = match parsed {
        Err(message) => Err(message),
        Ok((partitions, retention_hours)) => {
            let mut configs = BTreeMap::new();
            if let Some(h) = retention_hours {
                configs.insert(
                    "retention.ms".to_owned(),
                    if h < 0 {
                        "-1".to_owned()
                    } else {
                        (h * 3_600_000).to_string()
                    },
                );
            }
            let req = CreateTopic {
                name: form.name.trim().to_owned(),
                partitions: partitions.map(|p| p as i32),
                replication_factor: None,
                configs,
            };
            match service::topics::create(&state, &session.caller, id, req).await {
                Ok(_) => Ok(()),
                Err(
                    e @ (ApiError::Invalid(_)
                    | ApiError::Conflict(_)
                    | ApiError::BadRequest(_)
                    | ApiError::Unavailable(_)),
                ) => Err(e.public_detail()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    Ok(match outcome {
        Ok(()) => fragment(&state, &session, id, None).await?.into_response(),
        Err(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            fragment(&state, &session, id, Some(message)).await?,
        )
            .into_response(),
    })
}

async fn delete(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    CsrfForm(session, NoFields {}): CsrfForm<NoFields>,
) -> WebResult<Redirect> {
    let id: ClusterId = path_id(&id, "cluster")?;
    service::topics::delete(&state, &session.caller, id, &name).await?;
    Ok(Redirect::to(&format!("/clusters/{id}")))
}
