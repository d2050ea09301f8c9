//! The group-offset APIs: OffsetCommit, and OffsetFetch for one group (up to version 7)
//! or several in one request (version 8 on). Commits need READ on the group and on each
//! topic; fetching needs DESCRIBE on the group, and lists only the topics the client may
//! describe unless it named them. These groups are classic groups, so the member id and
//! epoch OffsetFetch carries from version 9 are not checked, as Kafka does not check them
//! for a classic group.

use std::sync::Arc;

use kafka_protocol::{
    messages::{
        offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic},
        offset_fetch_response::{
            OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
            OffsetFetchResponseTopic, OffsetFetchResponseTopics,
        },
        OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    },
    ResponseError,
};

use super::{
    blocking,
    groups::{GROUP_AUTHORIZATION_FAILED, NOT_COORDINATOR},
    metadata::topic_name,
    s, Client,
};
use crate::{
    broker::Broker, cluster::sync as cluster, groups::store::Committed, security::acl::op,
};

pub async fn offset_commit(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    client: &Client,
) -> OffsetCommitResponse {
    let group_allowed = client.may_group(broker, op::READ, &req.group_id.0);
    let mut refused: Vec<((String, i32), i16)> = Vec::new();
    let offsets: Vec<((String, i32), Committed)> = req
        .topics
        .iter()
        .filter(|t| {
            let code = if !group_allowed {
                GROUP_AUTHORIZATION_FAILED
            } else if !client.may_topic(broker, op::READ, &t.name.0) {
                ResponseError::TopicAuthorizationFailed.code()
            } else {
                return true;
            };
            let name = t.name.0.to_string();
            refused.extend(
                t.partitions
                    .iter()
                    .map(|p| ((name.clone(), p.partition_index), code)),
            );
            false
        })
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let c = Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    commit_ms: 0,
                };
                ((t.name.0.to_string(), p.partition_index), c)
            })
        })
        .collect();
    let b = broker.clone();
    let (group, generation, member) = (
        req.group_id.0.to_string(),
        req.generation_id_or_member_epoch,
        req.member_id.to_string(),
    );
    let outcome: Vec<((String, i32), i16)> = if offsets.is_empty() {
        Vec::new()
    } else if !broker.coordinates(&group) {
        offsets
            .into_iter()
            .map(|(tp, _)| (tp, NOT_COORDINATOR))
            .collect()
    } else if let Some(quorum) = broker.quorum() {
        // Cluster mode: offsets go through the metadata quorum to every broker, so the
        // group's next coordinator has them.
        let exists = |t: &str, p: i32| broker.has_partition(t, p);
        let (outcome, accepted) = broker
            .groups
            .check_commit(&group, generation, &member, offsets, exists);
        match cluster::commit_offsets(quorum, &group, &accepted).await {
            Ok(()) => outcome,
            Err(code) => crate::groups::fail_accepted(outcome, code),
        }
    } else {
        blocking(move || {
            let exists = |t: &str, p: i32| b.has_partition(t, p);
            b.groups
                .commit(&group, generation, &member, offsets, exists)
        })
        .await
    };
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for ((topic, p), code) in refused.into_iter().chain(outcome) {
        if topics.last().map(|t| t.name.0.as_str()) != Some(topic.as_str()) {
            topics.push(OffsetCommitResponseTopic::default().with_name(topic_name(&topic)));
        }
        if let Some(t) = topics.last_mut() {
            t.partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p)
                    .with_error_code(code),
            );
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}

/// One partition's committed offset as OffsetFetch reports it.
#[derive(Debug, Clone, PartialEq)]
struct FetchedOffset {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error_code: i16,
}

/// One group's answer: a group-level error, or its offsets by topic.
type GroupAnswer = Result<Vec<(String, Vec<FetchedOffset>)>, i16>;

/// The committed offsets of `group` for `wanted` (topic, partitions), or all of them.
fn fetch_group(
    broker: &Broker,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    client: &Client,
) -> GroupAnswer {
    if !client.may_group(broker, op::DESCRIBE, group) {
        return Err(GROUP_AUTHORIZATION_FAILED);
    }
    let named = wanted.is_some();
    let wanted = wanted.map(|topics| {
        topics
            .into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            .collect()
    });
    let mut topics: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
    for ((topic, partition), committed) in broker.groups.fetch_offsets(group, wanted) {
        let visible = client.may_topic(broker, op::DESCRIBE, &topic);
        if !visible && !named {
            continue;
        }
        if topics.last().map(|(t, _)| t.as_str()) != Some(topic.as_str()) {
            topics.push((topic.clone(), Vec::new()));
        }
        let mut fetched = FetchedOffset {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            error_code: 0,
        };
        if !visible {
            fetched.error_code = ResponseError::TopicAuthorizationFailed.code();
        } else if let Some(c) = committed {
            fetched.offset = c.offset;
            fetched.leader_epoch = c.leader_epoch;
            fetched.metadata = c.metadata.unwrap_or_default();
        }
        if let Some((_, partitions)) = topics.last_mut() {
            partitions.push(fetched);
        }
    }
    Ok(topics)
}

pub fn offset_fetch(
    broker: &Arc<Broker>,
    req: OffsetFetchRequest,
    version: i16,
    client: &Client,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let answer = fetch_group(broker, &g.group_id.0, wanted, client);
                let mut group = OffsetFetchResponseGroup::default().with_group_id(g.group_id);
                match answer {
                    Err(code) => group.error_code = code,
                    Ok(topics) => group.topics = topics.into_iter().map(batched_topic).collect(),
                }
                group
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    match fetch_group(broker, &req.group_id.0, wanted, client) {
        Err(code) => OffsetFetchResponse::default().with_error_code(code),
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let partitions = partitions.into_iter().map(|f| {
                        let mut p = OffsetFetchResponsePartition::default()
                            .with_partition_index(f.partition)
                            .with_committed_offset(f.offset)
                            .with_metadata(Some(s(f.metadata)))
                            .with_error_code(f.error_code);
                        if version >= 5 {
                            p.committed_leader_epoch = f.leader_epoch;
                        }
                        p
                    });
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(partitions.collect())
                })
                .collect(),
        ),
    }
}

/// A topic's offsets in the batched (version 8 on) form.
fn batched_topic((topic, partitions): (String, Vec<FetchedOffset>)) -> OffsetFetchResponseTopics {
    let partitions = partitions.into_iter().map(|f| {
        OffsetFetchResponsePartitions::default()
            .with_partition_index(f.partition)
            .with_committed_offset(f.offset)
            .with_committed_leader_epoch(f.leader_epoch)
            .with_metadata(Some(s(f.metadata)))
            .with_error_code(f.error_code)
    });
    OffsetFetchResponseTopics::default()
        .with_name(topic_name(&topic))
        .with_partitions(partitions.collect())
}
