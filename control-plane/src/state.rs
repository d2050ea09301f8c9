//! Shared application state handed to every handler.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{
    auth::{jwt::JwtKeys, ldap::LdapSettings},
    config::ServeConfig,
    monitoring::webhook_guard::WebhookPolicy,
};

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub jwt: JwtKeys,
    pub ldap: Option<Arc<LdapSettings>>,
    pub config: Arc<ServeConfig>,
    pub metrics: PrometheusHandle,
    /// Seals cluster keys and passwords at rest.
    pub sealer: crate::secrets::Sealer,
    /// The organisation CA, when secured clusters are not to get a CA of their own.
    pub organisation_ca: Option<Arc<crate::cluster_pki::OrganisationCa>>,
    /// Where tenants' alert webhooks may point.
    pub webhook_policy: Arc<WebhookPolicy>,
}

impl AppState {
    /// How long a host may be silent before it shows offline.
    pub fn host_offline_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.host_offline_after)
            .unwrap_or(chrono::Duration::seconds(30))
    }

    /// Builds the state from a validated config and a migrated pool.
    pub fn new(config: ServeConfig, db: PgPool, metrics: PrometheusHandle) -> Result<Self, String> {
        let ldap = config.ldap.settings()?.map(Arc::new);
        let organisation_ca = config.organisation_ca()?.map(Arc::new);
        let webhook_policy = Arc::new(WebhookPolicy::parse(&config.webhook_allowed_networks)?);
        Ok(Self {
            webhook_policy,
            jwt: JwtKeys::new(config.jwt_secret.as_bytes()),
            sealer: crate::secrets::Sealer::with_keys(
                &config.seal_keys,
                config.jwt_secret.as_bytes(),
            ),
            organisation_ca,
            ldap,
            db,
            config: Arc::new(config),
            metrics,
        })
    }
}
