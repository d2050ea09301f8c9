//! Applies topic changes to a cluster over the Kafka protocol (rdkafka's admin client), so
//! the control plane works with any Kafka-compatible engine.

use std::{collections::BTreeMap, time::Duration};

use rdkafka::{
    admin::{
        AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
    },
    client::DefaultClientContext,
    types::RDKafkaErrorCode,
    ClientConfig,
};

use crate::error::ApiError;

const TIMEOUT: Duration = Duration::from_secs(15);

fn admin(base: &ClientConfig) -> Result<AdminClient<DefaultClientContext>, ApiError> {
    base.clone()
        .set("socket.timeout.ms", "10000")
        .set("log_level", "3")
        .create()
        .map_err(|e| ApiError::Internal(format!("kafka admin client: {e}")))
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(TIMEOUT))
        .operation_timeout(Some(TIMEOUT))
}

fn refused(step: &str, code: RDKafkaErrorCode) -> ApiError {
    match code {
        RDKafkaErrorCode::TopicAlreadyExists => {
            ApiError::Conflict(format!("{step}: the topic already exists on the cluster"))
        }
        RDKafkaErrorCode::UnknownTopicOrPartition => {
            ApiError::NotFound(format!("{step}: the cluster does not have this topic"))
        }
        RDKafkaErrorCode::InvalidConfig
        | RDKafkaErrorCode::InvalidPartitions
        | RDKafkaErrorCode::InvalidReplicationFactor
        | RDKafkaErrorCode::InvalidTopic => {
            ApiError::BadRequest(format!("{step}: the cluster refused it: {code}"))
        }
        other => ApiError::Unavailable(format!("{step}: the cluster answered {other}")),
    }
}

fn unreachable_cluster(step: &str, e: rdkafka::error::KafkaError) -> ApiError {
    ApiError::Unavailable(format!("{step}: the cluster cannot be reached: {e}"))
}

pub async fn create_topic(
    base: &ClientConfig,
    name: &str,
    partitions: i32,
    rf: i32,
    configs: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let r = admin(base)?
        .create_topics([&topic], &options())
        .await
        .map_err(|e| unreachable_cluster("create topic", e))?;
    r[0].as_ref()
        .map(drop)
        .map_err(|(_, code)| refused("create topic", *code))
}

pub async fn delete_topic(base: &ClientConfig, name: &str) -> Result<(), ApiError> {
    let r = admin(base)?
        .delete_topics(&[name], &options())
        .await
        .map_err(|e| unreachable_cluster("delete topic", e))?;
    match &r[0] {
        Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => Ok(()),
        Err((_, code)) => Err(refused("delete topic", *code)),
    }
}

/// Replaces the topic's config overrides (Kafka's AlterConfigs), then reads them back:
/// rdkafka does not report per-topic errors of AlterConfigs, the read-back does.
pub async fn set_topic_configs(
    base: &ClientConfig,
    name: &str,
    configs: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let client = admin(base)?;
    let mut change = AlterConfig::new(ResourceSpecifier::Topic(name));
    for (k, v) in configs {
        change = change.set(k, v);
    }
    client
        .alter_configs([&change], &options())
        .await
        .map_err(|e| unreachable_cluster("alter topic configs", e))?;
    let described = client
        .describe_configs([&ResourceSpecifier::Topic(name)], &options())
        .await
        .map_err(|e| unreachable_cluster("read topic configs", e))?;
    let resource = described[0]
        .as_ref()
        .map_err(|code| refused("read topic configs", *code))?;
    for (k, v) in configs {
        if resource.get(k).and_then(|e| e.value.as_deref()) != Some(v.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "alter topic configs: the cluster did not accept {k}={v}"
            )));
        }
    }
    Ok(())
}
