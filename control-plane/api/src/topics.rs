//! Topics managed through the control plane on a tenant's cluster.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ClusterId;

/// A topic as the control plane manages it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Topic {
    pub cluster_id: ClusterId,
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Overrides in Kafka's names, e.g. `retention.ms`.
    pub configs: BTreeMap<String, String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/clusters/{id}/topics`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    pub name: String,
    /// Default: the cluster's topic defaults, else 1.
    #[serde(default)]
    pub partitions: Option<i32>,
    /// Default: the cluster's topic defaults capped by its brokers, else 1.
    #[serde(default)]
    pub replication_factor: Option<i32>,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// Body of `PATCH /api/v1/clusters/{id}/topics/{name}`: the complete set of overrides.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTopic {
    pub configs: BTreeMap<String, String>,
}
