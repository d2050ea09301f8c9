//! Monitoring pages: the live monitoring panel of a cluster page (charts drawn as SVG on
//! the server, consumer groups with their verdicts, topics; refreshed by htmx), the
//! alerts page, and the platform admin's fleet view.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    response::IntoResponse,
    routing::get,
    Router,
};
use serde::Deserialize;
use tideway_api::{
    monitoring::{Alert, ConsumerGroup, LagStatus, TopicThroughput},
    ClusterId,
};

use super::{
    charts::{self, Chart},
    path_id, render, Chrome, WebResult, WebSession,
};
use crate::{
    monitoring::{
        consumer_groups,
        fleet::{self, Fleet},
        series,
    },
    service,
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clusters/{id}/monitoring", get(cluster_panel))
        .route("/alerts", get(alerts_page))
        .route("/admin/fleet", get(fleet_page))
}

#[derive(Deserialize)]
struct RangeForm {
    range: Option<String>,
}

#[derive(Template)]
#[template(path = "cluster_monitoring.html")]
struct ClusterPanel {
    cluster: ClusterId,
    range: &'static str,
    ranges: Vec<&'static str>,
    charts: Vec<Chart>,
    groups: Vec<ConsumerGroup>,
    topics: Vec<TopicThroughput>,
}

impl ClusterPanel {
    fn status_class(&self, s: &LagStatus) -> &'static str {
        match s {
            LagStatus::Ok => "approved",
            LagStatus::Warning | LagStatus::Rewind => "pending",
            _ => "rejected",
        }
    }

    fn duration(&self, ms: &Option<i64>) -> String {
        ms.map_or_else(|| "—".to_owned(), charts::duration_ms)
    }

    fn rate(&self, v: &f64) -> String {
        charts::human(*v, "msg/s")
    }
}

fn title_of(name: &str) -> String {
    match name {
        "bytes_in_per_sec" => "Bytes in".into(),
        "bytes_out_per_sec" => "Bytes out".into(),
        "messages_in_per_sec" => "Messages in".into(),
        "disk_used_bytes" => "Storage used".into(),
        "brokers_healthy" => "Healthy brokers".into(),
        other => match other.strip_prefix("lag:") {
            Some(group) => format!("Lag of {group}"),
            None => other.into(),
        },
    }
}

async fn cluster_panel(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
    Query(q): Query<RangeForm>,
) -> WebResult<impl IntoResponse> {
    let id = path_id::<ClusterId>(&id, "cluster")?;
    let (range, _) = series::parse_range(q.range.as_deref())?;
    let cluster = service::clusters::get(&state, &session.caller, id).await?;
    let metrics = series::of_cluster(&state, &cluster, range).await?;
    let groups = consumer_groups::of_cluster(&state, &cluster).await?;
    render(&ClusterPanel {
        cluster: id,
        range,
        ranges: series::RANGES.iter().map(|(name, _)| *name).collect(),
        charts: metrics
            .series
            .iter()
            .map(|s| charts::line(s, &title_of(&s.name)))
            .collect(),
        groups,
        topics: metrics.topics,
    })
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    page: Chrome,
    alerts: Vec<Alert>,
}

async fn alerts_page(
    State(state): State<AppState>,
    session: WebSession,
) -> WebResult<impl IntoResponse> {
    let alerts = service::alerting::recent(&state, &session.caller, 200).await?;
    render(&AlertsPage {
        page: session.chrome(),
        alerts,
    })
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage {
    page: Chrome,
    fleet: Fleet,
    /// The fleet's recent alerts (named for the shared alert table).
    alerts: Vec<Alert>,
}

impl FleetPage {
    fn bytes(&self, b: &i64) -> String {
        charts::human(*b as f64, "B")
    }

    fn rate(&self, v: &f64) -> String {
        charts::human(*v, "B/s")
    }

    fn percent(&self, used: &i64, total: &u64) -> u64 {
        if *total == 0 {
            return 0;
        }
        ((*used as f64 / *total as f64) * 100.0)
            .round()
            .clamp(0.0, 100.0) as u64
    }
}

async fn fleet_page(
    State(state): State<AppState>,
    session: WebSession,
) -> WebResult<impl IntoResponse> {
    let mut fleet = fleet::overview(&state, &session.caller).await?;
    render(&FleetPage {
        page: session.chrome(),
        alerts: std::mem::take(&mut fleet.alerts),
        fleet,
    })
}
