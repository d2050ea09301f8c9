//! Metadata and DescribeCluster: the brokers, topics and partitions. A standalone broker
//! leads every partition with leader epoch 0; in cluster mode every broker answers from
//! the metadata quorum's image, so any of them describes the whole cluster.

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

use super::{blocking, s, Client};
use crate::{
    broker::{Broker, STANDALONE_LEADER_EPOCH},
    cluster::{
        image::{ClusterImage, TopicState, NO_LEADER},
        sync as cluster,
    },
    security::acl::op,
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

fn describe_replicated(name: &str, t: &TopicState, version: i16) -> MetadataResponseTopic {
    let ids = |v: &[i32]| v.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut part = MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr));
            if p.leader == NO_LEADER {
                part.error_code = ResponseError::LeaderNotAvailable.code();
            }
            if version >= 7 {
                part.leader_epoch = p.leader_epoch;
            }
            part
        })
        .collect();
    let mut topic = MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_partitions(partitions);
    if version >= 10 {
        topic.topic_id = t.id;
    }
    topic
}

/// The alive brokers of the image, and this broker even before its registration is
/// committed (a client that reached it can always come back).
fn cluster_brokers(
    broker: &Broker,
    image: &ClusterImage,
    listener: &str,
) -> Vec<MetadataResponseBroker> {
    let mut out: Vec<MetadataResponseBroker> = image
        .brokers
        .values()
        .filter(|b| b.alive)
        .map(|b| {
            let (host, port) = b.endpoint(listener);
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port))
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    let me = broker.config.node_id;
    if !out.iter().any(|b| b.node_id.0 == me) {
        let (host, port) = &broker.advertised_on(listener);
        let rack = broker.config.cluster.as_ref().and_then(|c| c.rack.clone());
        out.push(
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(me))
                .with_host(StrBytes::from_string(host.clone()))
                .with_port(i32::from(*port))
                .with_rack(rack.map(StrBytes::from_string)),
        );
    }
    out
}

/// The controller clients are told about: the quorum's leader when it is among the
/// listed brokers, else this broker (it forwards admin requests to the quorum anyway),
/// so an admin client never waits for a controller it cannot find.
fn reported_controller(
    broker: &Broker,
    quorum: &crate::cluster::MetadataQuorum,
    brokers: &[MetadataResponseBroker],
) -> i32 {
    quorum
        .controller()
        .map(|c| c as i32)
        .filter(|c| brokers.iter().any(|b| b.node_id.0 == *c))
        .unwrap_or(broker.config.node_id)
}

/// Metadata in cluster mode.
async fn cluster_metadata(
    broker: &Arc<Broker>,
    quorum: &crate::cluster::MetadataQuorum,
    wanted: Option<Vec<String>>,
    may_create: bool,
    version: i16,
    client: &Client,
) -> (Vec<MetadataResponseBroker>, Vec<MetadataResponseTopic>, i32) {
    if let (Some(names), true) = (&wanted, may_create) {
        for name in names {
            if !quorum.image().topics.contains_key(name) {
                let _ =
                    cluster::create_topic(broker, quorum, name, None, None, BTreeMap::new(), false)
                        .await;
            }
        }
    }
    let image = quorum.image();
    let topics = match wanted {
        None => image
            .topics
            .iter()
            .filter(|(n, _)| client.may_topic(broker, op::DESCRIBE, n))
            .map(|(n, t)| describe_replicated(n, t, version))
            .collect(),
        Some(names) => names
            .iter()
            .map(|n| match image.topics.get(n) {
                Some(t) => describe_replicated(n, t, version),
                None => unknown_topic(n),
            })
            .collect(),
    };
    let brokers = cluster_brokers(broker, &image, &client.listener.name);
    let controller = reported_controller(broker, quorum, &brokers);
    (brokers, topics, controller)
}

/// Every topic's name, from the quorum's image in cluster mode.
pub(crate) fn topic_names(broker: &Broker) -> Vec<String> {
    match broker.quorum() {
        Some(q) => q.image().topics.keys().cloned().collect(),
        None => broker.topics().iter().map(|t| t.name.clone()).collect(),
    }
}

/// One topic as the newest Metadata version describes it, if it exists.
pub(crate) fn topic_view(broker: &Broker, name: &str) -> Option<MetadataResponseTopic> {
    const NEWEST: i16 = 12;
    match broker.quorum() {
        Some(q) => q
            .image()
            .topics
            .get(name)
            .map(|t| describe_replicated(name, t, NEWEST)),
        None => broker
            .topic(name)
            .map(|t| describe_topic(broker, &t, NEWEST)),
    }
}

fn unauthorized_topic(name: &str) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
}

fn unknown_topic(name: &str) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
}

/// Metadata lists only the topics the principal may describe; a named topic it may not
/// describe is answered with TOPIC_AUTHORIZATION_FAILED (whether or not it exists).
pub async fn metadata(
    broker: &Arc<Broker>,
    req: MetadataRequest,
    version: i16,
    client: &Client,
) -> MetadataResponse {
    let mut denied = Vec::new();
    let wanted: Option<Vec<String>> = match req.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None,
        Some(list) => Some(
            list.into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .filter(|n| {
                    let allowed = client.may_topic(broker, op::DESCRIBE, n);
                    if !allowed {
                        denied.push(unauthorized_topic(n));
                    }
                    allowed
                })
                .collect(),
        ),
    };
    let may_create = broker.config.auto_create_topics
        && (version < 4 || req.allow_auto_topic_creation)
        && wanted
            .iter()
            .flatten()
            .all(|n| client.may_create_topic(broker, n));
    if let Some(q) = broker.quorum() {
        let (brokers, mut topics, controller) =
            cluster_metadata(broker, q, wanted, may_create, version, client).await;
        topics.extend(denied);
        let mut resp = MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(topics);
        if version >= 1 {
            resp.controller_id = BrokerId(controller);
        }
        if version >= 2 {
            resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id.clone()));
        }
        return resp;
    }
    let mut topics: Vec<MetadataResponseTopic> = match wanted {
        None => broker
            .topics()
            .iter()
            .filter(|t| client.may_topic(broker, op::DESCRIBE, &t.name))
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
    topics.extend(denied);
    let (host, port) = &broker.advertised_on(&client.listener.name);
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
    req: DescribeClusterRequest,
    version: i16,
    client: &Client,
) -> DescribeClusterResponse {
    // Like Kafka, every authenticated client may describe the cluster (only the
    // authorized-operations field would need DESCRIBE on it, and it is not reported).
    if version >= 1 && req.endpoint_type != BROKER_ENDPOINT {
        return DescribeClusterResponse::default()
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(s(
                "The request was sent to an endpoint of type BROKER, but we wanted an \
                 endpoint of type CONTROLLER",
            )));
    }
    let (host, port) = &broker.advertised_on(&client.listener.name);
    let me = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.config.node_id))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(i32::from(*port));
    let (brokers, controller) = match broker.quorum() {
        Some(q) => {
            let image = q.image();
            let listed = cluster_brokers(broker, &image, &client.listener.name);
            let controller = reported_controller(broker, q, &listed);
            let mut brokers: Vec<DescribeClusterBroker> = listed
                .into_iter()
                .map(|b| {
                    DescribeClusterBroker::default()
                        .with_broker_id(b.node_id)
                        .with_host(b.host)
                        .with_port(b.port)
                        .with_rack(b.rack)
                })
                .collect();
            if version >= 2 && req.include_fenced_brokers {
                // A registered broker that stopped heartbeating is what Kafka calls fenced.
                let fenced = image
                    .brokers
                    .values()
                    .filter(|b| !b.alive && b.id != me.broker_id.0);
                brokers.extend(fenced.map(|b| {
                    let (host, port) = b.endpoint(&client.listener.name);
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(b.id))
                        .with_host(s(host))
                        .with_port(i32::from(port))
                        .with_rack(b.rack.clone().map(s))
                        .with_is_fenced(true)
                }));
            }
            (brokers, controller)
        }
        None => (vec![me], broker.config.node_id),
    };
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(controller))
        .with_brokers(brokers)
}

/// DescribeCluster's endpoint type for brokers (2 is controllers, KIP-919).
const BROKER_ENDPOINT: i8 = 1;
