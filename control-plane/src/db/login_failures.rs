//! Failed logins per key (`user:NAME`, `addr:IP`), shared by every replica.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The latest time any of `keys` is locked until, if one is locked now.
pub async fn locked_until(db: &PgPool, keys: &[String]) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "SELECT max(locked_until) FROM login_failures WHERE key = ANY($1) AND locked_until > now()",
    )
    .bind(keys)
    .fetch_one(db)
    .await
}

/// Counts a failure of `key` (starting again after `forget_after_secs` without one) and
/// returns the new count.
pub async fn record_failure(db: &PgPool, key: &str, forget_after_secs: i64) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO login_failures (key, failures, last_failure_at) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN login_failures.last_failure_at < now() - make_interval(secs => $2)
                            THEN 1 ELSE login_failures.failures + 1 END,
            last_failure_at = now()
         RETURNING failures",
    )
    .bind(key)
    .bind(forget_after_secs as f64)
    .fetch_one(db)
    .await
}

/// Locks `key` for `secs` seconds from now.
pub async fn lock(db: &PgPool, key: &str, secs: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE login_failures SET locked_until = now() + make_interval(secs => $2) WHERE key = $1",
    )
    .bind(key)
    .bind(secs as f64)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets the failures of `key` (after a successful login).
pub async fn clear(db: &PgPool, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
