//! Produce: validate and append each partition's batches; acks 0, 1 and all. acks=all
//! is refused up front when the ISR is below `min.insync.replicas`, and answered once
//! every in-sync replica has the records (the high watermark passed them); on a
//! standalone broker the only replica is the leader, so that is right after the append.
//! Writing needs WRITE on the topic; the bytes count against the producer byte rate and
//! must fit the broker's storage budgets (POLICY_VIOLATION otherwise). As in Kafka, each
//! partition takes exactly one batch (INVALID_RECORD otherwise), and from version 13 topics
//! are named by id (UNKNOWN_TOPIC_ID for an id no topic has).

use std::{sync::Arc, time::Duration};

use kafka_protocol::{
    messages::{
        produce_response::{PartitionProduceResponse, TopicProduceResponse},
        ProduceRequest, ProduceResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{blocking, log_error_code, principal_name, Client};
use crate::{
    broker::Broker,
    log::batch::BatchHeader,
    replication::leader,
    security::{acl::op, quota::PRODUCER_BYTE_RATE},
};

/// Answers a produce request, and how long its client is throttled for its byte rate.
pub async fn produce(
    broker: &Arc<Broker>,
    req: ProduceRequest,
    version: i16,
    client: &Client,
) -> (ProduceResponse, Duration) {
    let request_bytes: usize = req
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    let throttle = broker.security.usage.record(
        &broker.security.state().quotas,
        principal_name(&client.principal),
        &client.client_id,
        PRODUCER_BYTE_RATE,
        request_bytes as f64,
    );
    let acks_ok = matches!(req.acks, -1..=1);
    let all = req.acks == -1;
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(req.topic_data.len());
    // acks=all: (topic index, partition index, partition, last offset) to wait for.
    let mut pending = Vec::new();
    // The topic names, by response index (from version 13 the request names topics by id).
    let mut names = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let mut answer = TopicProduceResponse::default();
        let name = if version >= 13 {
            answer.topic_id = topic.topic_id;
            broker.topic_name_of(topic.topic_id)
        } else {
            answer.name = topic.name.clone();
            Some(topic.name.0.to_string())
        };
        let Some(name) = name else {
            let unknown = topic.partition_data.iter().map(|data| {
                PartitionProduceResponse::default()
                    .with_index(data.index)
                    .with_base_offset(-1)
                    .with_error_code(ResponseError::UnknownTopicId.code())
            });
            responses.push(answer.with_partition_responses(unknown.collect()));
            names.push(String::new());
            continue;
        };
        let allowed = client.may_topic(broker, op::WRITE, &name);
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut r = PartitionProduceResponse::default().with_index(data.index);
            let epoch = broker.leader_epoch(&name, data.index);
            let outcome = match (
                allowed,
                acks_ok,
                broker.led_partition(&name, data.index),
                data.records,
            ) {
                (_, _, _, Some(records)) if more_than_one_batch(&records) => Err((
                    ResponseError::InvalidRecord.code(),
                    "a produce request carries exactly one record batch per partition".to_owned(),
                )),
                (false, _, _, _) => Err((
                    ResponseError::TopicAuthorizationFailed.code(),
                    format!("{} may not write to {name}", client.principal),
                )),
                (_, false, _, _) => Err((
                    ResponseError::InvalidRequiredAcks.code(),
                    "acks must be -1, 0 or 1".to_owned(),
                )),
                (_, _, Err(code), _) => Err((
                    code,
                    format!("this broker does not lead {name}-{}", data.index),
                )),
                (_, _, _, None) => Err((
                    ResponseError::CorruptMessage.code(),
                    "the request carries no records".to_owned(),
                )),
                (_, _, Ok(partition), Some(records)) => {
                    let checked = if all {
                        leader::check_min_insync(broker, &name, data.index, &partition)
                    } else {
                        Ok(())
                    }
                    .and_then(|()| {
                        broker
                            .storage
                            .admit(&name, records.len() as u64, || broker.bytes_by_topic())
                            .map_err(|e| (ResponseError::PolicyViolation.code(), e.to_string()))
                    });
                    match checked {
                        Err(refused) => Err(refused),
                        Ok(()) => {
                            let mut bytes = records.to_vec();
                            let size = bytes.len();
                            let p = partition.clone();
                            let appended = blocking(move || {
                                let mut log = p.log.lock().unwrap_or_else(|e| e.into_inner());
                                log.append(&mut bytes, epoch)
                            })
                            .await
                            .map_err(|e| (log_error_code(&e), e.to_string()));
                            if let Ok(a) = &appended {
                                broker.traffic.produced(
                                    &name,
                                    size,
                                    a.last_offset - a.base_offset + 1,
                                );
                                leader::advance(broker, &name, data.index, &partition);
                                broker.appended.notify_waiters();
                                if all {
                                    pending.push((
                                        responses.len(),
                                        partitions.len(),
                                        partition,
                                        a.last_offset,
                                    ));
                                }
                            }
                            appended
                        }
                    }
                }
            };
            match outcome {
                Ok(a) => {
                    r.base_offset = a.base_offset;
                    if version >= 5 {
                        r.log_start_offset = a.log_start_offset;
                    }
                }
                Err((code, text)) => {
                    tracing::debug!(topic = %name, partition = data.index, code, "produce refused: {text}");
                    r.error_code = code;
                    r.base_offset = -1;
                    if version >= 8 {
                        r.error_message = Some(StrBytes::from_string(text));
                    }
                }
            }
            partitions.push(r);
        }
        responses.push(answer.with_partition_responses(partitions));
        names.push(name);
    }
    // Every partition's replicas catch up at once: the request waits for the slowest one,
    // within its one timeout, not for each in turn.
    let waits = pending.iter().map(|(ti, pi, partition, last_offset)| {
        let topic = names[*ti].clone();
        let index = responses[*ti].partition_responses[*pi].index;
        async move {
            leader::wait_committed(broker, &topic, index, partition, *last_offset, timeout).await
        }
    });
    let waited = futures::future::join_all(waits).await;
    for ((ti, pi, _, _), waited) in pending.iter().zip(waited) {
        let topic = &names[*ti];
        let r = &mut responses[*ti].partition_responses[*pi];
        if let Err((code, text)) = waited {
            tracing::debug!(%topic, partition = r.index, code, "acks=all not satisfied: {text}");
            r.error_code = code;
            r.base_offset = -1;
            if version >= 8 {
                r.error_message = Some(StrBytes::from_string(text));
            }
        }
    }
    let response = ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(throttle.as_millis() as i32);
    (response, throttle)
}

/// Whether `records` holds more than one batch: from version 3 Kafka takes exactly one
/// per partition (INVALID_RECORD otherwise).
fn more_than_one_batch(records: &[u8]) -> bool {
    BatchHeader::peek_size(records).is_some_and(|size| size < records.len())
}
