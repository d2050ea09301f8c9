//! Monitoring samples: brokers (from agents' reports), topics' end offsets and consumer
//! groups' positions, written once per sampling tick and pruned after the retention.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use tideway_api::ClusterId;

/// Copies every broker's latest report into `broker_samples` (a report older than
/// `fresh_secs` counts as unhealthy).
pub async fn record_brokers(db: &PgPool, at: DateTime<Utc>, fresh_secs: i64) -> sqlx::Result<u64> {
    copy_at(
        db,
        "INSERT INTO broker_samples (cluster_id, node_id, at, healthy, bytes_in, bytes_out, disk_used_bytes)
         SELECT b.cluster_id, b.node_id, $1,
                COALESCE(s.running AND s.answering AND s.reported_at > $1 - make_interval(secs => $2), false),
                s.bytes_in, s.bytes_out, s.disk_used_bytes
         FROM brokers b LEFT JOIN broker_status s ON s.broker_id = b.id
         ON CONFLICT DO NOTHING",
        at,
        fresh_secs,
    )
    .await
}

/// Copies every host's latest heartbeat metrics and storage into `host_samples` (hosts
/// silent for longer than `fresh_secs` are left out).
pub async fn record_hosts(db: &PgPool, at: DateTime<Utc>, fresh_secs: i64) -> sqlx::Result<u64> {
    copy_at(
        db,
        "INSERT INTO host_samples (host_id, at, cpu_percent, memory_used_bytes, memory_total_bytes, volumes)
         SELECT id, $1, (metrics->>'cpu_percent')::real, (metrics->>'memory_used_bytes')::bigint,
                (metrics->>'memory_total_bytes')::bigint, storage
         FROM hosts
         WHERE metrics IS NOT NULL AND last_seen_at > $1 - make_interval(secs => $2)
         ON CONFLICT DO NOTHING",
        at,
        fresh_secs,
    )
    .await
}

/// Runs an `INSERT … SELECT` copying current state as of `at` ($1), with reports older
/// than `fresh_secs` ($2) treated as stale; returns the rows written.
async fn copy_at(db: &PgPool, sql: &str, at: DateTime<Utc>, fresh_secs: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(sql)
        .bind(at)
        .bind(fresh_secs as f64)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Messages ever written to each topic (the sum of its partitions' end offsets).
pub async fn record_topics(
    db: &PgPool,
    cluster: ClusterId,
    at: DateTime<Utc>,
    topics: &[(String, i64)],
) -> sqlx::Result<()> {
    let (names, ends): (Vec<&str>, Vec<i64>) = topics.iter().map(|(t, e)| (t.as_str(), *e)).unzip();
    sqlx::query(
        "INSERT INTO topic_samples (cluster_id, at, topics, end_offsets) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(cluster)
    .bind(at)
    .bind(names)
    .bind(ends)
    .execute(db)
    .await?;
    Ok(())
}

/// One group's position in one partition at one time.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct LagSample {
    pub group_id: String,
    pub topic: String,
    pub partition: i32,
    pub at: DateTime<Utc>,
    pub committed: i64,
    pub committed_at: DateTime<Utc>,
    pub end_offset: i64,
    pub next_record_at: Option<DateTime<Utc>>,
}

/// Stores one pass's positions: a row per group, its partitions in parallel arrays.
pub async fn record_lag(
    db: &PgPool,
    cluster: ClusterId,
    samples: &[LagSample],
) -> sqlx::Result<()> {
    let mut by_group: std::collections::BTreeMap<(&str, DateTime<Utc>), Vec<&LagSample>> =
        std::collections::BTreeMap::new();
    for s in samples {
        by_group.entry((&s.group_id, s.at)).or_default().push(s);
    }
    if by_group.is_empty() {
        return Ok(());
    }
    let mut insert = sqlx::QueryBuilder::new(
        "INSERT INTO lag_samples (cluster_id, group_id, at, topics, partitions, committed, committed_at,
                                  end_offsets, next_record_at) ",
    );
    insert.push_values(by_group, |mut row, ((group, at), parts)| {
        row.push_bind(cluster)
            .push_bind(group.to_owned())
            .push_bind(at)
            .push_bind(parts.iter().map(|p| p.topic.clone()).collect::<Vec<_>>())
            .push_bind(parts.iter().map(|p| p.partition).collect::<Vec<_>>())
            .push_bind(parts.iter().map(|p| p.committed).collect::<Vec<_>>())
            .push_bind(parts.iter().map(|p| p.committed_at).collect::<Vec<_>>())
            .push_bind(parts.iter().map(|p| p.end_offset).collect::<Vec<_>>())
            .push_bind(parts.iter().map(|p| p.next_record_at).collect::<Vec<_>>());
    });
    insert.push(" ON CONFLICT DO NOTHING");
    insert.build().execute(db).await?;
    Ok(())
}

/// The partitions of `lag_samples` rows as `LagSample`s.
const UNNESTED: &str = "SELECT s.group_id, x.topic, x.partition, s.at, x.committed, x.committed_at,
                               x.end_offset, x.next_record_at
        FROM lag_samples s,
             unnest(s.topics, s.partitions, s.committed, s.committed_at, s.end_offsets, s.next_record_at)
               AS x(topic, partition, committed, committed_at, end_offset, next_record_at)";

/// The latest sample of every group partition on `cluster` (to carry commit times over).
pub async fn latest_lag(db: &PgPool, cluster: ClusterId) -> sqlx::Result<Vec<LagSample>> {
    sqlx::query_as(&format!(
        "{UNNESTED}
         WHERE s.cluster_id = $1
           AND (s.group_id, s.at) IN (SELECT group_id, max(at) FROM lag_samples
                                      WHERE cluster_id = $1 AND at > now() - interval '1 day'
                                      GROUP BY group_id)"
    ))
    .bind(cluster)
    .fetch_all(db)
    .await
}

/// Samples of `cluster`'s groups since `since` whose name starts with `prefix`, ordered
/// by group, topic, partition and time.
pub async fn lag_since(
    db: &PgPool,
    cluster: ClusterId,
    prefix: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<LagSample>> {
    sqlx::query_as(&format!(
        "{UNNESTED}
         WHERE s.cluster_id = $1 AND s.at >= $2 AND starts_with(s.group_id, $3)
         ORDER BY s.group_id, x.topic, x.partition, s.at"
    ))
    .bind(cluster)
    .bind(since)
    .bind(prefix)
    .fetch_all(db)
    .await
}

/// A group's total lag at each sample since `since`.
pub async fn group_lag_series(
    db: &PgPool,
    cluster: ClusterId,
    prefix: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, DateTime<Utc>, i64)>> {
    sqlx::query_as(
        "SELECT group_id, at,
                (SELECT COALESCE(SUM(GREATEST(e - c, 0)), 0) FROM unnest(end_offsets, committed) AS y(e, c))::bigint
         FROM lag_samples
         WHERE cluster_id = $1 AND at >= $2 AND starts_with(group_id, $3)
         ORDER BY group_id, at",
    )
    .bind(cluster)
    .bind(since)
    .bind(prefix)
    .fetch_all(db)
    .await
}

/// A cluster's brokers summed per sample: (at, bytes in, bytes out, disk used, brokers
/// healthy, brokers).
pub type BrokerTotals = (DateTime<Utc>, i64, i64, i64, i64, i64);

pub async fn broker_totals(
    db: &PgPool,
    cluster: ClusterId,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<BrokerTotals>> {
    sqlx::query_as(
        "SELECT at, COALESCE(SUM(bytes_in), 0)::bigint, COALESCE(SUM(bytes_out), 0)::bigint,
                COALESCE(SUM(disk_used_bytes), 0)::bigint, COUNT(*) FILTER (WHERE healthy), COUNT(*)
         FROM broker_samples WHERE cluster_id = $1 AND at >= $2
         GROUP BY at ORDER BY at",
    )
    .bind(cluster)
    .bind(since)
    .fetch_all(db)
    .await
}

/// Topics starting with `prefix` on `cluster`: (topic, at, messages ever written).
pub async fn topic_series(
    db: &PgPool,
    cluster: ClusterId,
    prefix: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, DateTime<Utc>, i64)>> {
    sqlx::query_as(
        "SELECT x.topic, s.at, x.end_offsets
         FROM topic_samples s, unnest(s.topics, s.end_offsets) AS x(topic, end_offsets)
         WHERE s.cluster_id = $1 AND s.at >= $2 AND starts_with(x.topic, $3)
         ORDER BY x.topic, s.at",
    )
    .bind(cluster)
    .bind(since)
    .bind(prefix)
    .fetch_all(db)
    .await
}

/// Deletes samples older than `before`; returns how many rows went.
pub async fn prune(db: &PgPool, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut gone = 0;
    for table in [
        "broker_samples",
        "topic_samples",
        "lag_samples",
        "host_samples",
    ] {
        gone += sqlx::query(&format!("DELETE FROM {table} WHERE at < $1"))
            .bind(before)
            .execute(db)
            .await?
            .rows_affected();
    }
    Ok(gone)
}

/// Approved clusters per phase.
pub async fn clusters_by_phase(db: &PgPool) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT phase, count(*) FROM clusters WHERE approval_state = 'approved'
         GROUP BY phase ORDER BY phase",
    )
    .fetch_all(db)
    .await
}

/// Bytes the brokers on each host store, as last reported.
pub async fn disk_used_per_host(
    db: &PgPool,
) -> sqlx::Result<std::collections::HashMap<tideway_api::HostId, i64>> {
    let rows: Vec<(tideway_api::HostId, i64)> = sqlx::query_as(
        "SELECT b.host_id, COALESCE(SUM(s.disk_used_bytes), 0)::bigint
         FROM brokers b JOIN broker_status s ON s.broker_id = b.id GROUP BY b.host_id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// A tenant's recent throughput and what its brokers store.
#[derive(Clone, Debug, FromRow)]
pub struct TenantActivity {
    pub name: String,
    /// Bytes produced per second over the last 10 minutes.
    pub bytes_in_per_sec: f64,
    pub stored_bytes: i64,
}

/// The busiest tenants: by produce rate over the last 10 minutes, then by storage.
pub async fn top_tenants(db: &PgPool, limit: i64) -> sqlx::Result<Vec<TenantActivity>> {
    sqlx::query_as(
        "WITH rate AS (
            SELECT cluster_id,
                   GREATEST(MAX(bytes_in) - MIN(bytes_in), 0)::float8
                     / GREATEST(EXTRACT(EPOCH FROM MAX(at) - MIN(at)), 1)::float8 AS bytes_in_per_sec
            FROM broker_samples WHERE at > now() - interval '10 minutes'
            GROUP BY cluster_id, node_id),
         stored AS (
            SELECT b.cluster_id, SUM(s.disk_used_bytes) AS bytes
            FROM brokers b JOIN broker_status s ON s.broker_id = b.id GROUP BY b.cluster_id)
         SELECT t.name,
                COALESCE((SELECT SUM(r.bytes_in_per_sec) FROM rate r JOIN clusters c ON c.id = r.cluster_id
                          WHERE c.tenant_id = t.id), 0)::float8 AS bytes_in_per_sec,
                COALESCE((SELECT SUM(s.bytes) FROM stored s JOIN clusters c ON c.id = s.cluster_id
                          WHERE c.tenant_id = t.id), 0)::bigint AS stored_bytes
         FROM tenants t ORDER BY 2 DESC, 3 DESC, t.name LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}
