//! Configs and record deletion: DescribeConfigs, AlterConfigs (replaces a topic's
//! overrides), IncrementalAlterConfigs (SET and DELETE), DeleteRecords.

use std::{collections::BTreeMap, sync::Arc};

use kafka_protocol::{
    messages::{
        alter_configs_response::AlterConfigsResourceResponse,
        delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult},
        describe_configs_response::{
            DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
        },
        incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult,
        AlterConfigsRequest, AlterConfigsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
        DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{
    blocking,
    config_catalog::{
        describe, edit_list, topic_config, ConfigType, Described, Levels, TopicConfigSpec,
        STATIC_BROKER_CONFIG, TOPIC_CONFIGS,
    },
    log_error_code, s, Client,
};
use crate::{
    broker::{Broker, TopicError},
    log::config::LogConfig,
    security::acl::op,
};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// One described config: its name, type, value, source and synonyms.
struct Entry {
    name: String,
    kind: ConfigType,
    described: Described,
}

/// One topic config as Kafka would describe it: value, source and synonym chain.
fn describe_topic_config(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
    spec: &TopicConfigSpec,
) -> Described {
    let name = spec.name;
    let (configured, built_in) = match LogConfig::default().value_of(name) {
        Some(built_in) => (broker.config.log.value_of(name), built_in),
        None => (None, passive_default(name).to_owned()),
    };
    let levels = Levels {
        topic: overrides.get(name).map(String::as_str),
        // A KRaft cluster of Kafka 4 writes this one as a cluster-wide default when its
        // storage is formatted, and reports it so.
        dynamic_default: (name == "min.insync.replicas").then_some("1"),
        static_broker: configured.as_deref().filter(|v| *v != built_in),
        built_in: &built_in,
    };
    describe(spec, &levels)
}

/// Every config of a topic, described as Kafka would.
fn topic_configs(broker: &Broker, overrides: &BTreeMap<String, String>) -> Vec<Entry> {
    TOPIC_CONFIGS
        .iter()
        .map(|spec| Entry {
            name: spec.name.to_owned(),
            kind: spec.kind,
            described: describe_topic_config(broker, overrides, spec),
        })
        .collect()
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

/// The current value of a topic config (as DescribeConfigs reports it).
fn current_value(broker: &Broker, overrides: &BTreeMap<String, String>, name: &str) -> String {
    topic_config(name)
        .map(|spec| describe_topic_config(broker, overrides, spec).0)
        .unwrap_or_default()
}

fn broker_configs(broker: &Broker) -> Vec<Entry> {
    let log = &broker.config.log;
    [
        (
            "node.id",
            ConfigType::Int,
            broker.config.node_id.to_string(),
        ),
        (
            "auto.create.topics.enable",
            ConfigType::Boolean,
            broker.config.auto_create_topics.to_string(),
        ),
        (
            "num.partitions",
            ConfigType::Int,
            broker.config.default_partitions.to_string(),
        ),
        (
            "socket.request.max.bytes",
            ConfigType::Int,
            broker.config.max_request_bytes.to_string(),
        ),
        (
            "log.retention.ms",
            ConfigType::Long,
            log.retention_ms.to_string(),
        ),
        (
            "log.retention.bytes",
            ConfigType::Long,
            log.retention_bytes.to_string(),
        ),
        (
            "log.segment.bytes",
            ConfigType::Int,
            log.segment_bytes.to_string(),
        ),
        (
            "log.flush.interval.messages",
            ConfigType::Long,
            log.flush_messages.to_string(),
        ),
        (
            "log.flush.interval.ms",
            ConfigType::Long,
            log.flush_ms.to_string(),
        ),
        (
            "message.max.bytes",
            ConfigType::Int,
            log.max_message_bytes.to_string(),
        ),
    ]
    .into_iter()
    .map(|(name, kind, value)| Entry {
        name: name.to_owned(),
        kind,
        described: (
            value.clone(),
            STATIC_BROKER_CONFIG,
            vec![(name.to_owned(), value, STATIC_BROKER_CONFIG)],
        ),
    })
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
        .iter()
        .cloned()
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
                .filter(|e| keys.as_ref().is_none_or(|k| k.contains(&e.name)))
                .map(
                    |Entry {
                         name,
                         kind,
                         described: (value, source, synonyms),
                     }| {
                        let mut c = DescribeConfigsResourceResult::default()
                            .with_name(s(name))
                            .with_value(Some(s(value)))
                            .with_read_only(read_only);
                        if version >= 1 {
                            c.config_source = source;
                        }
                        if version >= 1 && req.include_synonyms {
                            c.synonyms = synonyms
                                .into_iter()
                                .map(|(name, value, source)| {
                                    DescribeConfigsSynonym::default()
                                        .with_name(s(name))
                                        .with_value(Some(s(value)))
                                        .with_source(source)
                                })
                                .collect();
                        }
                        if version >= 3 {
                            c.config_type = kind as i8;
                        }
                        c
                    },
                )
                .collect();
            result
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// The current value of a config given the topic's overrides.
type CurrentValue<'a> = dyn Fn(&str, &BTreeMap<String, String>) -> String + 'a;

/// Applies `change` to a topic's overrides; the error becomes the resource's answer.
async fn alter_topic(
    broker: &Arc<Broker>,
    client: &Client,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>, &CurrentValue<'_>) -> Result<(), String>,
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
    let current =
        |name: &str, overrides: &BTreeMap<String, String>| current_value(broker, overrides, name);
    if let Err(e) = change(&mut configs, &current) {
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
            move |configs, _| {
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
            move |configs, current| {
                for (name, op, value) in ops {
                    match (op, value) {
                        (SET, Some(v)) => {
                            configs.insert(name, v);
                        }
                        (DELETE, _) => {
                            configs.remove(&name);
                        }
                        (SET, None) => return Err(format!("SET of {name} needs a value")),
                        (APPEND | SUBTRACT, Some(v))
                            if topic_config(&name).is_some_and(|c| c.kind == ConfigType::List) =>
                        {
                            let now = current(&name, configs);
                            configs.insert(name, edit_list(&now, &v, op == APPEND));
                        }
                        (APPEND | SUBTRACT, _) => {
                            return Err(format!(
                                "{name}: APPEND and SUBTRACT apply only to list configs"
                            ))
                        }
                        _ => return Err(format!("{name}: unknown operation {op}")),
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
