//! API token rows: the token's id is its JWT's `jti`; no secret is stored.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use tideway_api::{tokens::ApiToken, Role, TenantId, TokenId};

#[derive(Clone, Debug, FromRow)]
pub struct TokenRow {
    pub id: TokenId,
    pub name: String,
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            name: r.name,
            tenant_id: r.tenant_id,
            role: r.role,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

const COLUMNS: &str =
    "id, name, tenant_id, role, created_by, created_at, expires_at, revoked_at, last_used_at";

pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    tenant: Option<TenantId>,
    role: Role,
    created_by: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!(
        "INSERT INTO api_tokens (id, name, tenant_id, role, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(TokenId::new())
    .bind(name)
    .bind(tenant)
    .bind(role)
    .bind(created_by)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

/// A token that is neither revoked nor expired.
pub async fn get_live(db: &PgPool, id: TokenId) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn get(conn: &mut PgConnection, id: TokenId) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Records a use, at most once a minute per token to keep writes off the hot path.
pub async fn touch(db: &PgPool, id: TokenId) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Tokens newest first; `visible` limits them to those tenants (`None`: all, including
/// platform tokens).
pub async fn list(db: &PgPool, visible: Option<&[TenantId]>) -> sqlx::Result<Vec<TokenRow>> {
    let ids: Option<Vec<uuid::Uuid>> = visible.map(|v| v.iter().map(|t| t.0).collect());
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE ($1::uuid[] IS NULL OR tenant_id = ANY($1))
         ORDER BY created_at DESC"
    ))
    .bind(ids)
    .fetch_all(db)
    .await
}

pub async fn revoke(conn: &mut PgConnection, id: TokenId) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}
