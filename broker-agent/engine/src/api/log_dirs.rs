//! DescribeLogDirs, what `kafka-log-dirs` and the admin client's `describeLogDirs` ask:
//! the broker's one log directory (its data directory), the partitions it holds there
//! with their sizes, and the filesystem's total and usable bytes. Needs DESCRIBE on the
//! cluster, as in Kafka.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use kafka_protocol::{
    messages::{
        describe_log_dirs_response::{
            DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
        },
        DescribeLogDirsRequest, DescribeLogDirsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{metadata::topic_name, Client};
use crate::{broker::Broker, security::acl::op};

pub fn describe_log_dirs(
    broker: &Arc<Broker>,
    req: DescribeLogDirsRequest,
    version: i16,
    client: &Client,
) -> DescribeLogDirsResponse {
    if !client.may_cluster(broker, op::DESCRIBE) {
        let resp = DescribeLogDirsResponse::default();
        return if version >= 3 {
            resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code())
        } else {
            resp
        };
    }
    let wanted: Option<HashMap<String, Vec<i32>>> = req.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    let held: Vec<((String, i32), Arc<crate::broker::Partition>)> = broker
        .partitions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|((topic, p), _)| {
            wanted
                .as_ref()
                .is_none_or(|w| w.get(topic).is_some_and(|ps| ps.contains(p)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for ((topic, index), partition) in held {
        let (size, end) = {
            let log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
            (log.size_bytes() as i64, log.log_end_offset())
        };
        // How far the high watermark this replica knows is ahead of its log: 0 for a
        // leader, the catch-up left for a follower (Kafka's definition).
        let lag = (partition.replica.high_watermark() - end).max(0);
        by_topic.entry(topic).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(index)
                .with_partition_size(size)
                .with_offset_lag(lag),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(partitions)
        })
        .collect();
    let dir = &broker.config.data_dir;
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics);
    if version >= 4 {
        match fs4::statvfs(dir) {
            Ok(stats) => {
                result.total_bytes = stats.total_space() as i64;
                result.usable_bytes = stats.available_space() as i64;
            }
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot stat the log directory");
                result.total_bytes = -1;
                result.usable_bytes = -1;
            }
        }
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
