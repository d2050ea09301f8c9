//! Secured clusters: their CA, certificates and control-plane credential are made when
//! the brokers are placed; agents get each broker's material with its assignment; and
//! every Kafka connection the control plane opens (topics, canary, users) logs in as its
//! super user over SASL_SSL. A plaintext cluster of several brokers gets a CA and
//! certificates too: its brokers replicate and run their quorum over mutual TLS, so
//! nobody but them takes part, while its clients connect in plaintext as they asked.

use rdkafka::ClientConfig;
use sqlx::{types::Json, PgConnection};
use tideway_api::{
    agents::{BrokerAssignment, BrokerSecurity},
    clusters::{Cluster, ClusterSecurity},
    ClusterId,
};
use tideway_engine::client::{ClientSecurity, ClientTls, KafkaConnection, SaslLogin};

use crate::{
    cluster_pki,
    db::{self, security::ClusterSecretsRow},
    error::ApiError,
    state::AppState,
};

/// Whether the cluster's brokers get certificates: a secured cluster, or any of several
/// brokers (for their traffic among themselves).
fn needs_certificates(cluster: &Cluster) -> bool {
    cluster.spec.security == ClusterSecurity::SaslSsl || cluster.spec.broker_count.unwrap_or(1) > 1
}

/// Whether clients log in over SASL_SSL (else they connect in plaintext).
fn clients_secured(cluster: &Cluster) -> bool {
    cluster.spec.security == ClusterSecurity::SaslSsl
}

fn internal(what: &str) -> impl Fn(String) -> ApiError + '_ {
    move |e| ApiError::Internal(format!("{what}: {e}"))
}

/// Makes the cluster's CA and credential (once) and certificates for its brokers that
/// have none, inside the placement's transaction.
pub async fn secure_brokers(
    conn: &mut PgConnection,
    state: &AppState,
    cluster: &Cluster,
) -> Result<(), ApiError> {
    let sealer = &state.sealer;
    if !needs_certificates(cluster) {
        return Ok(());
    }
    let secrets = match db::security::cluster_secrets(conn, cluster.id).await? {
        Some(s) => s,
        None => {
            let (ca_cert_pem, ca_key_sealed) = match &state.organisation_ca {
                Some(org) => (org.cert_pem.clone(), None),
                None => {
                    let (cert, key) = cluster_pki::new_ca(&cluster.name)
                        .map_err(|e| internal("cluster CA")(e.to_string()))?;
                    (cert, Some(sealer.seal(key.as_bytes())))
                }
            };
            let password = cluster_pki::new_password();
            let row = ClusterSecretsRow {
                ca_cert_pem,
                ca_key_sealed,
                admin_user: cluster_pki::ADMIN_USER.to_owned(),
                admin_password_sealed: sealer.seal(password.as_bytes()),
                admin_credential: Json(cluster_pki::stored_credential(
                    cluster_pki::ADMIN_USER,
                    &password,
                )),
            };
            db::security::insert_cluster_secrets(conn, cluster.id, &row).await?;
            row
        }
    };
    let ca_key = ca_key(state, &secrets)?;
    for (broker, address, has_cert) in db::security::brokers_of(conn, cluster.id).await? {
        if has_cert {
            continue;
        }
        let (cert, key) = cluster_pki::issue_broker(
            &secrets.ca_cert_pem,
            &ca_key,
            &address,
            cluster_pki::BROKER_CERT_VALIDITY,
        )
        .map_err(|e| internal("broker certificate")(e.to_string()))?;
        db::security::set_broker_certificate(conn, broker, &cert, &sealer.seal(key.as_bytes()))
            .await?;
    }
    Ok(())
}

/// The key of the CA that signs the cluster's certificates: its own (sealed), or the
/// organisation CA's from the configuration.
fn ca_key(state: &AppState, secrets: &ClusterSecretsRow) -> Result<String, ApiError> {
    match (&secrets.ca_key_sealed, &state.organisation_ca) {
        (Some(sealed), _) => state.sealer.open_text(sealed).map_err(internal("cluster CA key")),
        (None, Some(org)) => Ok(org.key_pem.clone()),
        (None, None) => Err(ApiError::Internal(
            "the cluster's certificates are signed by the organisation CA, but no TIDEWAY_CLUSTER_CA_KEY is configured".into(),
        )),
    }
}

/// Renews the certificates of `cluster`'s brokers that end within a month; their agents
/// get the new files with the next desired state and the brokers serve them without a
/// restart. How many were renewed.
pub async fn renew_due(state: &AppState, cluster: &Cluster) -> Result<usize, ApiError> {
    if !needs_certificates(cluster) {
        return Ok(0);
    }
    let mut tx = state.db.begin().await?;
    let Some(secrets) = db::security::cluster_secrets(&mut tx, cluster.id).await? else {
        return Ok(0);
    };
    let due: Vec<_> = db::security::broker_certificates_of(&mut tx, cluster.id)
        .await?
        .into_iter()
        .filter(|(_, _, cert)| cluster_pki::renewal_due(cert))
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let ca_key = ca_key(state, &secrets)?;
    for (broker, address, _) in &due {
        let (cert, key) = cluster_pki::issue_broker(
            &secrets.ca_cert_pem,
            &ca_key,
            address,
            cluster_pki::BROKER_CERT_VALIDITY,
        )
        .map_err(|e| internal("broker certificate")(e.to_string()))?;
        db::security::set_broker_certificate(
            &mut tx,
            *broker,
            &cert,
            &state.sealer.seal(key.as_bytes()),
        )
        .await?;
    }
    db::brokers::bump_hosts_of(&mut tx, cluster.id).await?;
    tx.commit().await?;
    tracing::info!(cluster = %cluster.name, renewed = due.len(), "renewed broker certificates");
    Ok(due.len())
}

/// Adds each secured broker's TLS material and the admin credential to its assignment.
pub async fn attach(
    state: &AppState,
    assignments: &mut [BrokerAssignment],
) -> Result<(), ApiError> {
    let ids: Vec<uuid::Uuid> = assignments.iter().map(|a| a.broker_id.0).collect();
    let certs = db::security::broker_certificates(&state.db, &ids).await?;
    let mut conn = state.db.acquire().await?;
    for (broker, cluster, cert_pem, key_sealed) in certs {
        let Some(secrets) = db::security::cluster_secrets(&mut conn, cluster).await? else {
            continue;
        };
        let plaintext_clients = db::clusters::get(&state.db, cluster)
            .await?
            .is_some_and(|c| c.spec.0.security == ClusterSecurity::Plaintext);
        let key_pem = state
            .sealer
            .open_text(&key_sealed)
            .map_err(internal("broker key"))?;
        if let Some(a) = assignments.iter_mut().find(|a| a.broker_id == broker) {
            a.security = Some(BrokerSecurity {
                ca_pem: secrets.ca_cert_pem,
                cert_pem,
                key_pem,
                admin: secrets.admin_credential.0,
                plaintext_clients,
            });
        }
    }
    Ok(())
}

/// How the control plane reaches a cluster's brokers.
pub struct KafkaAccess {
    pub bootstrap: String,
    pub secured: Option<SecuredAccess>,
}

/// The CA to trust and the super user to log in as.
pub struct SecuredAccess {
    pub ca_pem: String,
    pub user: String,
    pub password: String,
}

impl KafkaAccess {
    /// rdkafka settings: bootstrap servers, and for a secured cluster SASL_SSL as the
    /// control plane's super user.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        if let Some(s) = &self.secured {
            c.set("security.protocol", "SASL_SSL")
                .set("ssl.ca.pem", &s.ca_pem)
                .set("sasl.mechanisms", "SCRAM-SHA-512")
                .set("sasl.username", &s.user)
                .set("sasl.password", &s.password);
        }
        c
    }

    /// A logged-in Kafka-protocol connection to the first broker (for ACLs, SCRAM users
    /// and quotas, which rdkafka has no API for).
    pub async fn connect(&self) -> Result<KafkaConnection, ApiError> {
        let s = self
            .secured
            .as_ref()
            .ok_or_else(|| ApiError::Conflict("the cluster is not secured (sasl-ssl)".into()))?;
        let first = self.bootstrap.split(',').next().unwrap_or_default();
        let host = first.rsplit_once(':').map(|(h, _)| h).unwrap_or(first);
        let security = ClientSecurity {
            tls: Some(ClientTls {
                ca_pem: s.ca_pem.clone().into_bytes(),
                server_name: host.to_owned(),
                identity: None,
            }),
            sasl: Some(SaslLogin {
                mechanism: "SCRAM-SHA-512".into(),
                user: s.user.clone(),
                password: s.password.clone(),
            }),
        };
        KafkaConnection::connect(first, "tideway-control-plane", &security)
            .await
            .map_err(|e| ApiError::Unavailable(format!("the cluster cannot be reached: {e}")))
    }
}

/// The cluster whose brokers serve `cluster` (itself, or the shared cluster it is a
/// slice of).
pub fn serving_cluster(cluster: &Cluster) -> ClusterId {
    cluster.shared_cluster_id.unwrap_or(cluster.id)
}

/// How to reach `cluster` (whose bootstrap servers are known).
pub async fn access(state: &AppState, cluster: &Cluster) -> Result<KafkaAccess, ApiError> {
    let bootstrap = cluster.bootstrap_servers.clone().ok_or_else(|| {
        ApiError::Conflict("the cluster has no running brokers yet; wait until it is Ready".into())
    })?;
    let mut conn = state.db.acquire().await?;
    let secrets = match clients_secured(cluster) {
        true => db::security::cluster_secrets(&mut conn, serving_cluster(cluster)).await?,
        false => None,
    };
    let secured = match secrets {
        Some(s) => Some(SecuredAccess {
            password: state
                .sealer
                .open_text(&s.admin_password_sealed)
                .map_err(internal("cluster credential"))?,
            ca_pem: s.ca_cert_pem,
            user: s.admin_user,
        }),
        None => None,
    };
    Ok(KafkaAccess { bootstrap, secured })
}

/// Rewrites every sealed secret that another key than the newest sealed (`control-plane
/// reseal`); how many were rewritten. All or nothing.
pub async fn reseal_all(state: &AppState) -> Result<u64, db::security::ResealError> {
    let sealer = &state.sealer;
    db::security::rewrite_sealed(&state.db, |sealed| {
        if !sealer.is_stale(sealed) {
            return Ok(None);
        }
        sealer.open(sealed).map(|plain| Some(sealer.seal(&plain)))
    })
    .await
}

/// The CA certificate of the cluster serving `cluster`, if it is secured.
pub async fn ca_of(state: &AppState, cluster: &Cluster) -> Result<Option<String>, ApiError> {
    if !clients_secured(cluster) {
        return Ok(None);
    }
    let mut conn = state.db.acquire().await?;
    Ok(
        db::security::cluster_secrets(&mut conn, serving_cluster(cluster))
            .await?
            .map(|s| s.ca_cert_pem),
    )
}
