//! API tokens for automation: scoped to a tenant and a role, expiring, revocable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Role, TenantId, TokenId};

/// An API token as listed (the secret is never shown again after creation).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    /// The tenant the token acts in; none for a platform-admin token.
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Required unless the role is platform-admin.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    /// Lifetime in days, 1..=365 (default 90).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// The answer to creating a token: the only time the secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Filters of `GET /api/v1/tokens`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenFilter {
    pub tenant_id: Option<TenantId>,
}
