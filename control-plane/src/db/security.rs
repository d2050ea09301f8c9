//! Secured clusters' material: the CA and control-plane credential per cluster, broker
//! certificates, and Kafka users. Secrets arrive sealed and leave sealed.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, FromRow, PgConnection, PgPool};
use tideway_api::{agents::ScramStoredCredential, kafka_users::KafkaUser, BrokerId, ClusterId};

/// A cluster's CA and the control plane's credential (sealed parts stay sealed).
#[derive(FromRow)]
pub struct ClusterSecretsRow {
    pub ca_cert_pem: String,
    /// None: the organisation CA signs this cluster's certificates.
    pub ca_key_sealed: Option<Vec<u8>>,
    pub admin_user: String,
    pub admin_password_sealed: Vec<u8>,
    pub admin_credential: Json<ScramStoredCredential>,
}

pub async fn cluster_secrets(
    conn: &mut PgConnection,
    cluster: ClusterId,
) -> sqlx::Result<Option<ClusterSecretsRow>> {
    sqlx::query_as(
        "SELECT ca_cert_pem, ca_key_sealed, admin_user, admin_password_sealed, admin_credential
         FROM cluster_secrets WHERE cluster_id = $1",
    )
    .bind(cluster)
    .fetch_optional(conn)
    .await
}

pub async fn insert_cluster_secrets(
    conn: &mut PgConnection,
    cluster: ClusterId,
    row: &ClusterSecretsRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cluster_secrets (cluster_id, ca_cert_pem, ca_key_sealed, admin_user,
                                      admin_password_sealed, admin_credential)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(cluster)
    .bind(&row.ca_cert_pem)
    .bind(&row.ca_key_sealed)
    .bind(&row.admin_user)
    .bind(&row.admin_password_sealed)
    .bind(&row.admin_credential)
    .execute(conn)
    .await?;
    Ok(())
}

/// Brokers of `cluster` with the address of their host and whether they have a
/// certificate yet.
pub async fn brokers_of(
    conn: &mut PgConnection,
    cluster: ClusterId,
) -> sqlx::Result<Vec<(BrokerId, String, bool)>> {
    sqlx::query_as(
        "SELECT b.id, h.address, b.tls_cert_pem IS NOT NULL
         FROM brokers b JOIN hosts h ON h.id = b.host_id WHERE b.cluster_id = $1",
    )
    .bind(cluster)
    .fetch_all(conn)
    .await
}

/// Each broker of `cluster` that has a certificate: id, host address, certificate PEM.
pub async fn broker_certificates_of(
    conn: &mut PgConnection,
    cluster: ClusterId,
) -> sqlx::Result<Vec<(BrokerId, String, String)>> {
    sqlx::query_as(
        "SELECT b.id, h.address, b.tls_cert_pem
         FROM brokers b JOIN hosts h ON h.id = b.host_id
         WHERE b.cluster_id = $1 AND b.tls_cert_pem IS NOT NULL",
    )
    .bind(cluster)
    .fetch_all(conn)
    .await
}

pub async fn set_broker_certificate(
    conn: &mut PgConnection,
    broker: BrokerId,
    cert_pem: &str,
    key_sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE brokers SET tls_cert_pem = $2, tls_key_sealed = $3 WHERE id = $1")
        .bind(broker)
        .bind(cert_pem)
        .bind(key_sealed)
        .execute(conn)
        .await?;
    Ok(())
}

/// The certificate and sealed key of each given broker that has one, with its cluster.
pub async fn broker_certificates(
    db: &PgPool,
    brokers: &[uuid::Uuid],
) -> sqlx::Result<Vec<(BrokerId, ClusterId, String, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT id, cluster_id, tls_cert_pem, tls_key_sealed FROM brokers
         WHERE id = ANY($1) AND tls_cert_pem IS NOT NULL AND tls_key_sealed IS NOT NULL",
    )
    .bind(brokers)
    .fetch_all(db)
    .await
}

#[derive(FromRow)]
struct KafkaUserRow {
    name: String,
    username: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<KafkaUserRow> for KafkaUser {
    fn from(r: KafkaUserRow) -> Self {
        KafkaUser {
            name: r.name,
            username: r.username,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

pub async fn kafka_users(db: &PgPool, cluster: ClusterId) -> sqlx::Result<Vec<KafkaUser>> {
    let rows: Vec<KafkaUserRow> = sqlx::query_as(
        "SELECT name, username, created_by, created_at FROM kafka_users
         WHERE cluster_id = $1 ORDER BY name",
    )
    .bind(cluster)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(KafkaUser::from).collect())
}

/// The clusters (and slices) of `tenant` that have Kafka users.
pub async fn clusters_with_kafka_users(
    db: &PgPool,
    tenant: tideway_api::TenantId,
) -> sqlx::Result<Vec<ClusterId>> {
    sqlx::query_scalar(
        "SELECT DISTINCT k.cluster_id FROM kafka_users k JOIN clusters c ON c.id = k.cluster_id
         WHERE c.tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(db)
    .await
}

/// Records a user; false when the name is taken on this cluster.
pub async fn insert_kafka_user(
    conn: &mut PgConnection,
    cluster: ClusterId,
    name: &str,
    username: &str,
    created_by: &str,
) -> sqlx::Result<Option<KafkaUser>> {
    let row: Option<KafkaUserRow> = sqlx::query_as(
        "INSERT INTO kafka_users (id, cluster_id, name, username, created_by)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cluster_id, name) DO NOTHING
         RETURNING name, username, created_by, created_at",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(cluster)
    .bind(name)
    .bind(username)
    .bind(created_by)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(KafkaUser::from))
}

/// Deletes a user; its SASL user name if it existed.
pub async fn delete_kafka_user(
    conn: &mut PgConnection,
    cluster: ClusterId,
    name: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "DELETE FROM kafka_users WHERE cluster_id = $1 AND name = $2 RETURNING username",
    )
    .bind(cluster)
    .bind(name)
    .fetch_optional(conn)
    .await
}

/// Every column that holds a sealed secret: (table, its key column, the sealed column).
const SEALED_COLUMNS: &[(&str, &str, &str)] = &[
    ("cluster_secrets", "cluster_id", "ca_key_sealed"),
    ("cluster_secrets", "cluster_id", "admin_password_sealed"),
    ("brokers", "id", "tls_key_sealed"),
    ("tenant_alert_webhooks", "tenant_id", "secret_sealed"),
];

/// Rewrites every sealed value `rewrite` returns a new value for, in one transaction;
/// how many were rewritten. An error from `rewrite` changes nothing.
pub async fn rewrite_sealed(
    db: &PgPool,
    rewrite: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, String>,
) -> Result<u64, ResealError> {
    let mut tx = db.begin().await?;
    let mut rewritten = 0;
    for (table, key, column) in SEALED_COLUMNS {
        let rows: Vec<(uuid::Uuid, Vec<u8>)> = sqlx::query_as(&format!(
            "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL FOR UPDATE"
        ))
        .fetch_all(&mut *tx)
        .await?;
        for (id, sealed) in rows {
            let Some(new) = rewrite(&sealed).map_err(|reason| ResealError::Open {
                what: format!("{table}.{column} of {id}"),
                reason,
            })?
            else {
                continue;
            };
            sqlx::query(&format!(
                "UPDATE {table} SET {column} = $2 WHERE {key} = $1"
            ))
            .bind(id)
            .bind(new)
            .execute(&mut *tx)
            .await?;
            rewritten += 1;
        }
    }
    tx.commit().await?;
    Ok(rewritten)
}

/// Why resealing stopped (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("cannot open {what}: {reason}; is the key that sealed it still in TIDEWAY_SEAL_KEYS?")]
    Open { what: String, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
