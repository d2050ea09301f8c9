//! DescribeUserScramCredentials and AlterUserScramCredentials. The client sends a salted
//! password; the broker keeps only the derived stored and server keys. Describing needs
//! DESCRIBE on the cluster and never returns more than mechanism and iterations.

use std::{collections::BTreeMap, sync::Arc};

use kafka_protocol::{
    messages::{
        alter_user_scram_credentials_response::AlterUserScramCredentialsResult,
        describe_user_scram_credentials_response::{
            CredentialInfo, DescribeUserScramCredentialsResult,
        },
        AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
        DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{authz::change_security, Client};
use crate::{
    broker::Broker,
    security::{
        acl::op,
        scram::{Credential, Mechanism, MAX_ITERATIONS, MIN_ITERATIONS},
        SecurityChange,
    },
};

pub fn describe(
    broker: &Arc<Broker>,
    req: DescribeUserScramCredentialsRequest,
    client: &Client,
) -> DescribeUserScramCredentialsResponse {
    if !client.may_cluster(broker, op::DESCRIBE) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "describing credentials needs DESCRIBE on the cluster",
            )));
    }
    let state = broker.security.state();
    let users: Vec<String> = match req.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name.to_string()).collect(),
        _ => state.credentials.keys().cloned().collect(),
    };
    let results = users
        .into_iter()
        .map(|user| {
            let result = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user.clone()));
            match state.credentials.get(&user) {
                Some(mechanisms) => result.with_credential_infos(
                    mechanisms
                        .iter()
                        .map(|(m, c)| {
                            CredentialInfo::default()
                                .with_mechanism(m.code())
                                .with_iterations(c.iterations)
                        })
                        .collect(),
                ),
                None => result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "user {user} has no SCRAM credential"
                    )))),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// One requested change, checked: the change, or the error for its user.
type Checked = Result<SecurityChange, (i16, String)>;

fn check_upsertion(
    name: &str,
    mechanism: i8,
    iterations: i32,
    salt: &[u8],
    salted: &[u8],
) -> Checked {
    let m = Mechanism::from_code(mechanism).ok_or((
        ResponseError::UnsupportedSaslMechanism.code(),
        format!("unknown SCRAM mechanism {mechanism}"),
    ))?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err((
            ResponseError::UnacceptableCredential.code(),
            format!("iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"),
        ));
    }
    if name.is_empty() || salt.is_empty() || salted.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential.code(),
            "the user name, salt and salted password must not be empty".into(),
        ));
    }
    Ok(SecurityChange::UpsertCredential {
        user: name.to_owned(),
        mechanism: m,
        credential: Credential::from_salted(m, salted, salt, iterations),
    })
}

pub async fn alter(
    broker: &Arc<Broker>,
    req: AlterUserScramCredentialsRequest,
    client: &Client,
) -> AlterUserScramCredentialsResponse {
    let allowed = client.may_cluster(broker, op::ALTER);
    // Per user, in request order: every change asked for, checked. Like Kafka, a user
    // named twice in one request (even for two mechanisms) is refused as a duplicate.
    let mut by_user: BTreeMap<String, Vec<Checked>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut duplicate = std::collections::BTreeSet::new();
    for d in &req.deletions {
        let checked = Mechanism::from_code(d.mechanism)
            .map(|m| SecurityChange::DeleteCredential {
                user: d.name.to_string(),
                mechanism: m,
            })
            .ok_or((
                ResponseError::UnsupportedSaslMechanism.code(),
                format!("unknown SCRAM mechanism {}", d.mechanism),
            ));
        if !seen.insert(d.name.to_string()) {
            duplicate.insert(d.name.to_string());
        }
        by_user.entry(d.name.to_string()).or_default().push(checked);
    }
    for u in &req.upsertions {
        let checked = check_upsertion(
            &u.name,
            u.mechanism,
            u.iterations,
            &u.salt,
            &u.salted_password,
        );
        if !seen.insert(u.name.to_string()) {
            duplicate.insert(u.name.to_string());
        }
        by_user.entry(u.name.to_string()).or_default().push(checked);
    }
    let mut results = Vec::with_capacity(by_user.len());
    for (user, changes) in by_user {
        let outcome = if !allowed {
            Err((
                ResponseError::ClusterAuthorizationFailed.code(),
                "altering credentials needs ALTER on the cluster".to_owned(),
            ))
        } else if duplicate.contains(&user) {
            Err((
                ResponseError::DuplicateResource.code(),
                format!("user {user} is changed more than once in one request"),
            ))
        } else {
            apply_all(broker, changes).await
        };
        let mut r =
            AlterUserScramCredentialsResult::default().with_user(StrBytes::from_string(user));
        if let Err((code, message)) = outcome {
            r.error_code = code;
            r.error_message = Some(StrBytes::from_string(message));
        }
        results.push(r);
    }
    AlterUserScramCredentialsResponse::default().with_results(results)
}

async fn apply_all(broker: &Arc<Broker>, changes: Vec<Checked>) -> Result<(), (i16, String)> {
    let changes: Vec<SecurityChange> = changes.into_iter().collect::<Result<_, _>>()?;
    for change in changes {
        change_security(broker, change)
            .await
            .map_err(|(code, message)| {
                let code = if code == ResponseError::InvalidRequest.code() {
                    ResponseError::ResourceNotFound.code()
                } else {
                    code
                };
                (code, message)
            })?;
    }
    Ok(())
}
