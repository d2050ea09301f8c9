//! Monitoring as the API shows it: consumer groups with a Burrow-style lag verdict,
//! a cluster's metric series, and alerts with their rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ClusterId, TenantId};

/// A consumer's verdict, ordered from good to bad.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum LagStatus {
    /// Keeping up (or caught up at some point in the window).
    Ok,
    /// The lag grew at every observation of the window.
    Warning,
    /// The committed offset went backwards.
    Rewind,
    /// Commits without progress while there is lag.
    Stall,
    /// No commit for longer than the window while there is lag.
    Stop,
    /// The offsets could not be read or make no sense.
    Error,
}

impl LagStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Rewind => "REWIND",
            Self::Stall => "STALL",
            Self::Stop => "STOP",
            Self::Error => "ERROR",
        }
    }
}

/// One partition a group consumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub status: LagStatus,
    /// The group's committed offset (the next record it reads).
    pub committed_offset: i64,
    /// The partition's log-end offset (high watermark).
    pub end_offset: i64,
    /// Records behind.
    pub lag: i64,
    /// How far behind the newest record the group is in time, from the timestamp of the
    /// next record it will read (0 without lag; absent when unknown).
    pub time_lag_ms: Option<i64>,
    /// When the lag will be cleared at the window's consume and produce rates (absent when
    /// it is not shrinking).
    pub clears_in_ms: Option<i64>,
}

/// A consumer group of a cluster with its worst partition's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsumerGroup {
    pub group_id: String,
    pub status: LagStatus,
    /// Records behind over all partitions.
    pub total_lag: i64,
    /// The largest time lag of its partitions.
    pub max_time_lag_ms: Option<i64>,
    /// When every partition's lag is cleared at current rates (absent when some lag is
    /// not shrinking).
    pub clears_in_ms: Option<i64>,
    /// When the offsets were last read.
    pub observed_at: DateTime<Utc>,
    pub partitions: Vec<PartitionLag>,
}

/// One point of a series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// A named series over the requested range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Series {
    /// e.g. `bytes_in_per_sec`, `messages_in_per_sec`, `disk_used_bytes`, `lag:<group>`.
    pub name: String,
    pub unit: String,
    pub points: Vec<Point>,
}

/// `GET /api/v1/clusters/{id}/metrics`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterMetrics {
    pub cluster_id: ClusterId,
    /// `1h`, `6h`, `24h` or `7d`.
    pub range: String,
    pub series: Vec<Series>,
    /// Per topic over the range: messages per second and messages in total.
    pub topics: Vec<TopicThroughput>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicThroughput {
    pub topic: String,
    pub messages_per_sec: f64,
    pub messages_total: i64,
}

/// The time range of a metrics query.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// `1h` (default), `6h`, `24h` or `7d`.
    pub range: Option<String>,
}

/// One scrape target in Prometheus' HTTP service discovery format
/// (`GET /api/v1/prometheus/targets`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrometheusTargetGroup {
    /// `host:port` of a broker's metrics endpoint.
    pub targets: Vec<String>,
    /// `tideway_cluster`, `tideway_cluster_id`, `tideway_tenant`, `tideway_host`,
    /// `tideway_node_id`.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Whether an alert is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

/// An alert: a rule that held for a subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: uuid::Uuid,
    /// One of the rule names of `GET /api/v1/alert-rules`.
    pub rule: String,
    /// What it is about, e.g. `host:h1`, `cluster:<id>/group:orders`.
    pub subject: String,
    pub tenant_id: Option<TenantId>,
    pub cluster_id: Option<ClusterId>,
    /// `critical` or `warning`.
    pub severity: String,
    pub message: String,
    pub state: AlertState,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A rule as it applies (platform default, or a tenant's override).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRule {
    pub rule: String,
    pub description: String,
    pub enabled: bool,
    /// The rule's limit in `unit`.
    pub threshold: f64,
    pub unit: String,
    /// Set for a tenant's override.
    pub tenant_id: Option<TenantId>,
}

/// Body of `PUT /api/v1/tenants/{id}/alert-webhook`: where the tenant's alerts go too.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlertWebhook {
    /// An http:// or https:// URL.
    pub url: String,
    /// When given, each delivery carries `X-Tideway-Signature: sha256=<hex HMAC-SHA256 of
    /// the body>` made with it. Stored sealed, never shown again.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A tenant's alert webhook as shown (never with its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertWebhook {
    pub url: String,
    /// Deliveries are signed.
    pub signed: bool,
}

/// Body of `PUT /api/v1/alert-rules/{rule}` and `PUT /api/v1/tenants/{id}/alert-rules/{rule}`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlertRule {
    pub enabled: bool,
    pub threshold: f64,
}
