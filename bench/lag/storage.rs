//! The database half of `bench/lag`: what the monitoring samples of a fleet take in
//! PostgreSQL per day at the default 1-minute resolution. One hour of samples for the
//! fleet below goes into a scratch database with the real schema (migrations, indexes);
//! the on-disk size (tables, indexes, TOAST) is scaled to a day and to the default 14-day
//! retention, beside the bare tuple payload as the baseline.

use sqlx::{Connection, PgConnection};

pub const CLUSTERS: i64 = 100;
pub const BROKERS_PER_CLUSTER: i64 = 3;
pub const TOPICS_PER_CLUSTER: i64 = 20;
pub const GROUPS_PER_CLUSTER: i64 = 10;
/// Partitions each group consumes (two topics of six partitions).
pub const PARTITIONS_PER_GROUP: i64 = 12;
pub const HOSTS: i64 = 100;
/// Sampling passes measured (an hour at the default interval).
const TICKS: i64 = 60;

/// On-disk bytes and tuple payload bytes of one table after an hour.
pub struct TableSize {
    pub table: &'static str,
    /// Partitions (lag) or topics (topic samples) the rows hold, else rows.
    pub rows: i64,
    pub on_disk: i64,
    pub payload: i64,
}

const TABLES: [&str; 4] = [
    "broker_samples",
    "topic_samples",
    "lag_samples",
    "host_samples",
];

/// Fills a scratch database with an hour of the fleet's samples and measures it.
pub async fn measure() -> anyhow::Result<Vec<TableSize>> {
    let db = e2e::Database::create().await?;
    let pool = sqlx::PgPool::connect(&db.url).await?;
    control_plane::db::MIGRATOR.run(&pool).await?;
    let mut conn = pool.acquire().await?;
    let ticks =
        "generate_series(now() - make_interval(mins => $1::int - 1), now(), interval '1 minute')";
    let partitions = format!("generate_series(0, {PARTITIONS_PER_GROUP} - 1)");
    let statements = [
        "INSERT INTO tenants (id, name, display_name) VALUES (gen_random_uuid(), 'bench', 'bench')".to_owned(),
        format!(
            "INSERT INTO clusters (id, tenant_id, name, kind, spec, broker_count, storage_bytes, approval_state, phase, requested_by)
             SELECT gen_random_uuid(), (SELECT id FROM tenants), 'cluster-' || i, 'dedicated', '{{}}', {BROKERS_PER_CLUSTER}, 1, 'approved', 'Ready', 'bench'
             FROM generate_series(1, {CLUSTERS}) i"
        ),
        format!(
            "INSERT INTO hosts (id, name, address, hardware_profile)
             SELECT gen_random_uuid(), 'host-' || i, '10.0.0.' || i, 'physical' FROM generate_series(1, {HOSTS}) i"
        ),
        format!(
            "INSERT INTO broker_samples SELECT c.id, n, t, true, 1000000 * n, 2000000 * n, 5000000000
             FROM clusters c, generate_series(1, {BROKERS_PER_CLUSTER}) n, {ticks} t"
        ),
        format!(
            "INSERT INTO topic_samples SELECT c.id, t,
                    ARRAY(SELECT 'orders.events-' || k FROM generate_series(1, {TOPICS_PER_CLUSTER}) k),
                    ARRAY(SELECT 123456789::bigint FROM generate_series(1, {TOPICS_PER_CLUSTER}) k)
             FROM clusters c, {ticks} t"
        ),
        format!(
            "INSERT INTO lag_samples SELECT c.id, 'billing-service-' || g, t,
                    ARRAY(SELECT 'orders.events-' || (g % {TOPICS_PER_CLUSTER} + p / 6) FROM {partitions} p),
                    ARRAY(SELECT p % 6 FROM {partitions} p),
                    ARRAY(SELECT 123456000::bigint + p FROM {partitions} p),
                    ARRAY(SELECT t - interval '20 seconds' FROM {partitions} p),
                    ARRAY(SELECT 123456789::bigint + p FROM {partitions} p),
                    ARRAY(SELECT t - interval '3 seconds' FROM {partitions} p)
             FROM clusters c, generate_series(1, {GROUPS_PER_CLUSTER}) g, {ticks} t"
        ),
        format!(
            "INSERT INTO host_samples SELECT h.id, t, 42.5, 8000000000, 16000000000,
                    '[{{\"backend\": \"local-ssd\", \"total_bytes\": 4000000000000, \"free_bytes\": 1000000000000}}]'
             FROM hosts h, {ticks} t"
        ),
    ];
    for sql in &statements {
        sqlx::query(sql)
            .bind(TICKS as i32)
            .execute(&mut *conn)
            .await?;
    }
    let mut admin = PgConnection::connect(&db.url).await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut admin).await?;
    let mut sizes = Vec::new();
    for table in TABLES {
        let count = match table {
            "lag_samples" => "sum(cardinality(partitions))::bigint",
            "topic_samples" => "sum(cardinality(topics))::bigint",
            _ => "count(*)",
        };
        let (rows, on_disk, payload): (Option<i64>, i64, Option<i64>) = sqlx::query_as(&format!(
            "SELECT {count}, pg_total_relation_size('{table}'), sum(pg_column_size(t.*))::bigint FROM {table} t"
        ))
        .fetch_one(&mut *conn)
        .await?;
        sizes.push(TableSize {
            table,
            rows: rows.unwrap_or(0),
            on_disk,
            payload: payload.unwrap_or(0),
        });
    }
    drop(conn);
    pool.close().await;
    Ok(sizes)
}

/// Scales an hour to a day.
pub fn per_day(bytes: i64) -> i64 {
    bytes * 24 * 60 / TICKS
}
