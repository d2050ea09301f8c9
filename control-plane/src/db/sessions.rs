//! Login sessions: a row per issued session JWT, so logout revokes at once.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tideway_api::UserId;
use uuid::Uuid;

use super::users::UserRow;

pub async fn insert(
    db: &PgPool,
    id: Uuid,
    user: UserId,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(user)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// The user of a session that is neither revoked nor expired.
pub async fn live_user(db: &PgPool, id: Uuid) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.email, u.source, u.password_hash,
                u.platform_admin, u.created_at
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn revoke(db: &PgPool, id: Uuid) -> Result<(), crate::error::ApiError> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
