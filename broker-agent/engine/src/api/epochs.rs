//! OffsetForLeaderEpoch: where a leader epoch ended in the leader's log, asked by a
//! follower (or a client) before it trusts the records it holds from that epoch.
//! Replicas need CLUSTER_ACTION, clients DESCRIBE on the topic.

use std::sync::Arc;

use kafka_protocol::{
    messages::{
        offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult},
        OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    },
    ResponseError,
};

use crate::broker::Broker;

/// "No such epoch": the answer's epoch and end offset.
const UNDEFINED: (i32, i64) = (-1, -1);

pub fn offset_for_leader_epoch(
    broker: &Arc<Broker>,
    req: OffsetForLeaderEpochRequest,
    version: i16,
    client: &super::Client,
) -> OffsetForLeaderEpochResponse {
    let replica = req.replica_id.0 >= 0;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let allowed = if replica {
                client.may_replicate(broker)
            } else {
                client.may_topic(broker, crate::security::acl::op::DESCRIBE, &name)
            };
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED.0)
                        .with_end_offset(UNDEFINED.1);
                    let current = broker.leader_epoch(&name, p.partition);
                    let led = if allowed {
                        broker.led_partition(&name, p.partition)
                    } else if replica {
                        Err(ResponseError::ClusterAuthorizationFailed.code())
                    } else {
                        Err(ResponseError::TopicAuthorizationFailed.code())
                    };
                    match led {
                        Err(code) => r.error_code = code,
                        Ok(_) if version >= 2 && p.current_leader_epoch > current => {
                            r.error_code = ResponseError::UnknownLeaderEpoch.code()
                        }
                        Ok(_)
                            if version >= 2
                                && p.current_leader_epoch >= 0
                                && p.current_leader_epoch < current =>
                        {
                            r.error_code = ResponseError::FencedLeaderEpoch.code()
                        }
                        Ok(partition) => {
                            let log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
                            let (epoch, end) = log.epoch_end(p.leader_epoch).unwrap_or(UNDEFINED);
                            r.leader_epoch = epoch;
                            r.end_offset = end;
                        }
                    }
                    r
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
