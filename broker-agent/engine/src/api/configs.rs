//! Configs and record deletion: DescribeConfigs, AlterConfigs (replaces a topic's
//! overrides), IncrementalAlterConfigs (SET and DELETE), DeleteRecords.

use std::{collections::BTreeMap, sync::Arc};

use kafka_protocol::{
    messages::{
        alter_configs_response::AlterConfigsResourceResponse,
        delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult},
        describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult},
        incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult,
        AlterConfigsRequest, AlterConfigsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
        DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{blocking, log_error_code, Client};
use crate::{
    broker::{Broker, TopicError},
    log::config::{LogConfig, PASSIVE_CONFIGS},
    security::acl::op,
};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config sources as Kafka numbers them.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;

fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// (name, value, source) of every config of a topic.
fn topic_configs(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<(String, String, i8)> {
    let effective = broker
        .config
        .log
        .with_overrides(overrides)
        .unwrap_or_else(|_| broker.config.log.clone());
    let stock = LogConfig::default();
    let mut out: Vec<(String, String, i8)> = LogConfig::NAMES
        .iter()
        .map(|name| {
            let value = effective.value_of(name).unwrap_or_default();
            let source = if overrides.contains_key(*name) {
                DYNAMIC_TOPIC_CONFIG
            } else if broker.config.log.value_of(name) != stock.value_of(name) {
                STATIC_BROKER_CONFIG
            } else {
                DEFAULT_CONFIG
            };
            (name.to_string(), value, source)
        })
        .collect();
    for name in PASSIVE_CONFIGS {
        let value = overrides
            .get(*name)
            .cloned()
            .unwrap_or_else(|| passive_default(name).into());
        let source = if overrides.contains_key(*name) {
            DYNAMIC_TOPIC_CONFIG
        } else if *name == "min.insync.replicas" {
            // A KRaft cluster of Kafka 4 writes this one as a cluster-wide default when its
            // storage is formatted, and reports it so (conformance.rs compares).
            DYNAMIC_DEFAULT_BROKER_CONFIG
        } else {
            DEFAULT_CONFIG
        };
        out.push((name.to_string(), value, source));
    }
    out
}

fn passive_default(name: &str) -> &'static str {
    match name {
        "min.insync.replicas" => "1",
        "unclean.leader.election.enable" => "false",
        "compression.type" => "producer",
        "message.timestamp.type" => "CreateTime",
        "cleanup.policy" => "delete",
        _ => "",
    }
}

fn broker_configs(broker: &Broker) -> Vec<(String, String, i8)> {
    let log = &broker.config.log;
    [
        ("node.id", broker.config.node_id.to_string()),
        (
            "auto.create.topics.enable",
            broker.config.auto_create_topics.to_string(),
        ),
        (
            "num.partitions",
            broker.config.default_partitions.to_string(),
        ),
        (
            "socket.request.max.bytes",
            broker.config.max_request_bytes.to_string(),
        ),
        ("log.retention.ms", log.retention_ms.to_string()),
        ("log.retention.bytes", log.retention_bytes.to_string()),
        ("log.segment.bytes", log.segment_bytes.to_string()),
        (
            "log.flush.interval.messages",
            log.flush_messages.to_string(),
        ),
        ("log.flush.interval.ms", log.flush_ms.to_string()),
        ("message.max.bytes", log.max_message_bytes.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v, STATIC_BROKER_CONFIG))
    .collect()
}

pub fn describe_configs(
    broker: &Arc<Broker>,
    req: DescribeConfigsRequest,
    version: i16,
    client: &Client,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let mut result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let (configs, read_only) = match r.resource_type {
                TOPIC if !client.may_topic(broker, op::DESCRIBE_CONFIGS, &r.resource_name) => {
                    result.error_code = ResponseError::TopicAuthorizationFailed.code();
                    return result;
                }
                BROKER if !client.may_cluster(broker, op::DESCRIBE_CONFIGS) => {
                    result.error_code = ResponseError::ClusterAuthorizationFailed.code();
                    return result;
                }
                TOPIC => match broker.topic(&r.resource_name) {
                    Some(t) => (topic_configs(broker, &t.configs), false),
                    None => {
                        result.error_code = ResponseError::UnknownTopicOrPartition.code();
                        result.error_message = Some(s(format!(
                            "topic {:?} does not exist",
                            r.resource_name.as_str()
                        )));
                        return result;
                    }
                },
                BROKER
                    if r.resource_name.is_empty()
                        || r.resource_name.as_str() == broker.config.node_id.to_string() =>
                {
                    (broker_configs(broker), true)
                }
                _ => {
                    result.error_code = ResponseError::InvalidRequest.code();
                    result.error_message =
                        Some(s("only topic and this broker's configs can be described"));
                    return result;
                }
            };
            let keys: Option<Vec<String>> = r
                .configuration_keys
                .map(|k| k.iter().map(|k| k.to_string()).collect());
            result.configs = configs
                .into_iter()
                .filter(|(name, _, _)| keys.as_ref().is_none_or(|k| k.contains(name)))
                .map(|(name, value, source)| {
                    let mut c = DescribeConfigsResourceResult::default()
                        .with_name(s(name))
                        .with_value(Some(s(value)))
                        .with_read_only(read_only);
                    if version >= 1 {
                        c.config_source = source;
                    }
                    c
                })
                .collect();
            result
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Applies `change` to a topic's overrides; the error becomes the resource's answer.
async fn alter_topic(
    broker: &Arc<Broker>,
    client: &Client,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), String> + Send + 'static,
) -> (i16, Option<StrBytes>) {
    if resource_type == TOPIC && !client.may_topic(broker, op::ALTER_CONFIGS, name) {
        return (
            ResponseError::TopicAuthorizationFailed.code(),
            Some(s(format!(
                "{} may not alter the configs of {name}",
                client.principal
            ))),
        );
    }
    if resource_type != TOPIC {
        return (
            ResponseError::InvalidRequest.code(),
            Some(s("only topic configs can be changed on this broker")),
        );
    }
    let Some(topic) = broker.topic(name) else {
        return (
            ResponseError::UnknownTopicOrPartition.code(),
            Some(s(format!("topic {name:?} does not exist"))),
        );
    };
    let mut configs = topic.configs;
    if let Err(e) = change(&mut configs) {
        return (ResponseError::InvalidConfig.code(), Some(s(e)));
    }
    let (b, n) = (broker.clone(), name.to_owned());
    let changed = match broker.quorum() {
        Some(q) => {
            crate::cluster::sync::set_topic_configs(broker, q, name, configs, validate_only).await
        }
        None => blocking(move || b.set_topic_configs(&n, configs, validate_only)).await,
    };
    match changed {
        Ok(()) => (0, None),
        Err(e @ TopicError::InvalidConfig(_)) => (e.code(), Some(s(e.to_string()))),
        Err(e) => (e.code(), Some(s(e.to_string()))),
    }
}

pub async fn alter_configs(
    broker: &Arc<Broker>,
    req: AlterConfigsRequest,
    client: &Client,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let new: BTreeMap<String, String> = r
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.to_string(), v.to_string()))
            })
            .collect();
        let (code, message) = alter_topic(
            broker,
            client,
            r.resource_type,
            &r.resource_name,
            req.validate_only,
            move |configs| {
                *configs = new;
                Ok(())
            },
        )
        .await;
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub async fn incremental_alter_configs(
    broker: &Arc<Broker>,
    req: IncrementalAlterConfigsRequest,
    client: &Client,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let ops: Vec<(String, i8, Option<String>)> = r
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        let (code, message) = alter_topic(
            broker,
            client,
            r.resource_type,
            &r.resource_name,
            req.validate_only,
            move |configs| {
                for (name, op, value) in ops {
                    match (op, value) {
                        (SET, Some(v)) => {
                            configs.insert(name, v);
                        }
                        (DELETE, _) => {
                            configs.remove(&name);
                        }
                        (SET, None) => return Err(format!("SET of {name} needs a value")),
                        _ => {
                            return Err(format!("{name}: only SET and DELETE apply to this config"))
                        }
                    }
                }
                Ok(())
            },
        )
        .await;
        responses.push(
            IncrementalResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Moves each partition's log start to the given offset (-1: the high watermark).
pub async fn delete_records(
    broker: &Arc<Broker>,
    req: DeleteRecordsRequest,
    client: &Client,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let allowed = client.may_topic(broker, op::DELETE, &t.name.0);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            let led = if allowed {
                broker.led_partition(&t.name.0, p.partition_index)
            } else {
                Err(ResponseError::TopicAuthorizationFailed.code())
            };
            match led {
                Err(code) => r.error_code = code,
                Ok(part) => {
                    let offset = p.offset;
                    let outcome = blocking(move || {
                        let mut log = part.log.lock().unwrap_or_else(|e| e.into_inner());
                        let target = if offset == -1 {
                            log.log_end_offset()
                        } else {
                            offset
                        };
                        log.delete_records_before(target)
                    })
                    .await;
                    match outcome {
                        Ok(low) => r.low_watermark = low,
                        Err(e) => r.error_code = log_error_code(&e),
                    }
                }
            }
            partitions.push(r);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
