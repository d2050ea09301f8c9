//! Agent tokens, and hosts as their agents register and heartbeat.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, FromRow, PgConnection, PgPool};
use tideway_api::{
    agents::{AgentToken, HostMetrics, RegisterHost, StorageCapacity},
    Generation, HostId, TokenId,
};

#[derive(Clone, Debug, FromRow)]
pub struct AgentTokenRow {
    pub id: TokenId,
    pub name: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<AgentTokenRow> for AgentToken {
    fn from(r: AgentTokenRow) -> Self {
        AgentToken {
            id: r.id,
            name: r.name,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

const TOKEN_COLUMNS: &str =
    "id, name, created_by, created_at, expires_at, revoked_at, last_used_at";

pub async fn insert_token(
    conn: &mut PgConnection,
    name: &str,
    created_by: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<AgentTokenRow> {
    sqlx::query_as(&format!(
        "INSERT INTO agent_tokens (id, name, created_by, expires_at) VALUES ($1, $2, $3, $4) RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(TokenId::new())
    .bind(name)
    .bind(created_by)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

pub async fn live_token(db: &PgPool, id: TokenId) -> sqlx::Result<Option<AgentTokenRow>> {
    sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM agent_tokens WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records a use, at most once a minute per token.
pub async fn touch_token(db: &PgPool, id: TokenId) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE agent_tokens SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list_tokens(db: &PgPool) -> sqlx::Result<Vec<AgentTokenRow>> {
    sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM agent_tokens ORDER BY created_at DESC"
    ))
    .fetch_all(db)
    .await
}

pub async fn revoke_token(
    conn: &mut PgConnection,
    id: TokenId,
) -> sqlx::Result<Option<AgentTokenRow>> {
    sqlx::query_as(&format!(
        "UPDATE agent_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Creates or refreshes the host an agent registers, by name. A host belongs to the token
/// that registered it first (until that token is revoked): `None` when the name is taken
/// by a host bound to another token.
pub async fn register_host(
    conn: &mut PgConnection,
    h: &RegisterHost,
    token: TokenId,
) -> sqlx::Result<Option<(HostId, bool)>> {
    sqlx::query_as(
        "INSERT INTO hosts (id, name, address, hardware_profile, labels, agent_token_id, agent_version,
                            capacity, storage, port_first, port_last, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
         ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address,
            hardware_profile = EXCLUDED.hardware_profile, labels = EXCLUDED.labels,
            agent_token_id = EXCLUDED.agent_token_id, agent_version = EXCLUDED.agent_version,
            capacity = EXCLUDED.capacity, storage = EXCLUDED.storage,
            port_first = EXCLUDED.port_first, port_last = EXCLUDED.port_last, last_seen_at = now()
         WHERE hosts.agent_token_id IS NULL OR hosts.agent_token_id = EXCLUDED.agent_token_id
         RETURNING id, (xmax = 0)",
    )
    .bind(HostId::new())
    .bind(&h.name)
    .bind(&h.address)
    .bind(h.hardware_profile)
    .bind(Json(&h.labels))
    .bind(token)
    .bind(&h.agent_version)
    .bind(Json(&h.capacity))
    .bind(Json(&h.storage))
    .bind(i32::from(h.port_range.first))
    .bind(i32::from(h.port_range.last))
    .fetch_optional(conn)
    .await
}

/// Records a heartbeat; returns the host's desired generation, or `None` when the host
/// is unknown or bound to another agent token.
pub async fn heartbeat(
    db: &PgPool,
    host: HostId,
    token: TokenId,
    observed: Option<Generation>,
    storage: &[StorageCapacity],
    metrics: Option<&HostMetrics>,
) -> sqlx::Result<Option<Generation>> {
    sqlx::query_scalar(
        "UPDATE hosts SET last_seen_at = now(), observed_generation = $2, storage = $3,
                metrics = COALESCE($4, metrics)
         WHERE id = $1 AND agent_token_id = $5 RETURNING generation",
    )
    .bind(host)
    .bind(observed)
    .bind(Json(storage))
    .bind(metrics.map(Json))
    .bind(token)
    .fetch_optional(db)
    .await
}

/// The desired-state generation of a host, `None` unless the host is bound to `token`.
pub async fn host_generation(
    db: &PgPool,
    host: HostId,
    token: TokenId,
) -> sqlx::Result<Option<Generation>> {
    sqlx::query_scalar("SELECT generation FROM hosts WHERE id = $1 AND agent_token_id = $2")
        .bind(host)
        .bind(token)
        .fetch_optional(db)
        .await
}

/// Frees the hosts bound to a revoked token, so that a new token may register them.
pub async fn unbind_hosts(conn: &mut PgConnection, token: TokenId) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("UPDATE hosts SET agent_token_id = NULL WHERE agent_token_id = $1")
            .bind(token)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
