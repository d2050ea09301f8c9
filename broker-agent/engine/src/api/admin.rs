//! Topic administration: CreateTopics (CREATE on the cluster or topic), DeleteTopics
//! (DELETE on the topic), CreatePartitions (ALTER on the topic).

use std::{collections::BTreeMap, sync::Arc};

use kafka_protocol::{
    messages::{
        create_partitions_response::CreatePartitionsTopicResult,
        create_topics_response::CreatableTopicResult, delete_topics_response::DeletableTopicResult,
        CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
        CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{blocking, metadata::topic_name, Client};
use crate::{
    broker::{Broker, TopicError},
    cluster::sync as cluster,
    security::acl::op,
};

fn unauthorized(client: &Client, what: &str, name: &str) -> (i16, Option<StrBytes>) {
    (
        ResponseError::TopicAuthorizationFailed.code(),
        Some(StrBytes::from_string(format!(
            "{} may not {what} {name}",
            client.principal
        ))),
    )
}

fn message(e: &TopicError) -> Option<StrBytes> {
    Some(StrBytes::from_string(e.to_string()))
}

pub async fn create_topics(
    broker: &Arc<Broker>,
    req: CreateTopicsRequest,
    version: i16,
    client: &Client,
) -> CreateTopicsResponse {
    let validate_only = req.validate_only;
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let partitions = (t.num_partitions != -1).then_some(t.num_partitions);
        let rf = (t.replication_factor != -1).then_some(t.replication_factor);
        if !client.may_create_topic(broker, &name) {
            let (code, text) = unauthorized(client, "create", &name);
            results.push(
                CreatableTopicResult::default()
                    .with_name(topic_name(&name))
                    .with_error_code(code)
                    .with_error_message(text),
            );
            continue;
        }
        let mut configs = BTreeMap::new();
        for c in t.configs {
            if let Some(v) = c.value {
                configs.insert(c.name.to_string(), v.to_string());
            }
        }
        let outcome = if !t.assignments.is_empty() {
            Err(TopicError::InvalidPartitions(
                "manual replica assignments are not supported".into(),
            ))
        } else if let Some(q) = broker.quorum() {
            cluster::create_topic(broker, q, &name, partitions, rf, configs, validate_only).await
        } else {
            let (b, n) = (broker.clone(), name.clone());
            blocking(move || b.create_topic(&n, partitions, rf, configs, validate_only)).await
        };
        let mut result = CreatableTopicResult::default().with_name(topic_name(&name));
        match outcome {
            Ok(meta) => {
                if version >= 5 {
                    result.num_partitions = meta.partitions;
                    result.replication_factor = broker
                        .quorum()
                        .and_then(|q| {
                            let image = q.image();
                            let t = image.topics.get(&name)?;
                            Some(t.partitions.first()?.replicas.len() as i16)
                        })
                        .unwrap_or(rf.unwrap_or(1));
                }
                if version >= 7 {
                    result.topic_id = meta.id;
                }
            }
            Err(e) => {
                result.error_code = e.code();
                result.error_message = message(&e);
            }
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete_topics(
    broker: &Arc<Broker>,
    req: DeleteTopicsRequest,
    version: i16,
    client: &Client,
) -> DeleteTopicsResponse {
    let names: Vec<Option<String>> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| {
                t.name.map(|n| n.0.to_string()).or_else(|| {
                    broker
                        .topics()
                        .into_iter()
                        .find(|m| m.id == t.topic_id)
                        .map(|m| m.name)
                })
            })
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| Some(n.0.to_string()))
            .collect()
    };
    let mut responses = Vec::with_capacity(names.len());
    for name in names {
        let mut r = DeletableTopicResult::default();
        let Some(name) = name else {
            r.error_code = ResponseError::UnknownTopicId.code();
            responses.push(r);
            continue;
        };
        r.name = Some(topic_name(&name));
        if !client.may_topic(broker, op::DELETE, &name) {
            let (code, text) = unauthorized(client, "delete", &name);
            r.error_code = code;
            if version >= 5 {
                r.error_message = text;
            }
            responses.push(r);
            continue;
        }
        let (b, n) = (broker.clone(), name.clone());
        let deleted = match broker.quorum() {
            Some(q) => cluster::delete_topic(q, &name).await,
            None => blocking(move || b.delete_topic(&n)).await,
        };
        match deleted {
            Ok(meta) if version >= 6 => r.topic_id = meta.id,
            Ok(_) => {}
            Err(e) => {
                r.error_code = e.code();
                if version >= 5 {
                    r.error_message = message(&e);
                }
            }
        }
        responses.push(r);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    broker: &Arc<Broker>,
    req: CreatePartitionsRequest,
    client: &Client,
) -> CreatePartitionsResponse {
    let validate_only = req.validate_only;
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let (b, n, count) = (broker.clone(), name.clone(), t.count);
        let mut r = CreatePartitionsTopicResult::default().with_name(topic_name(&name));
        if !client.may_topic(broker, op::ALTER, &name) {
            (r.error_code, r.error_message) = unauthorized(client, "add partitions to", &name);
            results.push(r);
            continue;
        }
        let created = match broker.quorum() {
            Some(q) => cluster::create_partitions(q, &name, count, validate_only).await,
            None => blocking(move || b.create_partitions(&n, count, validate_only)).await,
        };
        if let Err(e) = created {
            r.error_code = e.code();
            r.error_message = message(&e);
        }
        results.push(r);
    }
    CreatePartitionsResponse::default().with_results(results)
}
