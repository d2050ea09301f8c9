//! The audit log: written in the same transaction as the change it records.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use tideway_api::{audit::AuditEntry, AuditId, TenantId};

/// A change to record.
pub struct NewEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub tenant_id: Option<TenantId>,
    pub target_type: &'a str,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<&'a str>,
}

pub async fn record(conn: &mut PgConnection, e: NewEntry<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor, action, tenant_id, target_type, target_id, before, after, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.actor)
    .bind(e.action)
    .bind(e.tenant_id)
    .bind(e.target_type)
    .bind(e.target_id)
    .bind(e.before)
    .bind(e.after)
    .bind(e.request_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct AuditRow {
    id: AuditId,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    tenant_id: Option<TenantId>,
    target_type: String,
    target_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
}

/// What to list.
pub struct AuditQuery<'a> {
    /// `None`: every tenant and the platform entries.
    pub tenants: Option<&'a [TenantId]>,
    pub action: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub limit: i64,
    pub offset: i64,
}

/// Entries newest first, and the total that match.
pub async fn list(db: &PgPool, q: AuditQuery<'_>) -> sqlx::Result<(Vec<AuditEntry>, i64)> {
    let ids: Option<Vec<uuid::Uuid>> = q.tenants.map(|v| v.iter().map(|t| t.0).collect());
    const WHERE: &str = "($1::uuid[] IS NULL OR tenant_id = ANY($1))
        AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR target_id = $3)";
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT id, at, actor, action, tenant_id, target_type, target_id, before, after, request_id
         FROM audit_log WHERE {WHERE} ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(&ids)
    .bind(q.action)
    .bind(q.target_id)
    .bind(q.limit)
    .bind(q.offset)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM audit_log WHERE {WHERE}"))
        .bind(&ids)
        .bind(q.action)
        .bind(q.target_id)
        .fetch_one(db)
        .await?;
    let items = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            tenant_id: r.tenant_id,
            target_type: r.target_type,
            target_id: r.target_id,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
        })
        .collect();
    Ok((items, total))
}
