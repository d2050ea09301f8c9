//! Fetch with long polling: answer as soon as `min_bytes` are available, or when
//! `max_wait_ms` has passed; limits per partition and per response (at least one whole
//! batch is returned so a consumer is never stuck behind a large batch). Consumers read
//! up to the high watermark; a follower's replica fetch (`replica_id` ≥ 0) reads up to
//! the log end and tells the leader how far the follower got. Consumers need READ on each
//! topic and count against their consumer byte rate; replicas need CLUSTER_ACTION. From
//! version 13 topics are named by id (UNKNOWN_TOPIC_ID for an id no topic has), from 15
//! the replica id comes in the replica state.

use std::{collections::HashSet, sync::Arc, time::Duration};

use bytes::Bytes;
use kafka_protocol::{
    messages::{
        fetch_response::{FetchableTopicResponse, PartitionData},
        FetchRequest, FetchResponse,
    },
    ResponseError,
};
use tokio::time::Instant;

use super::{blocking, log_error_code, principal_name, Client};
use crate::{
    broker::Broker,
    replication::leader,
    security::{acl::op, quota::CONSUMER_BYTE_RATE},
};

/// One partition's read: (topic index, answer).
type Reads = Vec<(usize, PartitionData)>;

fn read_all(
    broker: &Broker,
    req: &FetchRequest,
    version: i16,
    names: &[Option<String>],
    denied: &HashSet<String>,
) -> (Reads, usize) {
    let replica = replica_id(req, version) >= 0;
    let mut remaining = if version >= 3 {
        req.max_bytes.max(0) as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let mut out = Vec::new();
    for (ti, (topic, name)) in req.topics.iter().zip(names).enumerate() {
        for p in &topic.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_records(Some(Bytes::new()));
            let Some(name) = name.as_deref() else {
                data.error_code = ResponseError::UnknownTopicId.code();
                out.push((ti, data));
                continue;
            };
            if denied.contains(name) {
                data.error_code = ResponseError::TopicAuthorizationFailed.code();
                out.push((ti, data));
                continue;
            }
            let partition = match broker.led_partition(name, p.partition) {
                Ok(partition) => partition,
                Err(code) => {
                    data.error_code = code;
                    out.push((ti, data));
                    continue;
                }
            };
            let epoch = broker.leader_epoch(name, p.partition);
            if version >= 9 && p.current_leader_epoch > epoch {
                data.error_code = ResponseError::UnknownLeaderEpoch.code();
                out.push((ti, data));
                continue;
            }
            if version >= 9 && p.current_leader_epoch >= 0 && p.current_leader_epoch < epoch {
                data.error_code = ResponseError::FencedLeaderEpoch.code();
                out.push((ti, data));
                continue;
            }
            let log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
            let hwm = partition.replica.high_watermark();
            data.high_watermark = hwm;
            if version >= 4 {
                data.last_stable_offset = hwm;
            }
            if version >= 5 {
                data.log_start_offset = log.log_start_offset();
            }
            let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
            if limit > 0 || total == 0 {
                let read = if replica {
                    log.read(p.fetch_offset, limit.max(1))
                } else {
                    log.read_below(p.fetch_offset, limit.max(1), hwm)
                };
                match read {
                    Ok(Some(bytes)) if total == 0 || bytes.len() <= remaining => {
                        total += bytes.len();
                        remaining = remaining.saturating_sub(bytes.len());
                        data.records = Some(bytes);
                    }
                    Ok(_) => {}
                    Err(e) => data.error_code = log_error_code(&e),
                }
            }
            out.push((ti, data));
        }
    }
    (out, total)
}

/// The fetching replica's id, or -1 for a consumer.
fn replica_id(req: &FetchRequest, version: i16) -> i32 {
    if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    }
}

/// The topics' names, in request order: none for an id no topic has.
fn topic_names(broker: &Broker, req: &FetchRequest, version: i16) -> Vec<Option<String>> {
    req.topics
        .iter()
        .map(|t| {
            if version >= 13 {
                broker.topic_name_of(t.topic_id)
            } else {
                Some(t.topic.0.to_string())
            }
        })
        .collect()
}

/// A follower's fetch offsets are its log ends: the leader's view of its progress.
fn note_replica_progress(
    broker: &Arc<Broker>,
    req: &FetchRequest,
    names: &[Option<String>],
    replica: i32,
) {
    for (topic, name) in req.topics.iter().zip(names) {
        let Some(name) = name.as_deref() else {
            continue;
        };
        for p in &topic.partitions {
            if let Ok(partition) = broker.led_partition(name, p.partition) {
                leader::on_replica_fetch(
                    broker,
                    name,
                    p.partition,
                    &partition,
                    replica,
                    p.fetch_offset,
                );
            }
        }
    }
}

/// Answers a fetch, and how long its client is throttled for its byte rate.
pub async fn fetch(
    broker: &Arc<Broker>,
    req: FetchRequest,
    version: i16,
    client: &Client,
) -> (FetchResponse, Duration) {
    if version >= 7 && req.session_id != 0 {
        // This broker never hands out fetch sessions.
        let refused =
            FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code());
        return (refused, Duration::ZERO);
    }
    let replica_id = replica_id(&req, version);
    let replica = replica_id >= 0;
    if replica && !client.may_replicate(broker) {
        let refused = FetchResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
        return (refused, Duration::ZERO);
    }
    let names = Arc::new(topic_names(broker, &req, version));
    let denied: Arc<HashSet<String>> = Arc::new(
        names
            .iter()
            .flatten()
            .filter(|t| !replica && !client.may_topic(broker, op::READ, t))
            .cloned()
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    if replica {
        note_replica_progress(broker, &req, &names, replica_id);
    }
    let req = Arc::new(req);
    let reads = loop {
        let notified = broker.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (b, r, n, d) = (broker.clone(), req.clone(), names.clone(), denied.clone());
        let (reads, total) = blocking(move || read_all(&b, &r, version, &n, &d)).await;
        let failed = reads.iter().any(|(_, d)| d.error_code != 0);
        if total >= min_bytes || failed || Instant::now() >= deadline {
            break reads;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            let (b, r, n, d) = (broker.clone(), req.clone(), names.clone(), denied.clone());
            break blocking(move || read_all(&b, &r, version, &n, &d)).await.0;
        }
    };
    let mut topics: Vec<FetchableTopicResponse> = req
        .topics
        .iter()
        .map(|t| {
            let mut answer = FetchableTopicResponse::default();
            if version >= 13 {
                answer.topic_id = t.topic_id;
            } else {
                answer.topic = t.topic.clone();
            }
            answer
        })
        .collect();
    let mut bytes = 0;
    for (ti, data) in reads {
        let read = data.records.as_ref().map_or(0, |r| r.len());
        if let Some(name) = &names[ti] {
            broker.traffic.fetched(name, read);
        }
        bytes += read;
        topics[ti].partitions.push(data);
    }
    let throttle = if replica {
        Duration::ZERO
    } else {
        broker.security.usage.record(
            &broker.security.state().quotas,
            principal_name(&client.principal),
            &client.client_id,
            CONSUMER_BYTE_RATE,
            bytes as f64,
        )
    };
    let response = FetchResponse::default()
        .with_responses(topics)
        .with_throttle_time_ms(throttle.as_millis() as i32);
    (response, throttle)
}
