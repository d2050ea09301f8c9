//! SQL lives here and only here: one module per resource, `*Row` structs, functions that
//! take a pool or a connection inside a service's transaction.

pub mod agents;
pub mod alerts;
pub mod audit;
pub mod brokers;
pub mod clusters;
pub mod hosts;
pub mod login_failures;
pub mod samples;
pub mod security;
pub mod sessions;
pub mod tenants;
pub mod tokens;
pub mod topics;
pub mod users;

use std::time::Duration;

use sqlx::{postgres::PgPoolOptions, PgPool};

/// The migrations compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects to Postgres and brings the schema up to date.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("failed to connect to the database: {e}"))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("failed to run migrations: {e}"))?;
    Ok(pool)
}
