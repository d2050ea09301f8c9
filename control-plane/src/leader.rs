//! One active instance of a background loop among the control-plane replicas: the loop
//! runs while its replica holds a Postgres advisory lock on a connection of its own, and
//! the other replicas try again every interval.

use std::{future::Future, time::Duration};

use sqlx::{pool::PoolConnection, PgPool, Postgres};

/// The connection holding advisory lock `key`, or `None` when another replica holds it.
pub async fn try_lock(db: &PgPool, key: i64) -> sqlx::Result<Option<PoolConnection<Postgres>>> {
    let mut conn = db.acquire().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(got.then_some(conn))
}

/// Runs `lead` for the life of the process, again after `interval` whenever it returns
/// (it returns at once when another replica leads, and with an error when the database
/// is lost).
pub fn spawn_forever<F, Fut>(what: &'static str, interval: Duration, lead: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        loop {
            if let Err(e) = lead().await {
                tracing::warn!(error = %e, "{what} lost the database; retrying");
            }
            tokio::time::sleep(interval).await;
        }
    });
}
