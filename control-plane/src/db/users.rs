//! Users: local accounts with argon2 hashes, and directory users recorded at login.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use tideway_api::{
    tenants::{User, UserSource},
    UserId,
};

#[derive(Clone, Debug, FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub source: String,
    pub password_hash: Option<String>,
    pub platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            source: if r.source == "ldap" {
                UserSource::Ldap
            } else {
                UserSource::Local
            },
            platform_admin: r.platform_admin,
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str =
    "id, username, display_name, email, source, password_hash, platform_admin, created_at";

pub async fn by_username(db: &PgPool, username: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(db)
        .await
}

pub async fn any_platform_admin(db: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE platform_admin)")
        .fetch_one(db)
        .await
}

pub async fn insert_local(
    conn: &mut PgConnection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    platform_admin: bool,
) -> sqlx::Result<UserRow> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, username, display_name, source, password_hash, platform_admin)
         VALUES ($1, $2, $3, 'local', $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(UserId::new())
    .bind(username)
    .bind(display_name)
    .bind(password_hash)
    .bind(platform_admin)
    .fetch_one(conn)
    .await
}

/// Creates or refreshes a directory user as the directory describes them now.
pub async fn upsert_directory(
    conn: &mut PgConnection,
    username: &str,
    display_name: &str,
    email: Option<&str>,
    platform_admin: bool,
) -> sqlx::Result<UserRow> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, username, display_name, email, source, platform_admin, last_login_at)
         VALUES ($1, $2, $3, $4, 'ldap', $5, now())
         ON CONFLICT (username) DO UPDATE
            SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,
                platform_admin = EXCLUDED.platform_admin, last_login_at = now()
         WHERE users.source = 'ldap'
         RETURNING {COLUMNS}"
    ))
    .bind(UserId::new())
    .bind(username)
    .bind(display_name)
    .bind(email)
    .bind(platform_admin)
    .fetch_one(conn)
    .await
}

/// Makes sure a user row exists for `username` (a directory user who has not logged in
/// yet can be granted a membership ahead of time).
pub async fn ensure(conn: &mut PgConnection, username: &str) -> sqlx::Result<UserRow> {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, source) VALUES ($1, $2, $2, 'ldap')
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(UserId::new())
    .bind(username)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_one(conn)
        .await
}

pub async fn touch_login(db: &PgPool, id: UserId) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
