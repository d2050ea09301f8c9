//! Cluster requests and clusters: the desired spec (with its generation), the approval,
//! and the observed status (with observed generation and conditions), kept apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ClusterId, Generation, TenantId};

/// Brokers serving one tenant, or a slice of a platform-owned shared cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterKind {
    Dedicated,
    Shared,
}

/// Where brokers keep their logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StorageBackend {
    LocalSsd,
    Nfs,
    CephRbd,
}

/// How clients reach a cluster: plaintext, or SASL_SSL with per-tenant SCRAM users,
/// TLS from the cluster's own CA and the authorizer on.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterSecurity {
    /// Only for a dedicated cluster that asks for it explicitly.
    Plaintext,
    #[default]
    SaslSsl,
}

/// The kind of host brokers run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HardwareProfile {
    Physical,
    Virtual,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        sqlx_text_enum!($ty);
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<&str> = $ty::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown value {s:?}; expected one of {}", all.join(", "))
                })
            }
        }
    };
}

text_enum!(ClusterKind { Dedicated = "dedicated", Shared = "shared" });
text_enum!(StorageBackend { LocalSsd = "local-ssd", Nfs = "nfs", CephRbd = "ceph-rbd" });
text_enum!(HardwareProfile { Physical = "physical", Virtual = "virtual" });
text_enum!(ClusterSecurity { Plaintext = "plaintext", SaslSsl = "sasl-ssl" });
text_enum!(ApprovalState { Pending = "pending", Approved = "approved", Rejected = "rejected" });

/// Defaults applied to topics created on the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicDefaults {
    pub partitions: i32,
    pub replication_factor: i32,
    /// `-1` keeps records forever.
    pub retention_ms: i64,
}

/// The desired state of a cluster. Every write bumps the cluster's generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Brokers for a dedicated cluster; must be absent for a shared one.
    #[serde(default)]
    pub broker_count: Option<i32>,
    pub storage_backend: StorageBackend,
    /// Storage per broker (dedicated) or for the whole allocation (shared), in GiB.
    pub storage_gib: i64,
    pub hardware_profile: HardwareProfile,
    #[serde(default)]
    pub topic_defaults: Option<TopicDefaults>,
    /// Brokers create a topic the first time a client uses it (off by default).
    #[serde(default)]
    pub auto_create_topics: bool,
    /// Set when the cluster is requested; sasl-ssl when left out. Shared clusters and
    /// their slices are always sasl-ssl; only a dedicated cluster may ask for plaintext.
    #[serde(default)]
    pub security: ClusterSecurity,
}

/// Body of `POST /api/v1/clusters`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    pub tenant_id: TenantId,
    /// 3–40 characters: lowercase letters, digits and dashes, starting with a letter.
    pub name: String,
    pub kind: ClusterKind,
    pub spec: ClusterSpec,
}

/// Body of `PATCH /api/v1/clusters/{id}`: the spec fields to change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpecPatch {
    #[serde(default)]
    pub broker_count: Option<i32>,
    #[serde(default)]
    pub storage_gib: Option<i64>,
    #[serde(default)]
    pub hardware_profile: Option<HardwareProfile>,
    #[serde(default)]
    pub topic_defaults: Option<TopicDefaults>,
    #[serde(default)]
    pub auto_create_topics: Option<bool>,
}

/// Where a request stands with the platform admins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

/// The approval of a cluster request.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub state: ApprovalState,
    /// Why it was approved, rejected, or is waiting.
    pub reason: Option<String>,
    /// `auto` or the admin's actor name.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// `True`, `False` or `Unknown`, as in Kubernetes conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One observed aspect of a cluster: Ready, Progressing or Degraded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: ConditionStatus,
    /// A CamelCase machine-readable reason.
    pub reason: String,
    /// A sentence for a person.
    pub message: String,
    pub last_transition_time: DateTime<Utc>,
}

/// The observed state of a cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    /// A one-word summary: PendingApproval, Rejected, Provisioning, Ready, Degraded, Deleting.
    pub phase: String,
    /// The latest spec generation the cluster runs as asked: set once the cluster is
    /// Ready for it and every host of its brokers applied it; absent before that first
    /// happened.
    pub observed_generation: Option<Generation>,
    pub conditions: Vec<Condition>,
}

/// A cluster request and, once approved, the cluster.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cluster {
    pub id: ClusterId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: ClusterKind,
    pub spec: ClusterSpec,
    pub generation: Generation,
    pub approval: Approval,
    pub status: ClusterStatus,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `host:port,...` for Kafka clients, once brokers are placed.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    #[serde(default)]
    pub brokers: Vec<ClusterBroker>,
    /// For a tenant's slice of a shared cluster: the shared cluster it lives on.
    #[serde(default)]
    pub shared_cluster_id: Option<ClusterId>,
    /// For a slice of a shared cluster: every topic's name starts with this.
    #[serde(default)]
    pub topic_prefix: Option<String>,
}

/// A broker of a cluster as its users see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterBroker {
    pub node_id: i32,
    pub host: String,
    pub address: String,
    pub port: u16,
    /// The agent reports the broker running and answering.
    pub healthy: bool,
    pub detail: String,
    /// Bytes the broker's data takes on its volume, as last reported.
    pub disk_used_bytes: Option<u64>,
    /// Record bytes produced to / fetched from the broker since it started.
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
}

/// Filters of `GET /api/v1/clusters`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterFilter {
    /// Only this tenant's clusters.
    pub tenant_id: Option<TenantId>,
    /// Only requests in this approval state.
    pub approval: Option<ApprovalState>,
    pub kind: Option<ClusterKind>,
    /// Substring of the name.
    pub name: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Body of approve and reject.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Required when rejecting.
    #[serde(default)]
    pub reason: Option<String>,
}
