//! The router: `/api/v1` (REST), `/` (web UI), `/live`, `/ready`, `/metrics` (a platform
//! admin's token), Swagger UI, and the layers every request passes (request id, tracing,
//! metrics); and the operations router (`/metrics`, `/live`, `/ready` without login) for a
//! listener of its own on the operations network.

pub mod api;
pub mod metrics;
pub mod web;

use axum::{
    extract::State, http::StatusCode, middleware, response::IntoResponse, routing::get, Router,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{error::ApiError, state::AppState};

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .merge(web::router())
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics::render_for_admin))
        .fallback(not_found)
        .layer(middleware::from_fn(metrics::track))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// What `--ops-listen` serves: health and metrics for scrapers and probes, nothing else.
pub fn ops_app(state: AppState) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .with_state(state)
}

async fn live() -> &'static str {
    "ok"
}

/// Ready when the database answers.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&state.db)
        .await
    {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            ApiError::Unavailable(format!("the database is not reachable: {e}")).into_response()
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
