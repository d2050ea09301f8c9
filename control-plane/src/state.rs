//! Shared application state handed to every handler.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{
    auth::{jwt::JwtKeys, ldap::LdapSettings},
    config::ServeConfig,
};

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub jwt: JwtKeys,
    pub ldap: Option<Arc<LdapSettings>>,
    pub config: Arc<ServeConfig>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// Builds the state from a validated config and a migrated pool.
    pub fn new(config: ServeConfig, db: PgPool, metrics: PrometheusHandle) -> Result<Self, String> {
        let ldap = config.ldap.settings()?.map(Arc::new);
        Ok(Self {
            jwt: JwtKeys::new(config.jwt_secret.as_bytes()),
            ldap,
            db,
            config: Arc::new(config),
            metrics,
        })
    }
}
