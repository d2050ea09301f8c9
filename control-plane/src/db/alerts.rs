//! Alert rules, alerts and their webhook notifications; plus the queries the rules
//! evaluate (silent hosts, down or full brokers, broker certificates).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use tideway_api::{
    monitoring::{Alert, AlertState},
    ClusterId, HostId, TenantId,
};
use uuid::Uuid;

/// A stored rule setting: the platform default (no tenant) or a tenant's override.
#[derive(Clone, Debug, FromRow)]
pub struct RuleSetting {
    pub tenant_id: Option<TenantId>,
    pub rule: String,
    pub enabled: bool,
    pub threshold: f64,
}

pub async fn rule_settings(db: &PgPool) -> sqlx::Result<Vec<RuleSetting>> {
    sqlx::query_as("SELECT tenant_id, rule, enabled, threshold FROM alert_rules ORDER BY rule")
        .fetch_all(db)
        .await
}

pub async fn put_rule(db: &mut PgConnection, s: &RuleSetting) -> sqlx::Result<()> {
    let conflict = if s.tenant_id.is_some() {
        "(tenant_id, rule) WHERE tenant_id IS NOT NULL"
    } else {
        "(rule) WHERE tenant_id IS NULL"
    };
    sqlx::query(&format!(
        "INSERT INTO alert_rules (tenant_id, rule, enabled, threshold) VALUES ($1, $2, $3, $4)
         ON CONFLICT {conflict} DO UPDATE SET enabled = EXCLUDED.enabled,
            threshold = EXCLUDED.threshold, updated_at = now()"
    ))
    .bind(s.tenant_id)
    .bind(&s.rule)
    .bind(s.enabled)
    .bind(s.threshold)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_override(
    db: &mut PgConnection,
    tenant: TenantId,
    rule: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM alert_rules WHERE tenant_id = $1 AND rule = $2")
        .bind(tenant)
        .bind(rule)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Hosts not heard from for `silent_secs` (that were heard from once).
pub async fn silent_hosts(db: &PgPool, silent_secs: f64) -> sqlx::Result<Vec<(HostId, String)>> {
    sqlx::query_as(
        "SELECT id, name FROM hosts
         WHERE last_seen_at IS NOT NULL AND last_seen_at < now() - make_interval(secs => $1)",
    )
    .bind(silent_secs)
    .fetch_all(db)
    .await
}

/// Storage backends of online hosts filled above `percent`: (host, name, backend, %).
pub async fn full_host_volumes(
    db: &PgPool,
    percent: f64,
) -> sqlx::Result<Vec<(HostId, String, String, f64)>> {
    sqlx::query_as(
        "SELECT h.id, h.name, v->>'backend',
                100.0 * (1.0 - (v->>'free_bytes')::float8 / (v->>'total_bytes')::float8)
         FROM hosts h, jsonb_array_elements(h.storage) AS v
         WHERE (v->>'total_bytes')::float8 > 0
           AND 100.0 * (1.0 - (v->>'free_bytes')::float8 / (v->>'total_bytes')::float8) > $1",
    )
    .bind(percent)
    .fetch_all(db)
    .await
}

/// A broker named for an alert: (cluster, its tenant, cluster name, node id).
pub type BrokerRef = (ClusterId, TenantId, String, i32);

/// Brokers whose latest sample is unhealthy though they were healthy once, with the
/// seconds since their last healthy sample.
pub async fn down_brokers(db: &PgPool) -> sqlx::Result<Vec<(BrokerRef, f64)>> {
    let rows: Vec<(ClusterId, TenantId, String, i32, f64)> = sqlx::query_as(
        "SELECT b.cluster_id, c.tenant_id, c.name, b.node_id,
                EXTRACT(EPOCH FROM now() - last_healthy.at)::float8
         FROM brokers b JOIN clusters c ON c.id = b.cluster_id
         CROSS JOIN LATERAL (SELECT s.at FROM broker_samples s
                             WHERE s.cluster_id = b.cluster_id AND s.node_id = b.node_id AND s.healthy
                             ORDER BY s.at DESC LIMIT 1) last_healthy
         WHERE NOT COALESCE((SELECT s.healthy FROM broker_samples s
                             WHERE s.cluster_id = b.cluster_id AND s.node_id = b.node_id
                             ORDER BY s.at DESC LIMIT 1), true)",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(c, t, n, node, secs)| ((c, t, n, node), secs))
        .collect())
}

/// Brokers whose data takes more than `percent` of their volume: with the percentage.
pub async fn full_brokers(db: &PgPool, percent: f64) -> sqlx::Result<Vec<(BrokerRef, f64)>> {
    let rows: Vec<(ClusterId, TenantId, String, i32, f64)> = sqlx::query_as(
        "SELECT b.cluster_id, c.tenant_id, c.name, b.node_id,
                100.0 * s.disk_used_bytes::float8 / b.storage_bytes::float8
         FROM brokers b JOIN clusters c ON c.id = b.cluster_id
         JOIN broker_status s ON s.broker_id = b.id
         WHERE s.disk_used_bytes IS NOT NULL
           AND 100.0 * s.disk_used_bytes::float8 / b.storage_bytes::float8 > $1",
    )
    .bind(percent)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(c, t, n, node, pct)| ((c, t, n, node), pct))
        .collect())
}

/// Every broker certificate with its broker.
pub async fn broker_certificates(db: &PgPool) -> sqlx::Result<Vec<(BrokerRef, String)>> {
    let rows: Vec<(ClusterId, TenantId, String, i32, String)> = sqlx::query_as(
        "SELECT b.cluster_id, c.tenant_id, c.name, b.node_id, b.tls_cert_pem
         FROM brokers b JOIN clusters c ON c.id = b.cluster_id WHERE b.tls_cert_pem IS NOT NULL",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(c, t, n, node, pem)| ((c, t, n, node), pem))
        .collect())
}

#[derive(FromRow)]
struct AlertRow {
    id: Uuid,
    rule: String,
    subject: String,
    tenant_id: Option<TenantId>,
    cluster_id: Option<ClusterId>,
    severity: String,
    message: String,
    state: String,
    fired_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

impl From<AlertRow> for Alert {
    fn from(r: AlertRow) -> Self {
        Alert {
            id: r.id,
            rule: r.rule,
            subject: r.subject,
            tenant_id: r.tenant_id,
            cluster_id: r.cluster_id,
            severity: r.severity,
            message: r.message,
            state: if r.state == "firing" {
                AlertState::Firing
            } else {
                AlertState::Resolved
            },
            fired_at: r.fired_at,
            resolved_at: r.resolved_at,
        }
    }
}

const ALERT_COLUMNS: &str =
    "id, rule, subject, tenant_id, cluster_id, severity, message, state, fired_at, resolved_at";

pub async fn firing(db: &PgPool) -> sqlx::Result<Vec<Alert>> {
    let rows: Vec<AlertRow> = sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing'"
    ))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Alert::from).collect())
}

/// The newest alerts (firing first), of the given tenants or all when `None`.
pub async fn recent(
    db: &PgPool,
    tenants: Option<&[TenantId]>,
    limit: i64,
) -> sqlx::Result<Vec<Alert>> {
    let rows: Vec<AlertRow> = sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE $1::uuid[] IS NULL OR tenant_id = ANY($1)
         ORDER BY state = 'firing' DESC, fired_at DESC LIMIT $2"
    ))
    .bind(tenants.map(|t| t.iter().map(|t| t.0).collect::<Vec<Uuid>>()))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Alert::from).collect())
}

/// Stores a new firing alert (nothing when one is already firing for rule and subject).
pub async fn fire(db: &PgPool, a: &Alert) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO alerts (id, rule, subject, tenant_id, cluster_id, severity, message, state, fired_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'firing', $8) ON CONFLICT DO NOTHING",
    )
    .bind(a.id)
    .bind(&a.rule)
    .bind(&a.subject)
    .bind(a.tenant_id)
    .bind(a.cluster_id)
    .bind(&a.severity)
    .bind(&a.message)
    .bind(a.fired_at)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_message(db: &PgPool, id: Uuid, message: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE alerts SET message = $2 WHERE id = $1 AND message <> $2")
        .bind(id)
        .bind(message)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn resolve(db: &PgPool, id: Uuid, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE alerts SET state = 'resolved', resolved_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
}

/// A tenant's webhook: its URL and sealed secret, if it has one.
pub async fn tenant_webhook(
    db: &PgPool,
    tenant: TenantId,
) -> sqlx::Result<Option<(String, Option<Vec<u8>>)>> {
    sqlx::query_as("SELECT url, secret_sealed FROM tenant_alert_webhooks WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(db)
        .await
}

pub async fn put_tenant_webhook(
    conn: &mut PgConnection,
    tenant: TenantId,
    url: &str,
    secret_sealed: Option<&[u8]>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO tenant_alert_webhooks (tenant_id, url, secret_sealed) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET url = EXCLUDED.url,
            secret_sealed = EXCLUDED.secret_sealed, updated_at = now()",
    )
    .bind(tenant)
    .bind(url)
    .bind(secret_sealed)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_tenant_webhook(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM tenant_alert_webhooks WHERE tenant_id = $1")
        .bind(tenant)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A webhook delivery waiting to be sent: to the platform's webhook, or to a tenant's.
#[derive(Clone, Debug, FromRow)]
pub struct Notification {
    pub id: i64,
    pub tenant_id: Option<TenantId>,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

pub async fn enqueue(
    db: &PgPool,
    alert: Uuid,
    tenant: Option<TenantId>,
    payload: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO alert_notifications (alert_id, tenant_id, payload) VALUES ($1, $2, $3)",
    )
    .bind(alert)
    .bind(tenant)
    .bind(payload)
    .execute(db)
    .await?;
    Ok(())
}

/// Notifications due now, oldest first.
pub async fn due(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as(
        "SELECT id, tenant_id, payload, attempts FROM alert_notifications
         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
         ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn delivered(db: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE alert_notifications SET delivered_at = now(), attempts = attempts + 1 WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt: tried again after `retry_in`, or given up when `None`.
pub async fn attempt_failed(
    db: &PgPool,
    id: i64,
    error: &str,
    retry_in: Option<std::time::Duration>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE alert_notifications SET attempts = attempts + 1, last_error = $2,
            next_attempt_at = now() + make_interval(secs => COALESCE($3, 0)),
            failed_at = CASE WHEN $3 IS NULL THEN now() END
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(db)
    .await?;
    Ok(())
}
