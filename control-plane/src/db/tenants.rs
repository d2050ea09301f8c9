//! Tenants, memberships and quotas.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use tideway_api::{
    tenants::{Member, Membership, Quota, QuotaUsage, Tenant},
    Role, TenantId, UserId,
};

#[derive(Clone, Debug, FromRow)]
pub struct TenantRow {
    pub id: TenantId,
    pub name: String,
    pub display_name: String,
    pub auto_approve: bool,
    pub created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            auto_approve: r.auto_approve,
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str = "id, name, display_name, auto_approve, created_at";

pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    display_name: &str,
    auto_approve: bool,
    quota: &Quota,
) -> sqlx::Result<TenantRow> {
    let row: TenantRow = sqlx::query_as(&format!(
        "INSERT INTO tenants (id, name, display_name, auto_approve) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    ))
    .bind(TenantId::new())
    .bind(name)
    .bind(display_name)
    .bind(auto_approve)
    .fetch_one(&mut *conn)
    .await?;
    put_quota(conn, row.id, quota).await?;
    Ok(row)
}

pub async fn get<'e>(
    db: impl sqlx::PgExecutor<'e>,
    id: TenantId,
) -> sqlx::Result<Option<TenantRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn by_name(conn: &mut PgConnection, name: &str) -> sqlx::Result<Option<TenantRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE name = $1"))
        .bind(name)
        .fetch_optional(conn)
        .await
}

/// Tenants by name; `visible` limits the list to those ids (`None`: all).
pub async fn list(db: &PgPool, visible: Option<&[TenantId]>) -> sqlx::Result<Vec<TenantRow>> {
    let ids: Option<Vec<uuid::Uuid>> = visible.map(|v| v.iter().map(|t| t.0).collect());
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE ($1::uuid[] IS NULL OR id = ANY($1)) ORDER BY name"
    ))
    .bind(ids)
    .fetch_all(db)
    .await
}

pub async fn update(
    conn: &mut PgConnection,
    id: TenantId,
    display_name: &str,
    auto_approve: bool,
) -> sqlx::Result<TenantRow> {
    sqlx::query_as(&format!(
        "UPDATE tenants SET display_name = $2, auto_approve = $3 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(display_name)
    .bind(auto_approve)
    .fetch_one(conn)
    .await
}

pub async fn roles_of(db: &PgPool, user: UserId) -> sqlx::Result<HashMap<TenantId, Role>> {
    let rows: Vec<(TenantId, Role)> =
        sqlx::query_as("SELECT tenant_id, role FROM memberships WHERE user_id = $1")
            .bind(user)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The tenants the user holds `roles` in, with their names.
pub async fn memberships_of(
    db: &PgPool,
    roles: &HashMap<TenantId, Role>,
) -> sqlx::Result<Vec<Membership>> {
    let ids: Vec<TenantId> = roles.keys().copied().collect();
    let tenants = list(db, Some(&ids)).await?;
    Ok(tenants
        .into_iter()
        .filter_map(|t| {
            roles.get(&t.id).map(|role| Membership {
                tenant_id: t.id,
                tenant_name: t.name,
                role: *role,
            })
        })
        .collect())
}

#[derive(FromRow)]
struct MemberRow {
    user_id: UserId,
    username: String,
    display_name: String,
    role: Role,
    from_directory: bool,
}

pub async fn members(db: &PgPool, tenant: TenantId) -> sqlx::Result<Vec<Member>> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT m.user_id, u.username, u.display_name, m.role, m.from_directory
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.tenant_id = $1 ORDER BY u.username",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Member {
            user_id: r.user_id,
            username: r.username,
            display_name: r.display_name,
            role: r.role,
            from_directory: r.from_directory,
        })
        .collect())
}

/// The membership of `user` in `tenant`, if any.
pub async fn member_role(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
) -> sqlx::Result<Option<Role>> {
    sqlx::query_scalar("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .fetch_optional(conn)
        .await
}

pub async fn put_member(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    role: Role,
    from_directory: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO memberships (user_id, tenant_id, role, from_directory) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = EXCLUDED.role,
            from_directory = EXCLUDED.from_directory",
    )
    .bind(user)
    .bind(tenant)
    .bind(role)
    .bind(from_directory)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_member(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Drops the directory-granted memberships of `user` (before writing the current ones).
pub async fn clear_directory_memberships(
    conn: &mut PgConnection,
    user: UserId,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND from_directory")
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(FromRow)]
struct QuotaRow {
    max_clusters: i64,
    max_brokers: i64,
    max_storage_bytes: i64,
    max_partitions: i64,
    max_produce_bytes_per_sec: i64,
    max_consume_bytes_per_sec: i64,
}

impl From<QuotaRow> for Quota {
    fn from(r: QuotaRow) -> Self {
        Quota {
            max_clusters: r.max_clusters,
            max_brokers: r.max_brokers,
            max_storage_bytes: r.max_storage_bytes,
            max_partitions: r.max_partitions,
            max_produce_bytes_per_sec: r.max_produce_bytes_per_sec,
            max_consume_bytes_per_sec: r.max_consume_bytes_per_sec,
        }
    }
}

const QUOTA_COLUMNS: &str = "max_clusters, max_brokers, max_storage_bytes, max_partitions,
    max_produce_bytes_per_sec, max_consume_bytes_per_sec";

/// The tenant's quota, locking its row until the transaction ends so that quota checks of
/// concurrent transactions run one after the other.
pub async fn lock_quota(conn: &mut PgConnection, tenant: TenantId) -> sqlx::Result<Quota> {
    let row: QuotaRow = sqlx::query_as(&format!(
        "SELECT {QUOTA_COLUMNS} FROM tenant_quotas WHERE tenant_id = $1 FOR UPDATE"
    ))
    .bind(tenant)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

pub async fn quota(db: &PgPool, tenant: TenantId) -> sqlx::Result<Quota> {
    let row: QuotaRow = sqlx::query_as(&format!(
        "SELECT {QUOTA_COLUMNS} FROM tenant_quotas WHERE tenant_id = $1"
    ))
    .bind(tenant)
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

pub async fn put_quota(conn: &mut PgConnection, tenant: TenantId, q: &Quota) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO tenant_quotas (tenant_id, {QUOTA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id) DO UPDATE SET max_clusters = $2, max_brokers = $3,
            max_storage_bytes = $4, max_partitions = $5, max_produce_bytes_per_sec = $6,
            max_consume_bytes_per_sec = $7, updated_at = now()"
    ))
    .bind(tenant)
    .bind(q.max_clusters)
    .bind(q.max_brokers)
    .bind(q.max_storage_bytes)
    .bind(q.max_partitions)
    .bind(q.max_produce_bytes_per_sec)
    .bind(q.max_consume_bytes_per_sec)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the tenant's approved clusters hold, and the partitions of its topics.
pub async fn usage(conn: &mut PgConnection, tenant: TenantId) -> sqlx::Result<QuotaUsage> {
    let (clusters, brokers, storage_bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(broker_count), 0)::bigint,
                coalesce(sum(storage_bytes), 0)::bigint
         FROM clusters WHERE tenant_id = $1 AND approval_state = 'approved'",
    )
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await?;
    let partitions = super::topics::partitions_of(conn, tenant).await?;
    Ok(QuotaUsage {
        clusters,
        brokers,
        storage_bytes,
        partitions,
    })
}
