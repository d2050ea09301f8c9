//! Tenants, their members and quotas, users, and the caller's own identity.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Role, TenantId, UserId};

/// A tenant: one team that owns clusters.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    /// Unique short name (lowercase letters, digits, dashes); used in topic prefixes.
    pub name: String,
    pub display_name: String,
    /// Requests within quota are approved without a platform admin.
    pub auto_approve: bool,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/tenants`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub auto_approve: bool,
    /// Quota to start with; the platform defaults when absent.
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// Body of `PATCH /api/v1/tenants/{id}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub auto_approve: Option<bool>,
}

/// Limits on what one tenant may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub max_clusters: i64,
    pub max_brokers: i64,
    pub max_storage_bytes: i64,
    pub max_partitions: i64,
    pub max_produce_bytes_per_sec: i64,
    pub max_consume_bytes_per_sec: i64,
}

impl Default for Quota {
    /// The quota of a new tenant unless the platform admin says otherwise.
    fn default() -> Self {
        Self {
            max_clusters: 3,
            max_brokers: 9,
            max_storage_bytes: 300 * (1 << 30),
            max_partitions: 1000,
            max_produce_bytes_per_sec: 50 << 20,
            max_consume_bytes_per_sec: 100 << 20,
        }
    }
}

/// What a tenant holds now, counted over approved clusters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaUsage {
    pub clusters: i64,
    pub brokers: i64,
    pub storage_bytes: i64,
    pub partitions: i64,
}

/// A tenant's quota beside its usage.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaReport {
    pub tenant_id: TenantId,
    pub quota: Quota,
    pub usage: QuotaUsage,
}

/// Where a user's identity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserSource {
    Local,
    Ldap,
}

/// A member of a tenant with their role there.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// True when the membership comes from a directory group and is rewritten at each login.
    pub from_directory: bool,
}

/// Body of `PUT /api/v1/tenants/{id}/members/{username}`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMember {
    pub role: Role,
}

/// A user account.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub source: UserSource,
    pub platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/users`: a local account, for sites without a directory.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub platform_admin: bool,
}

/// One tenant the caller belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub role: Role,
}

/// `GET /api/v1/me`: who the caller is and what they may do.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// `user:NAME` or `token:NAME`.
    pub actor: String,
    pub platform_admin: bool,
    pub memberships: Vec<Membership>,
}

/// Body of `POST /api/v1/login`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A session token to send as `Authorization: Bearer`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}
