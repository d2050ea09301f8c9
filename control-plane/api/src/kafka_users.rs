//! Kafka users of a secured cluster: SCRAM credentials a tenant's applications log in
//! with. The password is shown once, when the user is created.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Body of `POST /api/v1/clusters/{id}/kafka-users`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKafkaUser {
    /// 1–64 lowercase letters, digits, '.', '_' or '-'.
    pub name: String,
}

/// A Kafka user as listed (never with its password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KafkaUser {
    pub name: String,
    /// The SASL user name clients log in with (on a shared cluster: prefixed with the
    /// tenant's topic prefix).
    pub username: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// How to connect as a new user; the only time the password is shown.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKafkaUser {
    pub user: KafkaUser,
    pub password: String,
    /// SCRAM-SHA-512 (SCRAM-SHA-256 and PLAIN over TLS also work).
    pub sasl_mechanism: String,
    pub security_protocol: String,
    pub bootstrap_servers: Option<String>,
    /// PEM: the CA that signed the brokers' certificates.
    pub ca_pem: String,
    /// Topics and groups the user may use: those starting with this prefix (empty: all
    /// of a dedicated cluster).
    pub prefix: String,
}

impl std::fmt::Debug for CreatedKafkaUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CreatedKafkaUser({}, password redacted)",
            self.user.username
        )
    }
}
