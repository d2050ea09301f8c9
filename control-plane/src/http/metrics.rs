//! Prometheus metrics: request counts and latencies by route and status, and the database
//! pool, rendered as text on `/metrics`.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::state::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// A gauge not set for this long is dropped from `/metrics`.
const GAUGE_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Installs the process-wide recorder once and returns its handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        // Gauges of deleted clusters and groups go once no pass sets them any more.
        .idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE_TIMEOUT))
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle.clone());
    }
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}

/// Counts and times every request under the route it matched.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

/// `/metrics` on the main listener: it names every tenant's clusters and groups, so it
/// takes a platform admin's token (an API token with that role, for Prometheus).
pub async fn render_for_admin(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
) -> Result<Response, crate::error::ApiError> {
    caller.require_platform_admin()?;
    Ok(render(State(state)).await.into_response())
}

/// `/metrics` as text, unauthenticated: served as is only on the operations listener.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("db_pool_connections").set(f64::from(state.db.size()));
    metrics::gauge!("db_pool_idle_connections").set(state.db.num_idle() as f64);
    metrics::gauge!("db_pool_max_connections").set(f64::from(state.config.db_connections));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
