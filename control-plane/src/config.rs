//! Command line and environment configuration, validated once at start.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::auth::ldap::{GroupGrant, LdapSettings};

/// Where the control plane listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long a login session lasts.
pub const DEFAULT_SESSION_TTL: &str = "8h";
/// Connections in the database pool.
pub const DEFAULT_DB_CONNECTIONS: u32 = 10;
/// The shortest signing secret accepted.
pub const MIN_SECRET_LEN: usize = 32;

/// Tideway control plane.
#[derive(Debug, Parser)]
#[command(name = "control-plane", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations and serve the API, the web UI and the metrics.
    Serve(Box<ServeConfig>),
    /// Rewrite every sealed secret with the newest of TIDEWAY_SEAL_KEYS (after a new key
    /// was put first), then exit; the older keys can then be dropped.
    Reseal(Box<ServeConfig>),
    /// Write the OpenAPI document to a file (or stdout with `-`).
    Openapi {
        /// Output path.
        #[arg(default_value = "-")]
        out: PathBuf,
    },
}

/// Settings of `control-plane serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, env = "TIDEWAY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Operations listener: `/metrics`, `/live` and `/ready` without login, for Prometheus
    /// and probes on the operations network (on the main listener `/metrics` takes a
    /// platform admin's token). Off unless set; port 0 picks a free port.
    #[arg(long, env = "TIDEWAY_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Connections in the database pool.
    #[arg(long, env = "TIDEWAY_DB_CONNECTIONS", default_value_t = DEFAULT_DB_CONNECTIONS)]
    pub db_connections: u32,
    /// Secret that signs session and API tokens (at least 32 characters; keep it secret).
    #[arg(long, env = "TIDEWAY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
    /// Keys that seal secrets at rest, newest first, comma-separated (each at least 32
    /// characters, none the signing secret): the first seals, all open. Rotate by putting
    /// a new key first, running `control-plane reseal`, then dropping the old key. Unset,
    /// secrets are sealed with a key derived from TIDEWAY_JWT_SECRET (as before there were
    /// sealing keys).
    #[arg(
        long,
        env = "TIDEWAY_SEAL_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub seal_keys: Vec<String>,
    /// Username of the first local platform admin, created when no admin exists.
    #[arg(long, env = "TIDEWAY_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,
    /// Password of the first local platform admin; only used when creating it.
    #[arg(long, env = "TIDEWAY_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// How long a login session lasts.
    #[arg(long, env = "TIDEWAY_SESSION_TTL", default_value = DEFAULT_SESSION_TTL, value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// A host is shown offline after this long without a heartbeat.
    #[arg(long, env = "TIDEWAY_HOST_OFFLINE_AFTER", default_value = "30s", value_parser = humantime::parse_duration)]
    pub host_offline_after: Duration,
    /// How often agents are asked to send heartbeats.
    #[arg(long, env = "TIDEWAY_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,
    /// How often the reconciler passes over every cluster.
    #[arg(long, env = "TIDEWAY_RECONCILE_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub reconcile_interval: Duration,
    /// How long the canary waits for a cluster before it fails.
    #[arg(long, env = "TIDEWAY_CANARY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub canary_timeout: Duration,
    /// Mark cookies Secure (set when the UI is served over HTTPS).
    #[arg(long, env = "TIDEWAY_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
    /// PEM: an organisation CA that signs secured clusters' broker certificates instead of
    /// a CA made per cluster (with `--cluster-ca-key`).
    #[arg(long, env = "TIDEWAY_CLUSTER_CA_CERT")]
    pub cluster_ca_cert: Option<std::path::PathBuf>,
    /// PEM: that CA's private key (PKCS#8).
    #[arg(long, env = "TIDEWAY_CLUSTER_CA_KEY")]
    pub cluster_ca_key: Option<std::path::PathBuf>,
    /// How often monitoring samples brokers, topics and consumer groups (the resolution
    /// of the stored series).
    #[arg(long, env = "TIDEWAY_METRICS_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub metrics_interval: Duration,
    /// How long samples are kept.
    #[arg(long, env = "TIDEWAY_METRICS_RETENTION", default_value = "14d", value_parser = humantime::parse_duration)]
    pub metrics_retention: Duration,
    /// The sliding window the consumer-lag verdict looks at; a group silent for longer
    /// with lag is STOP.
    #[arg(long, env = "TIDEWAY_LAG_WINDOW", default_value = "10m", value_parser = humantime::parse_duration)]
    pub lag_window: Duration,
    /// URL that alert transitions are POSTed to as JSON (retried until delivered).
    #[arg(long, env = "TIDEWAY_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,
    /// Shared secret: each delivery carries `X-Tideway-Signature: sha256=<hex>`, the
    /// HMAC-SHA256 of its body, so the receiver can tell it came from here.
    #[arg(long, env = "TIDEWAY_ALERT_WEBHOOK_SECRET", hide_env_values = true)]
    pub alert_webhook_secret: Option<String>,
    /// Internal networks (CIDRs, comma-separated) tenants' alert webhooks may reach
    /// anyway; by default they may not point at loopback, private or link-local addresses.
    #[arg(long, env = "TIDEWAY_WEBHOOK_ALLOWED_NETWORKS", value_delimiter = ',')]
    pub webhook_allowed_networks: Vec<String>,
    #[command(flatten)]
    pub ldap: LdapArgs,
}

/// Directory (LDAP) login settings; login by directory is off without `--ldap-url`.
#[derive(Debug, Clone, Args)]
pub struct LdapArgs {
    /// Directory URL, e.g. ldap://ldap.example.com:389 or ldaps://….
    #[arg(long, env = "TIDEWAY_LDAP_URL")]
    pub ldap_url: Option<String>,
    /// DN to bind as when searching for users (anonymous search when absent).
    #[arg(long, env = "TIDEWAY_LDAP_BIND_DN")]
    pub ldap_bind_dn: Option<String>,
    /// Password of the search DN.
    #[arg(long, env = "TIDEWAY_LDAP_BIND_PASSWORD", hide_env_values = true)]
    pub ldap_bind_password: Option<String>,
    /// Base DN under which users are searched.
    #[arg(long, env = "TIDEWAY_LDAP_USER_BASE", default_value = "")]
    pub ldap_user_base: String,
    /// Filter finding one user; `{username}` is replaced by the escaped login name.
    #[arg(
        long,
        env = "TIDEWAY_LDAP_USER_FILTER",
        default_value = "(uid={username})"
    )]
    pub ldap_user_filter: String,
    /// Base DN under which groups are searched.
    #[arg(long, env = "TIDEWAY_LDAP_GROUP_BASE", default_value = "")]
    pub ldap_group_base: String,
    /// Filter finding a user's groups; `{dn}` is replaced by the escaped user DN.
    #[arg(
        long,
        env = "TIDEWAY_LDAP_GROUP_FILTER",
        default_value = "(member={dn})"
    )]
    pub ldap_group_filter: String,
    /// Group to role mapping, `GROUP_DN=>platform-admin` or `GROUP_DN=>TENANT:ROLE`,
    /// entries separated by `;`.
    #[arg(long, env = "TIDEWAY_LDAP_GROUP_ROLES", default_value = "")]
    pub ldap_group_roles: String,
    /// Seconds to wait for the directory.
    #[arg(long, env = "TIDEWAY_LDAP_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub ldap_timeout: Duration,
}

impl ServeConfig {
    /// Checks what clap cannot; a message names the setting that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "TIDEWAY_JWT_SECRET must be at least {MIN_SECRET_LEN} characters (got {})",
                self.jwt_secret.len()
            ));
        }
        if let Some(k) = self.seal_keys.iter().find(|k| k.len() < MIN_SECRET_LEN) {
            return Err(format!(
                "each of TIDEWAY_SEAL_KEYS must be at least {MIN_SECRET_LEN} characters (one has {})",
                k.len()
            ));
        }
        if self.seal_keys.contains(&self.jwt_secret) {
            return Err(
                "TIDEWAY_SEAL_KEYS must not hold TIDEWAY_JWT_SECRET: signing and sealing keys are kept apart"
                    .into(),
            );
        }
        if let Some(p) = &self.admin_password {
            if p.len() < 8 {
                return Err("TIDEWAY_ADMIN_PASSWORD must be at least 8 characters".into());
            }
        }
        if self.host_offline_after <= self.heartbeat_interval {
            return Err(
                "TIDEWAY_HOST_OFFLINE_AFTER must be longer than TIDEWAY_HEARTBEAT_INTERVAL".into(),
            );
        }
        if self.session_ttl < Duration::from_secs(60) {
            return Err("TIDEWAY_SESSION_TTL must be at least one minute".into());
        }
        if self.lag_window < self.metrics_interval * 2 {
            return Err(
                "TIDEWAY_LAG_WINDOW must be at least twice TIDEWAY_METRICS_INTERVAL".into(),
            );
        }
        if self.metrics_retention < self.lag_window {
            return Err("TIDEWAY_METRICS_RETENTION must be longer than TIDEWAY_LAG_WINDOW".into());
        }
        if self.alert_webhook_secret.is_some() && self.alert_webhook_url.is_none() {
            return Err("TIDEWAY_ALERT_WEBHOOK_SECRET needs TIDEWAY_ALERT_WEBHOOK_URL".into());
        }
        if let Some(url) = &self.alert_webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err("TIDEWAY_ALERT_WEBHOOK_URL must be an http:// or https:// URL".into());
            }
        }
        crate::monitoring::webhook_guard::WebhookPolicy::parse(&self.webhook_allowed_networks)?;
        self.organisation_ca()?;
        self.ldap.settings().map(drop)
    }

    /// The organisation CA (certificate and key PEM), checked to sign, if configured.
    pub fn organisation_ca(&self) -> Result<Option<crate::cluster_pki::OrganisationCa>, String> {
        let read = |p: &std::path::Path, what: &str| {
            std::fs::read_to_string(p).map_err(|e| format!("{what} {}: {e}", p.display()))
        };
        match (&self.cluster_ca_cert, &self.cluster_ca_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                let ca = crate::cluster_pki::OrganisationCa {
                    cert_pem: read(cert, "TIDEWAY_CLUSTER_CA_CERT")?,
                    key_pem: read(key, "TIDEWAY_CLUSTER_CA_KEY")?,
                };
                ca.check()?;
                Ok(Some(ca))
            }
            _ => Err("TIDEWAY_CLUSTER_CA_CERT and TIDEWAY_CLUSTER_CA_KEY go together".into()),
        }
    }
}

impl LdapArgs {
    /// The directory settings, or `None` when login by directory is off.
    pub fn settings(&self) -> Result<Option<LdapSettings>, String> {
        let Some(url) = &self.ldap_url else {
            return Ok(None);
        };
        if !self.ldap_user_filter.contains("{username}") {
            return Err("TIDEWAY_LDAP_USER_FILTER must contain {username}".into());
        }
        if !self.ldap_group_filter.contains("{dn}") {
            return Err("TIDEWAY_LDAP_GROUP_FILTER must contain {dn}".into());
        }
        Ok(Some(LdapSettings {
            url: url.clone(),
            bind_dn: self.ldap_bind_dn.clone(),
            bind_password: self.ldap_bind_password.clone(),
            user_base: self.ldap_user_base.clone(),
            user_filter: self.ldap_user_filter.clone(),
            group_base: self.ldap_group_base.clone(),
            group_filter: self.ldap_group_filter.clone(),
            group_grants: GroupGrant::parse_list(&self.ldap_group_roles)?,
            timeout: self.ldap_timeout,
        }))
    }
}
