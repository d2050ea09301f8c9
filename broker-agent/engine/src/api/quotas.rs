//! DescribeClientQuotas and AlterClientQuotas for user and client-id entities (with
//! defaults). Describing needs DESCRIBE_CONFIGS on the cluster, altering ALTER_CONFIGS.

use std::sync::Arc;

use kafka_protocol::{
    messages::{
        alter_client_quotas_response, describe_client_quotas_response, AlterClientQuotasRequest,
        AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{authz::change_security, Client};
use crate::{
    broker::Broker,
    security::{
        acl::op,
        quota::{EntityName, QuotaEntity, QuotaValue, KEYS},
        SecurityChange,
    },
};

const USER: &str = "user";
const CLIENT_ID: &str = "client-id";
/// DescribeClientQuotas match types.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;

fn entity_parts(e: &QuotaEntity) -> Vec<(&'static str, Option<String>)> {
    let name = |n: &EntityName| match n {
        EntityName::Named(n) => Some(n.clone()),
        EntityName::Default => None,
    };
    let mut parts = Vec::new();
    if let Some(u) = &e.user {
        parts.push((USER, name(u)));
    }
    if let Some(c) = &e.client_id {
        parts.push((CLIENT_ID, name(c)));
    }
    parts
}

fn component_matches(side: Option<&EntityName>, match_type: i8, wanted: Option<&str>) -> bool {
    match (side, match_type) {
        (None, _) => false,
        (Some(EntityName::Named(n)), MATCH_EXACT) => Some(n.as_str()) == wanted,
        (Some(side), MATCH_DEFAULT) => *side == EntityName::Default,
        (Some(_), _) => true,
    }
}

pub fn describe(
    broker: &Arc<Broker>,
    req: DescribeClientQuotasRequest,
    client: &Client,
) -> DescribeClientQuotasResponse {
    if !client.may_cluster(broker, op::DESCRIBE_CONFIGS) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "describing quotas needs DESCRIBE_CONFIGS on the cluster",
            )));
    }
    for c in &req.components {
        if c.entity_type.as_str() != USER && c.entity_type.as_str() != CLIENT_ID {
            return DescribeClientQuotasResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "unknown entity type {}; known: user, client-id",
                    c.entity_type.as_str()
                ))));
        }
    }
    let state = broker.security.state();
    let entries = state
        .quotas
        .iter()
        .filter(|(entity, _)| {
            let each = req.components.iter().all(|c| {
                let side = if c.entity_type.as_str() == USER {
                    entity.user.as_ref()
                } else {
                    entity.client_id.as_ref()
                };
                component_matches(side, c.match_type, c._match.as_deref())
            });
            let strict_ok = !req.strict || entity_parts(entity).len() == req.components.len();
            each && strict_ok
        })
        .map(|(entity, values)| {
            let entity = entity_parts(entity)
                .into_iter()
                .map(|(t, n)| {
                    describe_client_quotas_response::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str(t))
                        .with_entity_name(n.map(StrBytes::from_string))
                })
                .collect();
            let values = values
                .iter()
                .map(|(k, v)| {
                    describe_client_quotas_response::ValueData::default()
                        .with_key(StrBytes::from_string(k.clone()))
                        .with_value(v.0)
                })
                .collect();
            describe_client_quotas_response::EntryData::default()
                .with_entity(entity)
                .with_values(values)
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

/// The entity of an AlterClientQuotas entry, checked.
fn entity_of(
    parts: &[kafka_protocol::messages::alter_client_quotas_request::EntityData],
) -> Result<QuotaEntity, String> {
    let mut entity = QuotaEntity::default();
    for p in parts {
        let name = match &p.entity_name {
            Some(n) if !n.is_empty() => EntityName::Named(n.to_string()),
            _ => EntityName::Default,
        };
        let slot = match p.entity_type.as_str() {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client_id,
            other => {
                return Err(format!(
                    "unknown entity type {other}; known: user, client-id"
                ))
            }
        };
        if slot.replace(name).is_some() {
            return Err(format!(
                "entity type {} is given twice",
                p.entity_type.as_str()
            ));
        }
    }
    if entity.user.is_none() && entity.client_id.is_none() {
        return Err("the entity is empty".into());
    }
    Ok(entity)
}

pub async fn alter(
    broker: &Arc<Broker>,
    req: AlterClientQuotasRequest,
    client: &Client,
) -> AlterClientQuotasResponse {
    let allowed = client.may_cluster(broker, op::ALTER_CONFIGS);
    let mut results = Vec::with_capacity(req.entries.len());
    for entry in req.entries {
        let checked = if !allowed {
            Err((
                ResponseError::ClusterAuthorizationFailed.code(),
                "altering quotas needs ALTER_CONFIGS on the cluster".to_owned(),
            ))
        } else {
            check_entry(&entry).map_err(|e| (ResponseError::InvalidRequest.code(), e))
        };
        let outcome = match checked {
            Ok(change) if !req.validate_only => change_security(broker, change).await,
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        let entity = entry
            .entity
            .iter()
            .map(|e| {
                alter_client_quotas_response::EntityData::default()
                    .with_entity_type(e.entity_type.clone())
                    .with_entity_name(e.entity_name.clone())
            })
            .collect();
        let mut r = alter_client_quotas_response::EntryData::default().with_entity(entity);
        if let Err((code, message)) = outcome {
            r.error_code = code;
            r.error_message = Some(StrBytes::from_string(message));
        }
        results.push(r);
    }
    AlterClientQuotasResponse::default().with_entries(results)
}

fn check_entry(
    entry: &kafka_protocol::messages::alter_client_quotas_request::EntryData,
) -> Result<SecurityChange, String> {
    let entity = entity_of(&entry.entity)?;
    let mut values = Vec::with_capacity(entry.ops.len());
    for o in &entry.ops {
        let key = o.key.to_string();
        if !KEYS.contains(&key.as_str()) {
            return Err(format!("unknown quota {key}; known: {}", KEYS.join(", ")));
        }
        if o.remove {
            values.push((key, None));
        } else if o.value.is_finite() && o.value > 0.0 {
            values.push((key, Some(QuotaValue(o.value))));
        } else {
            return Err(format!(
                "quota {key} must be a positive number, got {}",
                o.value
            ));
        }
    }
    Ok(SecurityChange::AlterQuotas { entity, values })
}
