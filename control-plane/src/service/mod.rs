//! The service layer: rules, authorization, transactions, quota checks and audit entries.
//! The REST handlers and the web UI both call these functions and nothing below them.

pub mod agents;
pub mod alerting;
pub mod audit;
pub mod cluster_rules;
pub mod clusters;
pub mod day2_plan;
pub mod kafka_users;
pub mod login_throttle;
pub mod placement;
pub mod rebalance;
pub mod security;
pub mod slices;
pub mod tenants;
pub mod tokens;
pub mod topics;
pub mod users;

use serde::Serialize;
use sqlx::PgConnection;
use tideway_api::TenantId;

use crate::{auth::Caller, db, error::ApiError};

/// One audit entry about `target`, written in the caller's transaction.
pub(crate) struct Audit<'a> {
    pub action: &'a str,
    pub tenant_id: Option<TenantId>,
    pub target_type: &'a str,
    pub target_id: String,
}

impl Audit<'_> {
    pub async fn record<B: Serialize, A: Serialize>(
        self,
        conn: &mut PgConnection,
        caller: &Caller,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<(), ApiError> {
        db::audit::record(
            conn,
            db::audit::NewEntry {
                actor: &caller.actor.to_string(),
                action: self.action,
                tenant_id: self.tenant_id,
                target_type: self.target_type,
                target_id: self.target_id,
                before: before.map(to_json),
                after: after.map(to_json),
                request_id: caller.request_id.as_deref(),
            },
        )
        .await?;
        Ok(())
    }
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Rejects a request with the validation errors, if there are any.
pub(crate) fn ensure_valid(errors: Vec<tideway_api::FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(errors))
    }
}
