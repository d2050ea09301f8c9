//! Broker settings: the command line's and a TOML file's, validated once at start.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::{
    connections::{ConnectionConfig, ConnectionsSection},
    groups::GroupConfig,
    log::config::LogConfig,
    security::{
        acl::AuthorizerConfig,
        kerberos::KerberosConfig,
        sasl::{DEFAULT_MECHANISMS, GSSAPI, KNOWN_MECHANISMS},
        tls::{ClientAuth, TlsConfig},
    },
};

/// Largest request frame accepted (`socket.request.max.bytes`).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;
/// How often retention is enforced (`log.retention.check.interval.ms`).
pub const DEFAULT_RETENTION_CHECK: Duration = Duration::from_secs(300);

/// Everything a broker needs to run.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `host:port` clients are told to connect to.
    pub advertised: (String, u16),
    pub node_id: i32,
    /// Fixed cluster id; generated and kept in the data dir when absent.
    pub cluster_id: Option<String>,
    pub auto_create_topics: bool,
    pub default_partitions: i32,
    pub max_request_bytes: usize,
    pub retention_check: Duration,
    /// Broker-wide log defaults; topic configs override them.
    pub log: LogConfig,
    pub group: GroupConfig,
    /// Cluster mode: the metadata quorum this broker votes in. None: standalone.
    pub cluster: Option<ClusterMembership>,
    /// The security protocol of the main listener (`listen`/`advertised`), which also
    /// carries replication between brokers.
    pub protocol: SecurityProtocol,
    /// Listeners besides the main one.
    pub listeners: Vec<ListenerConfig>,
    /// Certificate and key for SSL and SASL_SSL listeners.
    pub tls: Option<TlsConfig>,
    pub authorizer: AuthorizerConfig,
    /// SASL mechanisms SASL listeners offer.
    pub sasl_mechanisms: Vec<String>,
    /// SCRAM credentials created at start when missing (the first admin user).
    pub bootstrap_credentials: Vec<BootstrapCredential>,
    /// Kerberos for SASL/GSSAPI.
    pub kerberos: Option<KerberosConfig>,
    /// Where `/metrics` (Prometheus text) is served; port 0 picks a free port.
    pub metrics_listen: Option<SocketAddr>,
    /// What clients may hold: connections, idle time, frame sizes, request memory.
    pub connections: ConnectionConfig,
    /// Storage budgets enforced on produce.
    pub storage: crate::storage_budget::StorageConfig,
}

/// `[[bootstrap-credentials]]`: a SCRAM credential in its stored form (salt, stored key
/// and server key, base64), so no password is written to the broker's host.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BootstrapCredential {
    pub user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: String,
    pub iterations: i32,
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

impl BootstrapCredential {
    /// The mechanism and credential; the message says what is malformed.
    pub fn decode(
        &self,
    ) -> Result<
        (
            crate::security::scram::Mechanism,
            crate::security::scram::Credential,
        ),
        String,
    > {
        use crate::security::scram::{Credential, Mechanism};
        use base64::{engine::general_purpose::STANDARD as B64, Engine};
        let mechanism = match self.mechanism.as_str() {
            "SCRAM-SHA-256" => Mechanism::Sha256,
            "SCRAM-SHA-512" => Mechanism::Sha512,
            other => {
                return Err(format!(
                    "bootstrap credential of {}: unknown mechanism {other}",
                    self.user
                ))
            }
        };
        let field = |name: &str, v: &str| {
            B64.decode(v).map_err(|_| {
                format!(
                    "bootstrap credential of {}: {name} is not base64",
                    self.user
                )
            })
        };
        Ok((
            mechanism,
            Credential {
                salt: field("salt", &self.salt)?,
                iterations: self.iterations,
                stored_key: field("stored-key", &self.stored_key)?,
                server_key: field("server-key", &self.server_key)?,
            },
        ))
    }
}

/// How a listener's clients connect (`listener.security.protocol.map`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum SecurityProtocol {
    #[default]
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "SSL")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One more listener (`[[listeners]]` in the TOML file).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ListenerConfig {
    /// Upper case, e.g. "EXTERNAL"; clients see addresses of the listener they used.
    pub name: String,
    pub protocol: SecurityProtocol,
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// `host:port` clients are told; default: the bound address.
    #[serde(default)]
    pub advertised: Option<String>,
    /// Overrides `[tls] client-auth` on this listener.
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
}

impl ListenerConfig {
    /// The advertised address (`bind_listeners` fills it in from the bound address).
    pub fn advertised_address(&self) -> (String, u16) {
        self.advertised
            .as_deref()
            .and_then(|a| parse_host_port(a).ok())
            .unwrap_or_else(|| (self.listen.ip().to_string(), self.listen.port()))
    }
}

/// `[authorizer]` in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthorizerSection {
    #[serde(default)]
    pub enabled: bool,
    /// e.g. `["User:admin"]`
    #[serde(default)]
    pub super_users: Vec<String>,
    #[serde(default)]
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerSection {
    pub fn config(&self) -> AuthorizerConfig {
        AuthorizerConfig {
            enabled: self.enabled,
            super_users: self.super_users.clone(),
            allow_everyone_if_no_acl_found: self.allow_everyone_if_no_acl_found,
        }
    }
}

/// The SASL mechanisms offered unless `sasl-mechanisms` names others.
pub fn default_sasl_mechanisms() -> Vec<String> {
    DEFAULT_MECHANISMS.iter().map(|m| m.to_string()).collect()
}

/// A broker's place in a cluster: the voters of the metadata quorum (node id →
/// controller address) and where this broker listens for its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMembership {
    pub voters: BTreeMap<u64, String>,
    pub controller_listen: SocketAddr,
    /// The failure domain (host or rack) replicas are spread over.
    pub rack: Option<String>,
    /// A broker silent this long is declared down by the controller, which moves its
    /// leaderships (`broker.session.timeout.ms`).
    pub session_timeout: Duration,
    /// A follower not caught up for this long leaves the ISR (`replica.lag.time.max.ms`).
    pub replica_lag_max: Duration,
}

/// Default `broker.session.timeout.ms`: failover within a few seconds.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(3);
/// Default `replica.lag.time.max.ms`.
pub const DEFAULT_REPLICA_LAG_MAX: Duration = Duration::from_secs(10);

/// `[cluster]` in the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSection {
    /// `["1@host-a:19300", "2@host-b:19300", "3@host-c:19300"]`
    pub voters: Vec<String>,
    pub controller_listen: SocketAddr,
    #[serde(default)]
    pub rack: Option<String>,
    /// e.g. "3s"
    #[serde(default, with = "humantime_serde_opt")]
    pub broker_session_timeout: Option<Duration>,
    /// e.g. "10s"
    #[serde(default, with = "humantime_serde_opt")]
    pub replica_lag_time_max: Option<Duration>,
}

impl ClusterSection {
    /// Checks the voters (`ID@HOST:PORT`, this node among them).
    pub fn membership(&self, node_id: i32) -> Result<ClusterMembership, String> {
        let mut voters = BTreeMap::new();
        for v in &self.voters {
            let (id, addr) = v
                .split_once('@')
                .ok_or_else(|| format!("[cluster] voter {v:?} must be ID@HOST:PORT"))?;
            let id: u64 = id
                .parse()
                .map_err(|_| format!("[cluster] voter {v:?}: {id:?} is not a node id"))?;
            parse_host_port(addr).map_err(|e| format!("[cluster] voter {v:?}: {e}"))?;
            if voters.insert(id, addr.to_owned()).is_some() {
                return Err(format!("[cluster] node {id} is listed twice"));
            }
        }
        if !voters.contains_key(&(node_id as u64)) {
            return Err(format!(
                "[cluster] voters must include this broker's node id {node_id}"
            ));
        }
        let session_timeout = self
            .broker_session_timeout
            .unwrap_or(DEFAULT_SESSION_TIMEOUT);
        if session_timeout < Duration::from_millis(500) {
            return Err("[cluster] broker-session-timeout must be at least 500ms".into());
        }
        Ok(ClusterMembership {
            voters,
            controller_listen: self.controller_listen,
            rack: self.rack.clone(),
            session_timeout,
            replica_lag_max: self.replica_lag_time_max.unwrap_or(DEFAULT_REPLICA_LAG_MAX),
        })
    }
}

/// The TOML file: the same settings as the flags (flags win), plus topic defaults in
/// Kafka's names under `[topic-defaults]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub advertised: Option<String>,
    pub node_id: Option<i32>,
    pub cluster_id: Option<String>,
    pub auto_create_topics: Option<bool>,
    pub default_partitions: Option<i32>,
    pub max_request_bytes: Option<usize>,
    #[serde(default, with = "humantime_serde_opt")]
    pub retention_check_interval: Option<Duration>,
    /// `group.initial.rebalance.delay.ms`, e.g. "3s".
    #[serde(default, with = "humantime_serde_opt")]
    pub group_initial_rebalance_delay: Option<Duration>,
    /// `group.min.session.timeout.ms`, e.g. "6s".
    #[serde(default, with = "humantime_serde_opt")]
    pub group_min_session_timeout: Option<Duration>,
    #[serde(default)]
    pub topic_defaults: BTreeMap<String, toml::Value>,
    /// Cluster membership; absent for a standalone broker.
    #[serde(default)]
    pub cluster: Option<ClusterSection>,
    /// The main listener's protocol (default PLAINTEXT).
    #[serde(default)]
    pub security_protocol: Option<SecurityProtocol>,
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub authorizer: AuthorizerSection,
    #[serde(default)]
    pub sasl_mechanisms: Option<Vec<String>>,
    #[serde(default)]
    pub bootstrap_credentials: Vec<BootstrapCredential>,
    #[serde(default)]
    pub kerberos: Option<KerberosConfig>,
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    #[serde(default)]
    pub connections: ConnectionsSection,
    #[serde(default)]
    pub storage: crate::storage_budget::StorageConfig,
}

pub(crate) mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl FileConfig {
    pub fn load(path: &std::path::Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Topic defaults as Kafka config strings.
    pub fn topic_default_strings(&self) -> BTreeMap<String, String> {
        self.topic_defaults
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect()
    }
}

/// Splits `host:port`.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} must be HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{text:?}: the port is not a number"))?;
    if host.is_empty() {
        return Err(format!("{text:?}: the host is empty"));
    }
    Ok((host.trim_matches(|c| c == '[' || c == ']').to_owned(), port))
}

impl BrokerConfig {
    /// Checks the settings together; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id < 0 {
            return Err(format!(
                "node id must not be negative, got {}",
                self.node_id
            ));
        }
        if self.default_partitions < 1 {
            return Err(format!(
                "default partitions must be at least 1, got {}",
                self.default_partitions
            ));
        }
        if let Some(id) = &self.cluster_id {
            if id.is_empty() || id.len() > 64 {
                return Err("cluster id must be 1 to 64 characters".into());
            }
        }
        self.validate_listeners()?;
        if self.cluster.is_some() && self.cluster_id.is_none() {
            return Err(
                "a broker with a [cluster] section needs a cluster-id, the same on every broker of the cluster"
                    .into(),
            );
        }
        Ok(())
    }
}

impl BrokerConfig {
    /// Listener names are unique, TLS listeners have a certificate, SASL mechanisms are
    /// known, and replication between brokers can use the main listener.
    fn validate_listeners(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::from([self.protocol.name().to_owned()]);
        let mut protocols = vec![self.protocol];
        for l in &self.listeners {
            if l.name.is_empty()
                || !l
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "listener name {:?} must be letters, digits or _",
                    l.name
                ));
            }
            if !names.insert(l.name.clone()) {
                return Err(format!("listener {} is defined twice (the main listener is named after its protocol, {})", l.name, self.protocol.name()));
            }
            if let Some(a) = &l.advertised {
                parse_host_port(a).map_err(|e| format!("listener {}: {e}", l.name))?;
            }
            protocols.push(l.protocol);
        }
        if protocols.iter().any(|p| p.tls()) && self.tls.is_none() {
            return Err(
                "an SSL or SASL_SSL listener needs a [tls] section with cert and key".into(),
            );
        }
        if let Some(tls) = &self.tls {
            tls.server_config()?;
        }
        for c in &self.bootstrap_credentials {
            c.decode()?;
        }
        for m in &self.sasl_mechanisms {
            if !KNOWN_MECHANISMS.contains(&m.as_str()) {
                return Err(format!(
                    "unknown SASL mechanism {m}; known: {}",
                    KNOWN_MECHANISMS.join(", ")
                ));
            }
            if m == GSSAPI && self.kerberos.is_none() {
                return Err(
                    "SASL mechanism GSSAPI needs a [kerberos] section with the keytab".into(),
                );
            }
        }
        if let Some(k) = &self.kerberos {
            k.validate()?;
        }
        let mutual_tls = self.protocol == SecurityProtocol::Ssl
            && self
                .tls
                .as_ref()
                .is_some_and(|t| t.client_auth == ClientAuth::Required);
        if self.cluster.is_some() && self.protocol != SecurityProtocol::Plaintext && !mutual_tls {
            return Err("in cluster mode the main listener carries replication: it must be PLAINTEXT, or SSL with client-auth = \"required\" (brokers present their own certificates); add SASL listeners under [[listeners]]".into());
        }
        Ok(())
    }
}
