//! The agent protocol (`/agent/v1`) and agent tokens: what a broker agent reports about its
//! host and brokers, and the desired state it fetches.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    clusters::{HardwareProfile, StorageBackend},
    Generation, HostId, TokenId,
};

/// CPU and memory of a host (zero when not reported).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct HostCapacity {
    pub cpus: u32,
    pub memory_bytes: u64,
}

/// Capacity of one storage backend on a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageCapacity {
    pub backend: StorageBackend,
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// Ports the agent may give brokers, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Body of `POST /agent/v1/register`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterHost {
    /// Unique host name.
    pub name: String,
    /// Address clients and other brokers reach the host at.
    pub address: String,
    pub hardware_profile: HardwareProfile,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub capacity: HostCapacity,
    pub storage: Vec<StorageCapacity>,
    pub port_range: PortRange,
    pub agent_version: String,
}

/// The answer to a registration.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Registered {
    pub host_id: HostId,
    /// How often the agent should send a heartbeat.
    pub heartbeat_interval_secs: u64,
}

/// Body of `POST /agent/v1/hosts/{id}/heartbeat`: what the agent sees now.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The desired-state generation the agent has applied.
    pub observed_generation: Option<Generation>,
    pub storage: Vec<StorageCapacity>,
    /// Health of each broker the agent runs.
    #[serde(default)]
    pub brokers: Vec<BrokerObserved>,
    /// CPU and memory use of the host now.
    #[serde(default)]
    pub metrics: Option<HostMetrics>,
}

/// How busy a host is, as its agent last saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostMetrics {
    /// Busy share of all CPUs since the previous heartbeat, 0 to 100.
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// Broker processes running.
    pub brokers_running: u32,
}

/// What an agent sees of one of its brokers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerObserved {
    pub broker_id: crate::BrokerId,
    /// The broker process is up.
    pub running: bool,
    /// Its listener answered an ApiVersions request.
    pub answering: bool,
    /// What went wrong, for people.
    #[serde(default)]
    pub detail: String,
    /// Bytes the broker's data takes on its volume.
    #[serde(default)]
    pub disk_used_bytes: Option<u64>,
    /// Record bytes produced to the broker since it started.
    #[serde(default)]
    pub bytes_in: Option<u64>,
    /// Record bytes fetched from the broker since it started.
    #[serde(default)]
    pub bytes_out: Option<u64>,
    /// The port the broker serves Prometheus metrics on (`/metrics`), when it does.
    #[serde(default)]
    pub metrics_port: Option<u16>,
}

/// The answer to a heartbeat: the generation the agent should be at.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatAck {
    pub desired_generation: Generation,
}

/// `GET /agent/v1/hosts/{id}/desired`: the brokers this host should run.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DesiredState {
    pub host_id: HostId,
    pub generation: Generation,
    pub brokers: Vec<BrokerAssignment>,
}

/// One broker a host should run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerAssignment {
    pub broker_id: crate::BrokerId,
    pub cluster_id: crate::ClusterId,
    pub node_id: i32,
    pub port: u16,
    pub storage_backend: StorageBackend,
    pub storage_bytes: u64,
    /// The cluster's brokers create topics on first use.
    #[serde(default)]
    pub auto_create_topics: bool,
    /// For a broker of a multi-broker cluster: its peers in the metadata quorum.
    #[serde(default)]
    pub cluster: Option<ClusterPeers>,
    /// For a secured cluster: TLS material and the control plane's credential.
    #[serde(default)]
    pub security: Option<BrokerSecurity>,
    /// For a broker of a shared cluster: the storage quota of each tenant's slice on it,
    /// which the broker enforces on its topics.
    #[serde(default)]
    pub storage_budgets: Vec<SliceStorageBudget>,
}

/// The bytes a slice's topics may hold on one broker of its shared cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SliceStorageBudget {
    /// The slice as `<tenant>.<slice>`.
    pub slice: String,
    /// Its topics' prefix, `<tenant>.<slice>.`.
    pub topic_prefix: String,
    pub max_bytes: u64,
}

/// What a broker of a secured (SASL_SSL) cluster needs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerSecurity {
    /// PEM: the cluster's CA.
    pub ca_pem: String,
    /// PEM: this broker's certificate, signed by the CA.
    pub cert_pem: String,
    /// PEM: its private key.
    pub key_pem: String,
    /// The control plane's own user, a super user never shown to tenants, in SCRAM
    /// stored form (no password).
    pub admin: ScramStoredCredential,
    /// Clients connect in plaintext (a plaintext cluster of several brokers): the
    /// certificates serve only the brokers' replication and quorum, over mutual TLS.
    #[serde(default)]
    pub plaintext_clients: bool,
}

impl std::fmt::Debug for BrokerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BrokerSecurity(admin {}, key redacted)", self.admin.user)
    }
}

/// A SCRAM credential as brokers store it: base64 salt, stored key and server key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScramStoredCredential {
    pub user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: String,
    pub iterations: i32,
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

/// A broker's place in a multi-broker cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterPeers {
    /// Where this broker listens for the metadata quorum.
    pub controller_port: u16,
    /// Secured clusters: where this broker replicates (mutual TLS between brokers); its
    /// clients' SASL_SSL listener is then on `port`.
    #[serde(default)]
    pub replication_port: Option<u16>,
    /// The failure domain replicas are spread over (the host's rack label, else its name).
    pub rack: String,
    /// Every voter of the quorum, this broker included.
    pub voters: Vec<Voter>,
}

/// One voter of a cluster's metadata quorum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Voter {
    pub node_id: i32,
    pub address: String,
    pub controller_port: u16,
}

/// An agent token as listed.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentToken {
    pub id: TokenId,
    pub name: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/agent-tokens`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentToken {
    pub name: String,
    /// Lifetime in days, 1..=3650 (default 365).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// The answer to creating an agent token: the only time the secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedAgentToken {
    pub token: AgentToken,
    /// Give to `broker-agent run` in a 0600 `--token-file` or as `TIDEWAY_AGENT_TOKEN`.
    pub secret: String,
}
