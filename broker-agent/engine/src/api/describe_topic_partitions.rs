//! DescribeTopicPartitions (KIP-966), what Kafka 4's admin client and `kafka-topics
//! --describe` ask first: the topics' partitions sorted by topic name, paged by a cursor
//! (topic, partition) and a partition limit. Leaders, replicas and ISRs come from the
//! same view as Metadata; the engine keeps no eligible leader replicas, so those lists
//! are empty, as Kafka's are with ELR off.

use std::{collections::HashMap, ops::Range, sync::Arc};

use kafka_protocol::{
    messages::{
        describe_topic_partitions_request::Cursor as RequestCursor,
        describe_topic_partitions_response::{
            Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
        },
        DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    },
    ResponseError,
};

use super::{
    metadata::{topic_name, topic_names, topic_view},
    Client,
};
use crate::{broker::Broker, security::acl::op};

/// The most partitions one response carries, whatever the client asks (Kafka's
/// `max.request.partition.size.limit` default).
const MAX_PARTITIONS: i32 = 2000;

/// One page: each topic's partition range, and where the next page starts.
type Page = (Vec<(String, Range<i32>)>, Option<(String, i32)>);

/// Which partitions of which topics (sorted by name, with their partition counts) one
/// page holds, starting at `cursor`, at most `limit` partitions; and where the next page
/// starts, if anything is left.
pub fn page(topics: &[(String, i32)], cursor: Option<(&str, i32)>, limit: i32) -> Page {
    let mut left = limit.max(1);
    let mut out = Vec::new();
    let start = cursor.map_or(0, |(name, _)| {
        topics.partition_point(|(t, _)| t.as_str() < name)
    });
    for (name, count) in topics.iter().skip(start) {
        let first = match cursor {
            Some((c, p)) if c == name => p.max(0),
            _ => 0,
        };
        if left == 0 {
            return (out, Some((name.clone(), first)));
        }
        let end = (*count).min(first + left);
        out.push((name.clone(), first..end.max(first)));
        left -= end.max(first) - first;
        if end < *count {
            return (out, Some((name.clone(), end)));
        }
    }
    (out, None)
}

fn failed(name: &str, code: ResponseError) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_error_code(code.code())
}

pub fn describe_topic_partitions(
    broker: &Arc<Broker>,
    req: DescribeTopicPartitionsRequest,
    client: &Client,
) -> DescribeTopicPartitionsResponse {
    let mut refused = Vec::new();
    let mut names: Vec<String> = if req.topics.is_empty() {
        topic_names(broker)
            .into_iter()
            .filter(|n| client.may_topic(broker, op::DESCRIBE, n))
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|n| {
                let allowed = client.may_topic(broker, op::DESCRIBE, n);
                if !allowed {
                    refused.push(failed(n, ResponseError::TopicAuthorizationFailed));
                }
                allowed
            })
            .collect()
    };
    names.sort();
    names.dedup();
    let cursor = req.cursor.as_ref().map(
        |RequestCursor {
             topic_name,
             partition_index,
             ..
         }| { (topic_name.0.to_string(), *partition_index) },
    );
    if let Some((topic, _)) = &cursor {
        if !req.topics.is_empty() && !names.contains(topic) {
            return DescribeTopicPartitionsResponse::default()
                .with_topics(vec![failed(topic, ResponseError::InvalidRequest)]);
        }
    }
    let mut views = Vec::with_capacity(names.len());
    for name in &names {
        match topic_view(broker, name) {
            Some(view) => views.push((name.clone(), view)),
            None => refused.push(failed(name, ResponseError::UnknownTopicOrPartition)),
        }
    }
    let counts: Vec<(String, i32)> = views
        .iter()
        .map(|(n, v)| (n.clone(), v.partitions.len() as i32))
        .collect();
    let limit = req.response_partition_limit.clamp(1, MAX_PARTITIONS);
    let (pages, next) = page(
        &counts,
        cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
        limit,
    );
    let by_name: HashMap<&str, _> = views.iter().map(|(n, v)| (n.as_str(), v)).collect();
    let mut topics: Vec<DescribeTopicPartitionsResponseTopic> = pages
        .into_iter()
        .filter_map(|(name, range)| {
            let view = by_name.get(name.as_str())?;
            let partitions = view.partitions[range.start as usize..range.end as usize]
                .iter()
                .map(|p| {
                    DescribeTopicPartitionsResponsePartition::default()
                        .with_error_code(p.error_code)
                        .with_partition_index(p.partition_index)
                        .with_leader_id(p.leader_id)
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replica_nodes.clone())
                        .with_isr_nodes(p.isr_nodes.clone())
                        .with_eligible_leader_replicas(Some(Vec::new()))
                        .with_last_known_elr(Some(Vec::new()))
                        .with_offline_replicas(p.offline_replicas.clone())
                })
                .collect();
            Some(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic_name(&name)))
                    .with_topic_id(view.topic_id)
                    .with_partitions(partitions)
                    .with_topic_authorized_operations(i32::MIN),
            )
        })
        .collect();
    topics.extend(refused);
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next.map(|(topic, partition)| {
            Cursor::default()
                .with_topic_name(topic_name(&topic))
                .with_partition_index(partition)
        }))
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_follow_the_cursor_and_stop_at_the_limit() {
        let topics = vec![
            ("a".to_owned(), 3),
            ("b".to_owned(), 2),
            ("c".to_owned(), 1),
        ];
        let r = |n: &str, s: i32, e: i32| (n.to_owned(), s..e);
        let next = |n: &str, p: i32| Some((n.to_owned(), p));
        let table = [
            (
                None,
                10,
                vec![r("a", 0, 3), r("b", 0, 2), r("c", 0, 1)],
                None,
            ),
            (None, 2, vec![r("a", 0, 2)], next("a", 2)),
            (
                Some(("a", 2)),
                2,
                vec![r("a", 2, 3), r("b", 0, 1)],
                next("b", 1),
            ),
            (Some(("b", 1)), 2, vec![r("b", 1, 2), r("c", 0, 1)], None),
            (None, 3, vec![r("a", 0, 3)], next("b", 0)),
            (Some(("bb", 0)), 5, vec![r("c", 0, 1)], None),
        ];
        for (cursor, limit, want, want_next) in table {
            assert_eq!(
                page(&topics, cursor, limit),
                (want, want_next),
                "cursor {cursor:?}, limit {limit}"
            );
        }
    }
}
