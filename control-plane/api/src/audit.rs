//! The audit log: who changed what, when, with the state before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AuditId, TenantId};

/// One change.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: AuditId,
    pub at: DateTime<Utc>,
    /// `user:NAME`, `token:NAME` or `system`.
    pub actor: String,
    /// A dotted verb, e.g. `cluster.create`, `cluster.approve`.
    pub action: String,
    pub tenant_id: Option<TenantId>,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// Filters of `GET /api/v1/audit`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub tenant_id: Option<TenantId>,
    /// Exact action, e.g. `cluster.approve`.
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}
