//! Reading the audit log: platform admins see everything, tenant admins their tenants.

use tideway_api::{
    audit::{AuditEntry, AuditFilter},
    Page, PageQuery, Role, TenantId,
};

use crate::{auth::Caller, db, error::ApiError, state::AppState};

pub async fn list(
    state: &AppState,
    caller: &Caller,
    f: &AuditFilter,
) -> Result<Page<AuditEntry>, ApiError> {
    let (limit, offset) = PageQuery {
        limit: f.limit,
        offset: f.offset,
    }
    .resolve()
    .map_err(ApiError::BadRequest)?;
    let tenants: Option<Vec<TenantId>> = match f.tenant_id {
        Some(t) => {
            caller.require(t, Role::TenantAdmin, "tenant")?;
            Some(vec![t])
        }
        None if caller.platform_admin => None,
        None => {
            let admin_of: Vec<TenantId> = caller
                .roles
                .iter()
                .filter(|(_, r)| **r >= Role::TenantAdmin)
                .map(|(t, _)| *t)
                .collect();
            if admin_of.is_empty() {
                return Err(ApiError::Forbidden(
                    "the audit log needs the tenant-admin role".into(),
                ));
            }
            Some(admin_of)
        }
    };
    let (items, total) = db::audit::list(
        &state.db,
        db::audit::AuditQuery {
            tenants: tenants.as_deref(),
            action: f.action.as_deref(),
            target_id: f.target_id.as_deref(),
            limit,
            offset,
        },
    )
    .await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}
