//! DescribeQuorum, what `kafka-metadata-quorum` asks: the metadata quorum's leader, its
//! epoch (the Raft term), its high watermark (the end of what is committed) and each
//! voter's log end as far as the answering node knows — every voter's when it leads, its
//! own otherwise (-1: unknown, as Kafka reports it). Brokers that are not voters are the
//! observers. A standalone broker has no quorum and says so. Needs DESCRIBE on the
//! cluster, as in Kafka.

use std::sync::Arc;

use kafka_protocol::{
    messages::{
        describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData},
        BrokerId, DescribeQuorumRequest, DescribeQuorumResponse,
    },
    ResponseError,
};

use super::{s, Client};
use crate::{broker::Broker, cluster::QuorumStatus, security::acl::op};

/// The topic Kafka's metadata log goes by; the engine's Raft log stands for it.
const METADATA_TOPIC: &str = "__cluster_metadata";

fn replica(id: i32, log_end: Option<i64>) -> ReplicaState {
    ReplicaState::default()
        .with_replica_id(BrokerId(id))
        .with_log_end_offset(log_end.unwrap_or(-1))
        .with_last_fetch_timestamp(-1)
        .with_last_caught_up_timestamp(-1)
}

/// The metadata partition as `status` describes it, with `observers` (broker ids).
fn describe(status: &QuorumStatus, observers: &[i32]) -> PartitionData {
    PartitionData::default()
        .with_leader_id(BrokerId(status.leader.map_or(-1, |l| l as i32)))
        .with_leader_epoch(status.term as i32)
        .with_high_watermark(status.committed_end)
        .with_current_voters(
            status
                .log_ends
                .iter()
                .map(|(id, end)| replica(*id as i32, *end))
                .collect(),
        )
        .with_observers(observers.iter().map(|id| replica(*id, None)).collect())
}

pub fn describe_quorum(
    broker: &Arc<Broker>,
    req: DescribeQuorumRequest,
    version: i16,
    client: &Client,
) -> DescribeQuorumResponse {
    let refuse = |code: ResponseError, message: &str| {
        let resp = DescribeQuorumResponse::default().with_error_code(code.code());
        if version >= 2 {
            resp.with_error_message(Some(s(message)))
        } else {
            resp
        }
    };
    if !client.may_cluster(broker, op::DESCRIBE) {
        return refuse(
            ResponseError::ClusterAuthorizationFailed,
            "describing the quorum needs DESCRIBE on the cluster",
        );
    }
    let Some(quorum) = broker.quorum() else {
        return refuse(
            ResponseError::InvalidRequest,
            "a standalone broker has no metadata quorum",
        );
    };
    let status = quorum.status();
    let image = quorum.image();
    let observers: Vec<i32> = image
        .brokers
        .keys()
        .copied()
        .filter(|id| !status.log_ends.contains_key(&(*id as u64)))
        .collect();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    if t.topic_name.0.as_str() == METADATA_TOPIC && p.partition_index == 0 {
                        describe(&status, &observers)
                    } else {
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    }
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let mut resp = DescribeQuorumResponse::default().with_topics(topics);
    if version >= 2 {
        resp.nodes = status
            .log_ends
            .keys()
            .filter_map(|id| {
                let address = quorum.voter_address(*id)?;
                let (host, port) = crate::config::parse_host_port(&address).ok()?;
                Some(
                    Node::default()
                        .with_node_id(BrokerId(*id as i32))
                        .with_listeners(vec![Listener::default()
                            .with_name(s("CONTROLLER"))
                            .with_host(s(host))
                            .with_port(port)]),
                )
            })
            .collect();
    }
    resp
}
