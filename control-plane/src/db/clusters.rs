//! Cluster rows: spec and generation (desired), approval, status and observed generation.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, FromRow, PgConnection, PgPool};
use tideway_api::{
    clusters::{
        Approval, ApprovalState, Cluster, ClusterKind, ClusterSpec, ClusterStatus, Condition,
    },
    ClusterId, Generation, TenantId,
};

#[derive(Clone, Debug, FromRow)]
pub struct ClusterRow {
    pub id: ClusterId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: ClusterKind,
    pub spec: Json<ClusterSpec>,
    pub generation: Generation,
    pub broker_count: i64,
    pub storage_bytes: i64,
    pub approval_state: ApprovalState,
    pub approval_reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub phase: String,
    pub conditions: Json<Vec<Condition>>,
    pub observed_generation: Option<Generation>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub shared_host_id: Option<ClusterId>,
    pub topic_prefix: Option<String>,
}

impl From<ClusterRow> for Cluster {
    fn from(r: ClusterRow) -> Self {
        Cluster {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            kind: r.kind,
            spec: r.spec.0,
            generation: r.generation,
            approval: Approval {
                state: r.approval_state,
                reason: r.approval_reason,
                decided_by: r.decided_by,
                decided_at: r.decided_at,
            },
            status: ClusterStatus {
                phase: r.phase,
                observed_generation: r.observed_generation,
                conditions: r.conditions.0,
            },
            requested_by: r.requested_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            bootstrap_servers: None,
            brokers: Vec::new(),
            shared_cluster_id: r.shared_host_id,
            topic_prefix: r.topic_prefix,
        }
    }
}

const COLUMNS: &str = "id, tenant_id, name, kind, spec, generation, broker_count, storage_bytes,
    approval_state, approval_reason, decided_by, decided_at, phase, conditions,
    observed_generation, requested_by, created_at, updated_at, shared_host_id, topic_prefix";

/// A request to insert.
pub struct NewCluster<'a> {
    pub tenant_id: TenantId,
    pub name: &'a str,
    pub kind: ClusterKind,
    pub spec: &'a ClusterSpec,
    /// What the spec counts against the quota.
    pub broker_count: i64,
    pub storage_bytes: i64,
    pub requested_by: &'a str,
}

/// The approval and status written together on a decision.
pub struct ApprovalUpdate<'a> {
    pub state: ApprovalState,
    pub reason: Option<&'a str>,
    pub decided_by: Option<&'a str>,
    pub phase: &'a str,
    pub conditions: &'a [Condition],
}

pub async fn insert(
    conn: &mut PgConnection,
    c: &NewCluster<'_>,
    approval: &ApprovalUpdate<'_>,
) -> sqlx::Result<ClusterRow> {
    sqlx::query_as(&format!(
        "INSERT INTO clusters (id, tenant_id, name, kind, spec, broker_count, storage_bytes,
            approval_state, approval_reason, decided_by, decided_at, phase, conditions, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
            CASE WHEN $10::text IS NULL THEN NULL ELSE now() END, $11, $12, $13)
         RETURNING {COLUMNS}"
    ))
    .bind(ClusterId::new())
    .bind(c.tenant_id)
    .bind(c.name)
    .bind(c.kind)
    .bind(Json(c.spec))
    .bind(c.broker_count)
    .bind(c.storage_bytes)
    .bind(approval.state)
    .bind(approval.reason)
    .bind(approval.decided_by)
    .bind(approval.phase)
    .bind(Json(approval.conditions))
    .bind(c.requested_by)
    .fetch_one(conn)
    .await
}

pub async fn get(db: &PgPool, id: ClusterId) -> sqlx::Result<Option<ClusterRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM clusters WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The cluster, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: ClusterId) -> sqlx::Result<Option<ClusterRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM clusters WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// What to list.
pub struct ClusterQuery<'a> {
    /// `None`: every tenant.
    pub tenants: Option<&'a [TenantId]>,
    pub approval: Option<ApprovalState>,
    pub kind: Option<ClusterKind>,
    pub name_contains: Option<&'a str>,
    pub limit: i64,
    pub offset: i64,
}

/// Clusters oldest first, and the total that match.
pub async fn list(db: &PgPool, q: &ClusterQuery<'_>) -> sqlx::Result<(Vec<ClusterRow>, i64)> {
    let ids: Option<Vec<uuid::Uuid>> = q.tenants.map(|v| v.iter().map(|t| t.0).collect());
    let pattern = q.name_contains.map(|n| {
        format!(
            "%{}%",
            n.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    const WHERE: &str = "($1::uuid[] IS NULL OR tenant_id = ANY($1))
        AND ($2::text IS NULL OR approval_state = $2) AND ($3::text IS NULL OR kind = $3)
        AND ($4::text IS NULL OR name LIKE $4)";
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM clusters WHERE {WHERE} ORDER BY created_at, id LIMIT $5 OFFSET $6"
    ))
    .bind(&ids)
    .bind(q.approval)
    .bind(q.kind)
    .bind(&pattern)
    .bind(q.limit)
    .bind(q.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM clusters WHERE {WHERE}"))
        .bind(&ids)
        .bind(q.approval)
        .bind(q.kind)
        .bind(&pattern)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// Writes a new spec and bumps the generation.
pub async fn update_spec(
    conn: &mut PgConnection,
    id: ClusterId,
    spec: &ClusterSpec,
    broker_count: i64,
    storage_bytes: i64,
) -> sqlx::Result<ClusterRow> {
    sqlx::query_as(&format!(
        "UPDATE clusters SET spec = $2, broker_count = $3, storage_bytes = $4,
            generation = generation + 1, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(Json(spec))
    .bind(broker_count)
    .bind(storage_bytes)
    .fetch_one(conn)
    .await
}

pub async fn set_approval(
    conn: &mut PgConnection,
    id: ClusterId,
    a: &ApprovalUpdate<'_>,
) -> sqlx::Result<ClusterRow> {
    sqlx::query_as(&format!(
        "UPDATE clusters SET approval_state = $2, approval_reason = $3, decided_by = $4,
            decided_at = CASE WHEN $4::text IS NULL THEN NULL ELSE now() END,
            phase = $5, conditions = $6, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(a.state)
    .bind(a.reason)
    .bind(a.decided_by)
    .bind(a.phase)
    .bind(Json(a.conditions))
    .fetch_one(conn)
    .await
}

/// Binds a tenant's slice to the shared cluster that hosts it.
pub async fn bind_to_shared(
    conn: &mut PgConnection,
    id: ClusterId,
    host: ClusterId,
    prefix: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE clusters SET shared_host_id = $2, topic_prefix = $3 WHERE id = $1")
        .bind(id)
        .bind(host)
        .bind(prefix)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every approved shared cluster (one with brokers) that is Ready, oldest first.
pub async fn ready_shared_clusters(
    conn: &mut PgConnection,
) -> sqlx::Result<Vec<crate::service::slices::SharedCluster>> {
    let rows: Vec<(ClusterId, String, Json<ClusterSpec>)> = sqlx::query_as(
        "SELECT id, name, spec FROM clusters WHERE kind = 'shared' AND broker_count > 0
            AND approval_state = 'approved' AND phase = 'Ready' ORDER BY created_at",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, spec)| crate::service::slices::SharedCluster {
            id,
            name,
            spec: spec.0,
        })
        .collect())
}

/// Writes the observed status of a cluster.
pub async fn set_status(
    conn: &mut PgConnection,
    id: ClusterId,
    phase: &str,
    conditions: &[Condition],
    observed: Option<Generation>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE clusters SET phase = $2, conditions = $3, observed_generation = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(phase)
    .bind(Json(conditions))
    .bind(observed)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, id: ClusterId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM clusters WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
