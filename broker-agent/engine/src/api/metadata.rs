//! Metadata and DescribeCluster: the broker, its topics and partitions. A standalone
//! broker leads every partition with leader epoch 0.

use std::{collections::BTreeMap, sync::Arc};

use kafka_protocol::{
    messages::{
        describe_cluster_response::DescribeClusterBroker,
        metadata_response::{
            MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
        },
        BrokerId, DescribeClusterRequest, DescribeClusterResponse, MetadataRequest,
        MetadataResponse, TopicName,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::blocking;
use crate::{
    broker::{Broker, STANDALONE_LEADER_EPOCH},
    topics::TopicMeta,
};

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn describe_topic(broker: &Broker, t: &TopicMeta, version: i16) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let partitions = (0..t.partitions)
        .map(|p| {
            let mut part = MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node]);
            if version >= 7 {
                part.leader_epoch = STANDALONE_LEADER_EPOCH;
            }
            part
        })
        .collect();
    let mut topic = MetadataResponseTopic::default()
        .with_name(Some(topic_name(&t.name)))
        .with_partitions(partitions);
    if version >= 10 {
        topic.topic_id = t.id;
    }
    topic
}

fn unknown_topic(name: &str) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
}

pub async fn metadata(
    broker: &Arc<Broker>,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let wanted: Option<Vec<String>> = match req.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None,
        Some(list) => Some(
            list.into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .collect(),
        ),
    };
    let may_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let topics = match wanted {
        None => broker
            .topics()
            .iter()
            .map(|t| describe_topic(broker, t, version))
            .collect(),
        Some(names) => {
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let found = match broker.topic(&name) {
                    Some(t) => Some(t),
                    None if may_create => {
                        let (b, n) = (broker.clone(), name.clone());
                        blocking(move || b.create_topic(&n, None, None, BTreeMap::new(), false))
                            .await
                            .ok()
                    }
                    None => None,
                };
                out.push(match found {
                    Some(t) => describe_topic(broker, &t, version),
                    None => unknown_topic(&name),
                });
            }
            out
        }
    };
    let (host, port) = &broker.config.advertised;
    let me = MetadataResponseBroker::default()
        .with_node_id(BrokerId(broker.config.node_id))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(i32::from(*port));
    let mut resp = MetadataResponse::default()
        .with_brokers(vec![me])
        .with_topics(topics);
    if version >= 1 {
        resp.controller_id = BrokerId(broker.config.node_id);
    }
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id.clone()));
    }
    resp
}

pub fn describe_cluster(
    broker: &Arc<Broker>,
    _req: DescribeClusterRequest,
    _version: i16,
) -> DescribeClusterResponse {
    let (host, port) = &broker.config.advertised;
    let me = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.config.node_id))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(i32::from(*port));
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_brokers(vec![me])
}
