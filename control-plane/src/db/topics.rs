//! Topics managed through the control plane.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{types::Json, FromRow, PgConnection, PgPool};
use tideway_api::{topics::Topic, ClusterId, TenantId};

#[derive(FromRow)]
struct TopicRow {
    cluster_id: ClusterId,
    name: String,
    partitions: i32,
    replication_factor: i32,
    configs: Json<BTreeMap<String, String>>,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<TopicRow> for Topic {
    fn from(r: TopicRow) -> Self {
        Topic {
            cluster_id: r.cluster_id,
            name: r.name,
            partitions: r.partitions,
            replication_factor: r.replication_factor,
            configs: r.configs.0,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str =
    "cluster_id, name, partitions, replication_factor, configs, created_by, created_at";

pub async fn insert(conn: &mut PgConnection, t: &Topic) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO topics (id, cluster_id, name, partitions, replication_factor, configs, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(t.cluster_id)
    .bind(&t.name)
    .bind(t.partitions)
    .bind(t.replication_factor)
    .bind(Json(&t.configs))
    .bind(&t.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list(db: &PgPool, cluster: ClusterId) -> sqlx::Result<Vec<Topic>> {
    let rows: Vec<TopicRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM topics WHERE cluster_id = $1 ORDER BY name"
    ))
    .bind(cluster)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Topic::from).collect())
}

pub async fn lock(
    conn: &mut PgConnection,
    cluster: ClusterId,
    name: &str,
) -> sqlx::Result<Option<Topic>> {
    let row: Option<TopicRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM topics WHERE cluster_id = $1 AND name = $2 FOR UPDATE"
    ))
    .bind(cluster)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Topic::from))
}

pub async fn set_configs(
    conn: &mut PgConnection,
    cluster: ClusterId,
    name: &str,
    configs: &BTreeMap<String, String>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE topics SET configs = $3 WHERE cluster_id = $1 AND name = $2")
        .bind(cluster)
        .bind(name)
        .bind(Json(configs))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, cluster: ClusterId, name: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM topics WHERE cluster_id = $1 AND name = $2")
        .bind(cluster)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Partitions of every topic on the tenant's clusters.
pub async fn partitions_of<'e>(
    db: impl sqlx::PgExecutor<'e>,
    tenant: TenantId,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(t.partitions), 0)::bigint FROM topics t JOIN clusters c ON c.id = t.cluster_id
         WHERE c.tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(db)
    .await
}
