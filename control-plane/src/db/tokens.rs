//! API token rows: the token's id is its JWT's `jti`; no secret is stored.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use tideway_api::{tokens::ApiToken, Role, TenantId, TokenId, UserId};

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

/// A new token's row.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub tenant: Option<TenantId>,
    pub role: Role,
    pub created_by: &'a str,
    /// The user whose authority backs the token.
    pub creator: Option<UserId>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, t: &NewToken<'_>) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!(
        "INSERT INTO api_tokens (id, name, tenant_id, role, created_by, expires_at, creator_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(TokenId::new())
    .bind(t.name)
    .bind(t.tenant)
    .bind(t.role)
    .bind(t.created_by)
    .bind(t.expires_at)
    .bind(t.creator)
    .fetch_one(conn)
    .await
}

/// A token that is neither revoked nor expired.
/// What the user behind a token holds today.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreatorStanding {
    /// The token has a creating user at all (tokens made before creators were recorded,
    /// by anyone but a user, have none).
    pub known: bool,
    pub platform_admin: bool,
    /// The creator's role in the token's tenant.
    pub tenant_role: Option<Role>,
}

/// A live token (not revoked, not expired) with its creator's standing.
pub async fn get_live(
    db: &PgPool,
    id: TokenId,
) -> sqlx::Result<Option<(TokenRow, CreatorStanding)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        token: TokenRow,
        creator_known: bool,
        creator_platform_admin: Option<bool>,
        creator_role: Option<Role>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT t.id, t.name, t.tenant_id, t.role, t.created_by, t.created_at, t.expires_at,
                t.revoked_at, t.last_used_at, u.id IS NOT NULL AS creator_known,
                u.platform_admin AS creator_platform_admin, m.role AS creator_role
         FROM api_tokens t
         LEFT JOIN users u ON u.id = t.creator_user_id
         LEFT JOIN memberships m ON m.user_id = t.creator_user_id AND m.tenant_id = t.tenant_id
         WHERE t.id = $1 AND t.revoked_at IS NULL AND t.expires_at > now()",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        (
            r.token,
            CreatorStanding {
                known: r.creator_known,
                platform_admin: r.creator_platform_admin.unwrap_or(false),
                tenant_role: r.creator_role,
            },
        )
    }))
}

/// The user a token acts for (`None` when unknown).
pub async fn creator_of(conn: &mut PgConnection, id: TokenId) -> sqlx::Result<Option<UserId>> {
    Ok(
        sqlx::query_scalar("SELECT creator_user_id FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
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
