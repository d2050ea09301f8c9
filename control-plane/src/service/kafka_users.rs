//! Kafka users of secured clusters: a SCRAM credential per application, created on the
//! brokers over the Kafka protocol with ACLs limited to what the tenant owns (on a shared
//! cluster: topics and groups starting with its prefix; on a dedicated one: all of them).
//! Topic creation and deletion stay with the control plane, which counts the quota. Each
//! user gets the tenant's produce and consume byte rates as its client quota (enforced
//! per broker, as Kafka quotas are). The password is returned once and kept nowhere.

use tideway_api::{
    clusters::{Cluster, ClusterKind},
    kafka_users::{CreateKafkaUser, CreatedKafkaUser, KafkaUser},
    tenants::Quota,
    ClusterId, FieldError, Role, TenantId,
};
use tideway_engine::{
    client::KafkaConnection,
    security::{
        acl::{op, pattern, permission, resource, AclBinding},
        scram::Mechanism,
    },
};

use super::{clusters, ensure_valid, security, Audit};
use crate::{auth::Caller, cluster_pki, db, error::ApiError, state::AppState};

/// What a tenant's users may do with the topics and groups they own.
const TOPIC_OPERATIONS: &[i8] = &[op::READ, op::WRITE, op::DESCRIBE, op::DESCRIBE_CONFIGS];
const GROUP_OPERATIONS: &[i8] = &[op::READ, op::DESCRIBE, op::DELETE];

fn audit<'a>(action: &'a str, c: &Cluster, name: &str) -> Audit<'a> {
    Audit {
        action,
        tenant_id: Some(c.tenant_id),
        target_type: "kafka_user",
        target_id: format!("{}/{name}", c.id),
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        return Ok(());
    }
    ensure_valid(vec![FieldError {
        field: "name".into(),
        message: "use 1 to 64 lowercase letters, digits, '.', '_' or '-'".into(),
    }])
}

/// Kafka user names that belong to the platform, not to tenants: the control plane's own
/// super user and anything else it may name `tideway-…`. (Brokers authenticate by their
/// certificates' subjects, `CN=…,O=Tideway`, which no valid user name can spell.)
const RESERVED_USER_PREFIX: &str = "tideway-";

/// Why a tenant may not take `username` on a cluster, or `None` when it may.
fn reserved(username: &str) -> Option<String> {
    if username == cluster_pki::ADMIN_USER {
        return Some(format!(
            "{username:?} is the control plane's own super user on every secured cluster; choose another name"
        ));
    }
    username.starts_with(RESERVED_USER_PREFIX).then(|| {
        format!("names starting with {RESERVED_USER_PREFIX:?} are reserved for the platform; choose another name")
    })
}

/// The prefix the cluster's users are limited to ("" for a dedicated cluster). A shared
/// cluster itself has no users: only tenants' allocations on it, each with its prefix
/// (a user there without one would reach every tenant's topics).
fn prefix_of(cluster: &Cluster) -> Result<String, ApiError> {
    match (cluster.kind, &cluster.topic_prefix) {
        (ClusterKind::Dedicated, _) => Ok(String::new()),
        (ClusterKind::Shared, Some(prefix)) if !prefix.is_empty() => Ok(prefix.clone()),
        (ClusterKind::Shared, _) => Err(ApiError::Conflict(
            "Kafka users belong to a tenant's allocation on a shared cluster, not to the shared cluster itself"
                .into(),
        )),
    }
}

/// The ACLs of a tenant's user: its prefix (or everything) for topics and groups.
fn acls_for(principal: &str, prefix: &str) -> Vec<AclBinding> {
    let (name, pattern_type) = if prefix.is_empty() {
        ("*".to_owned(), pattern::LITERAL)
    } else {
        (prefix.to_owned(), pattern::PREFIXED)
    };
    let grant = |resource_type, operation| AclBinding {
        resource_type,
        resource_name: name.clone(),
        pattern_type,
        principal: principal.to_owned(),
        host: "*".into(),
        operation,
        permission: permission::ALLOW,
    };
    TOPIC_OPERATIONS
        .iter()
        .map(|o| grant(resource::TOPIC, *o))
        .chain(GROUP_OPERATIONS.iter().map(|o| grant(resource::GROUP, *o)))
        .collect()
}

fn refused(what: &str) -> impl Fn(anyhow::Error) -> ApiError + '_ {
    move |e| ApiError::Unavailable(format!("{what}: the cluster refused it: {e}"))
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
) -> Result<Vec<KafkaUser>, ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    Ok(db::security::kafka_users(&state.db, cluster.id).await?)
}

/// The users with whether the cluster is secured at all (for the cluster page).
pub async fn overview(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
) -> Result<(bool, Vec<KafkaUser>), ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    let secured = security::ca_of(state, &cluster).await?.is_some();
    Ok((
        secured,
        db::security::kafka_users(&state.db, cluster.id).await?,
    ))
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    req: CreateKafkaUser,
) -> Result<CreatedKafkaUser, ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    caller.require(cluster.tenant_id, Role::Member, "cluster")?;
    check_name(&req.name)?;
    let prefix = prefix_of(&cluster)?;
    let username = format!("{prefix}{}", req.name);
    if let Some(why) = reserved(&username) {
        return Err(ApiError::Conflict(why));
    }
    let access = security::access(state, &cluster).await?;
    let Some(secured) = &access.secured else {
        return Err(ApiError::Conflict(
            "the cluster is plaintext; Kafka users need a sasl-ssl cluster".into(),
        ));
    };
    let mut tx = state.db.begin().await?;
    let user = db::security::insert_kafka_user(
        &mut tx,
        cluster.id,
        &req.name,
        &username,
        &caller.actor.to_string(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "the cluster already has a Kafka user named {:?}",
            req.name
        ))
    })?;
    let password = cluster_pki::new_password();
    let mut kafka = access.connect().await?;
    for m in [Mechanism::Sha512, Mechanism::Sha256] {
        kafka
            .upsert_scram_user(&username, m, &password)
            .await
            .map_err(refused("creating the credential"))?;
    }
    kafka
        .create_acls(&acls_for(&format!("User:{username}"), &prefix))
        .await
        .map_err(refused("granting the ACLs"))?;
    let quota = db::tenants::quota(&state.db, cluster.tenant_id).await?;
    set_client_quota(&mut kafka, &username, &quota).await?;
    audit("kafka_user.create", &cluster, &req.name)
        .record(&mut tx, caller, None::<&()>, Some(&user))
        .await?;
    tx.commit().await?;
    Ok(CreatedKafkaUser {
        user,
        password,
        sasl_mechanism: Mechanism::Sha512.sasl_name().into(),
        security_protocol: "SASL_SSL".into(),
        bootstrap_servers: cluster.bootstrap_servers.clone(),
        ca_pem: secured.ca_pem.clone(),
        prefix,
    })
}

/// Gives a user the tenant's produce and consume byte rates on the brokers.
async fn set_client_quota(
    kafka: &mut KafkaConnection,
    username: &str,
    quota: &Quota,
) -> Result<(), ApiError> {
    kafka
        .alter_quota(
            &[("user", Some(username))],
            &[
                (
                    "producer_byte_rate",
                    Some(quota.max_produce_bytes_per_sec as f64),
                ),
                (
                    "consumer_byte_rate",
                    Some(quota.max_consume_bytes_per_sec as f64),
                ),
            ],
        )
        .await
        .map_err(refused("setting the client quota"))
}

/// Gives every Kafka user of `tenant`, on every cluster, the byte rates of its new quota.
/// If a cluster cannot take them, the clusters already changed get `old` back and the
/// caller keeps the old quota: the brokers and the stored quota never disagree.
pub(crate) async fn apply_tenant_quota(
    state: &AppState,
    tenant: TenantId,
    new: &Quota,
    old: &Quota,
) -> Result<(), ApiError> {
    let mut done = Vec::new();
    for id in db::security::clusters_with_kafka_users(&state.db, tenant).await? {
        let Some(cluster) = clusters::load(state, id).await? else {
            continue;
        };
        if let Err(e) = set_cluster_quota(state, &cluster, new).await {
            for changed in &done {
                if let Err(undo) = set_cluster_quota(state, changed, old).await {
                    tracing::error!(cluster = %changed.name, error = %undo, "could not restore the Kafka users' quota");
                }
            }
            return Err(ApiError::Unavailable(format!(
                "the quota could not be applied to the Kafka users of {}; it is unchanged: {}",
                cluster.name,
                e.public_detail()
            )));
        }
        done.push(cluster);
    }
    Ok(())
}

/// Sets the byte rates of `quota` for every Kafka user of `cluster`.
async fn set_cluster_quota(
    state: &AppState,
    cluster: &Cluster,
    quota: &Quota,
) -> Result<(), ApiError> {
    let mut kafka = security::access(state, cluster).await?.connect().await?;
    for user in db::security::kafka_users(&state.db, cluster.id).await? {
        set_client_quota(&mut kafka, &user.username, quota).await?;
    }
    Ok(())
}

/// Removes a user's credentials, ACLs and client quota from the brokers.
async fn remove_from_brokers(kafka: &mut KafkaConnection, username: &str) -> Result<(), ApiError> {
    for m in [Mechanism::Sha512, Mechanism::Sha256] {
        kafka
            .delete_scram_user(username, m)
            .await
            .map_err(refused("deleting the credential"))?;
    }
    kafka
        .delete_acls_of(&format!("User:{username}"))
        .await
        .map_err(refused("removing the ACLs"))?;
    kafka
        .alter_quota(
            &[("user", Some(username))],
            &[("producer_byte_rate", None), ("consumer_byte_rate", None)],
        )
        .await
        .map_err(refused("removing the client quota"))?;
    Ok(())
}

/// Removes every Kafka user of a slice of a shared cluster from the shared brokers (the
/// slice is being deleted; its rows go with it).
pub(crate) async fn remove_all_of_slice(state: &AppState, slice: &Cluster) -> Result<(), ApiError> {
    let users = db::security::kafka_users(&state.db, slice.id).await?;
    if users.is_empty() {
        return Ok(());
    }
    let mut kafka = security::access(state, slice).await?.connect().await?;
    for user in users {
        remove_from_brokers(&mut kafka, &user.username).await?;
    }
    Ok(())
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    name: &str,
) -> Result<(), ApiError> {
    let cluster = clusters::get(state, caller, id).await?;
    caller.require(cluster.tenant_id, Role::Member, "cluster")?;
    let mut tx = state.db.begin().await?;
    let username = db::security::delete_kafka_user(&mut tx, cluster.id, name)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("the cluster has no Kafka user named {name:?}"))
        })?;
    let mut kafka = security::access(state, &cluster).await?.connect().await?;
    remove_from_brokers(&mut kafka, &username).await?;
    audit("kafka_user.delete", &cluster, name)
        .record(&mut tx, caller, Some(&username), None::<&()>)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_principals_are_reserved() {
        for (name, reserved_) in [
            ("tideway-admin", true),
            ("tideway-canary", true),
            ("app", false),
            ("my-tideway-admin", false),
            ("team-a.orders.tideway-admin", false),
        ] {
            assert_eq!(reserved(name).is_some(), reserved_, "{name}");
        }
        assert_eq!(
            reserved("tideway-admin").as_deref(),
            Some("\"tideway-admin\" is the control plane's own super user on every secured cluster; choose another name")
        );
    }

    #[test]
    fn shared_users_get_prefixed_acls_and_no_topic_lifecycle() {
        let acls = acls_for("User:team-a.app", "team-a.");
        assert!(acls
            .iter()
            .all(|a| a.pattern_type == pattern::PREFIXED && a.resource_name == "team-a."));
        assert!(acls.iter().all(|a| a.validate().is_ok()));
        let ops: Vec<i8> = acls
            .iter()
            .filter(|a| a.resource_type == resource::TOPIC)
            .map(|a| a.operation)
            .collect();
        assert!(
            !ops.contains(&op::CREATE) && !ops.contains(&op::DELETE) && !ops.contains(&op::ALL)
        );
        let dedicated = acls_for("User:app", "");
        assert!(dedicated
            .iter()
            .all(|a| a.pattern_type == pattern::LITERAL && a.resource_name == "*"));
    }
}
