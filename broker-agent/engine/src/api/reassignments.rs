//! Moving replicas and electing leaders through Kafka's own APIs, so Kafka's tools
//! (`kafka-reassign-partitions`, `kafka-leader-election`) and any admin client work:
//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455), ElectLeaders.
//! Altering and electing need ALTER on the cluster, listing DESCRIBE. In a cluster each
//! change goes through the metadata quorum (`cluster::reassign` holds the rules); a
//! standalone broker applies the same rules to its one replica, so it accepts a no-op
//! and refuses the rest as Kafka would.

use std::{collections::BTreeSet, sync::Arc};

use kafka_protocol::{
    messages::{
        alter_partition_reassignments_response::{
            ReassignablePartitionResponse, ReassignableTopicResponse,
        },
        elect_leaders_response::{PartitionResult, ReplicaElectionResult},
        list_partition_reassignments_response::{
            OngoingPartitionReassignment, OngoingTopicReassignment,
        },
        AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
        ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsRequest,
        ListPartitionReassignmentsResponse,
    },
    ResponseError,
};

use super::{metadata::topic_name, s, Client};
use crate::{
    broker::Broker,
    cluster::{
        image::{codes, Outcome, PartitionState},
        reassign::{self, check_target, reassign_codes::ELECTION_NOT_NEEDED},
        sync as cluster,
    },
    security::acl::op,
    topics::TopicError,
};

/// ElectLeaders' election types.
const UNCLEAN: i8 = 1;

/// A partition's replication state: from the cluster's image, or a standalone broker's
/// one replica. None when the partition does not exist.
fn partition_state(broker: &Broker, topic: &str, partition: i32) -> Option<PartitionState> {
    let index = usize::try_from(partition).ok()?;
    if let Some(q) = broker.quorum() {
        return q.image().topics.get(topic)?.partitions.get(index).cloned();
    }
    let exists = broker
        .topic(topic)
        .is_some_and(|t| partition < t.partitions);
    let me = broker.config.node_id;
    exists.then(|| PartitionState {
        replicas: vec![me],
        isr: vec![me],
        leader: me,
        leader_epoch: broker.leader_epoch(topic, partition),
        adding: Vec::new(),
        removing: Vec::new(),
    })
}

/// The brokers a reassignment may name.
fn registered(broker: &Broker) -> BTreeSet<i32> {
    match broker.quorum() {
        Some(q) => q.image().brokers.keys().copied().collect(),
        None => BTreeSet::from([broker.config.node_id]),
    }
}

/// An outcome as an answer's (error code, message); an empty message is none.
fn answer(outcome: Result<(), (i16, String)>) -> (i16, Option<String>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, message)) => (code, Some(message).filter(|m| !m.is_empty())),
    }
}

fn refused(outcome: Outcome) -> Result<(), (i16, String)> {
    match outcome {
        Outcome::Rejected { code, message } => Err((code, message)),
        _ => Ok(()),
    }
}

fn committed(result: Result<(), TopicError>) -> Result<(), (i16, String)> {
    result.map_err(|e| (e.code(), e.to_string()))
}

/// Reassigns (or, with `to` None, cancels the reassignment of) one partition.
async fn alter_one(
    broker: &Broker,
    topic: &str,
    partition: i32,
    to: Option<Vec<i32>>,
) -> (i16, Option<String>) {
    let Some(mut state) = partition_state(broker, topic, partition) else {
        let message = format!("Unable to find partition {topic}:{partition}.");
        return (codes::UNKNOWN_TOPIC_OR_PARTITION, Some(message));
    };
    if let Some(target) = &to {
        if let Err(outcome) = check_target(target, &registered(broker)) {
            return answer(refused(outcome));
        }
    }
    let outcome = match broker.quorum() {
        Some(q) => committed(cluster::reassign(q, topic, partition, to).await),
        None => {
            let alive = BTreeSet::from([broker.config.node_id]);
            refused(reassign::reassign(&mut state, to.as_deref(), &alive))
        }
    };
    answer(outcome)
}

pub async fn alter_partition_reassignments(
    broker: &Arc<Broker>,
    req: AlterPartitionReassignmentsRequest,
    client: &Client,
) -> AlterPartitionReassignmentsResponse {
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(req.allow_replication_factor_change)
        .with_error_message(None);
    if !client.may_cluster(broker, op::ALTER) {
        return response
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(s(
                ResponseError::ClusterAuthorizationFailed.to_string()
            )));
    }
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let to = p
                .replicas
                .map(|rs| rs.iter().map(|b| b.0).collect::<Vec<_>>());
            let resized = match (&to, partition_state(broker, &t.name.0, p.partition_index)) {
                (Some(to), Some(state)) => to.len() != state.replicas.len() - state.adding.len(),
                _ => false,
            };
            let (code, message) = if resized && !req.allow_replication_factor_change {
                (
                    ResponseError::InvalidReplicationFactor.code(),
                    Some("The replication factor is changed but allowReplicationFactorChange is false.".into()),
                )
            } else {
                alter_one(broker, &t.name.0, p.partition_index, to).await
            };
            partitions.push(
                ReassignablePartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code)
                    .with_error_message(message.map(s)),
            );
        }
        topics.push(
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    response.with_responses(topics)
}

pub fn list_partition_reassignments(
    broker: &Arc<Broker>,
    req: ListPartitionReassignmentsRequest,
    client: &Client,
) -> ListPartitionReassignmentsResponse {
    if !client.may_cluster(broker, op::DESCRIBE) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(s(
                ResponseError::ClusterAuthorizationFailed.to_string()
            )));
    }
    let Some(quorum) = broker.quorum() else {
        // One replica per partition: nothing is ever being moved.
        return ListPartitionReassignmentsResponse::default().with_error_message(None);
    };
    let image = quorum.image();
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let mut topics = Vec::new();
    for (name, t) in &image.topics {
        let asked = wanted
            .as_ref()
            .map(|w| w.iter().find(|(n, _)| n == name).map(|(_, ps)| ps));
        if asked == Some(None) {
            continue;
        }
        let ongoing: Vec<OngoingPartitionReassignment> = t
            .partitions
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                (!p.adding.is_empty() || !p.removing.is_empty())
                    && asked.flatten().is_none_or(|ps| ps.contains(&(*i as i32)))
            })
            .map(|(i, p)| {
                let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect();
                OngoingPartitionReassignment::default()
                    .with_partition_index(i as i32)
                    .with_replicas(ids(&p.replicas))
                    .with_adding_replicas(ids(&p.adding))
                    .with_removing_replicas(ids(&p.removing))
            })
            .collect();
        if !ongoing.is_empty() {
            topics.push(
                OngoingTopicReassignment::default()
                    .with_name(topic_name(name))
                    .with_partitions(ongoing),
            );
        }
    }
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}

/// Elects a leader for one partition.
async fn elect_one(
    broker: &Broker,
    topic: &str,
    partition: i32,
    unclean: bool,
) -> (i16, Option<String>) {
    let Some(mut state) = partition_state(broker, topic, partition) else {
        let message = format!("No such partition as {topic}-{partition}");
        return (codes::UNKNOWN_TOPIC_OR_PARTITION, Some(message));
    };
    let outcome = match broker.quorum() {
        Some(q) => committed(cluster::elect_leader(q, topic, partition, unclean).await),
        None => {
            let alive = BTreeSet::from([broker.config.node_id]);
            refused(reassign::elect(&mut state, unclean, &alive))
        }
    };
    answer(outcome)
}

pub async fn elect_leaders(
    broker: &Arc<Broker>,
    req: ElectLeadersRequest,
    version: i16,
    client: &Client,
) -> ElectLeadersResponse {
    if !client.may_cluster(broker, op::ALTER) {
        return ElectLeadersResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let unclean = version >= 1 && req.election_type == UNCLEAN;
    // Every partition when none are named; then, as Kafka does, only those where an
    // election was needed are reported.
    let every = req.topic_partitions.is_none();
    let asked: Vec<(String, Vec<i32>)> = match req.topic_partitions {
        Some(ts) => ts
            .into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect(),
        None => broker
            .topics()
            .into_iter()
            .map(|t| (t.name, (0..t.partitions).collect()))
            .collect(),
    };
    let mut results = Vec::with_capacity(asked.len());
    for (topic, partitions) in asked {
        let mut answers = Vec::with_capacity(partitions.len());
        for p in partitions {
            let (code, message) = elect_one(broker, &topic, p, unclean).await;
            if every && code == ELECTION_NOT_NEEDED {
                continue;
            }
            answers.push(
                PartitionResult::default()
                    .with_partition_id(p)
                    .with_error_code(code)
                    .with_error_message(message.map(s)),
            );
        }
        if !answers.is_empty() || !every {
            results.push(
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&topic))
                    .with_partition_result(answers),
            );
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}
