//! Produce: validate and append each partition's batches; acks 0, 1 and all (on a
//! standalone broker the only replica is the leader, so acks=all is answered after the
//! local append and flush policy, like acks=1).

use std::sync::Arc;

use kafka_protocol::{
    messages::{
        produce_response::{PartitionProduceResponse, TopicProduceResponse},
        ProduceRequest, ProduceResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{blocking, log_error_code};
use crate::broker::Broker;

pub async fn produce(broker: &Arc<Broker>, req: ProduceRequest, version: i16) -> ProduceResponse {
    let acks_ok = matches!(req.acks, -1..=1);
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut appended_any = false;
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut r = PartitionProduceResponse::default().with_index(data.index);
            let epoch = broker.leader_epoch(&name, data.index);
            let outcome = match (
                acks_ok,
                broker.led_partition(&name, data.index),
                data.records,
            ) {
                (false, _, _) => Err((
                    ResponseError::InvalidRequiredAcks.code(),
                    "acks must be -1, 0 or 1".to_owned(),
                )),
                (_, Err(code), _) => Err((
                    code,
                    format!("this broker does not lead {name}-{}", data.index),
                )),
                (_, _, None) => Err((
                    ResponseError::CorruptMessage.code(),
                    "the request carries no records".to_owned(),
                )),
                (_, Ok(partition), Some(records)) => {
                    let mut bytes = records.to_vec();
                    let size = bytes.len();
                    let appended = blocking(move || {
                        let mut log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
                        log.append(&mut bytes, epoch)
                    })
                    .await
                    .map_err(|e| (log_error_code(&e), e.to_string()));
                    if appended.is_ok() {
                        broker.traffic.produced(size);
                    }
                    appended
                }
            };
            match outcome {
                Ok(a) => {
                    appended_any = true;
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
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if appended_any {
        broker.appended.notify_waiters();
    }
    ProduceResponse::default().with_responses(responses)
}
