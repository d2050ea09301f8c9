//! The server-rendered web UI (askama templates, htmx for partial updates).

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
