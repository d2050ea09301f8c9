//! ListOffsets: earliest (-2; -4, earliest-local, is the same without tiered storage),
//! latest (-1: the high watermark, the end consumers can read to), the record with the
//! largest timestamp (-3, KIP-734), or the first offset at or after a timestamp. Like
//! Kafka, a lookup by time never answers with an offset consumers cannot read yet.
//! Nothing is tiered, so the latest tiered offset (-5, KIP-1005) is never found.

use std::sync::Arc;

use kafka_protocol::{
    messages::{
        list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
        ListOffsetsRequest, ListOffsetsResponse,
    },
    records::RecordBatchDecoder,
    ResponseError,
};

use super::{blocking, log_error_code};
use crate::broker::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// (offset, timestamp) of the first record at or after `timestamp`, if any.
fn by_time(
    log: &crate::log::PartitionLog,
    timestamp: i64,
) -> Result<Option<(i64, i64)>, crate::log::LogError> {
    let Some(mut batch) = log.batch_at_time(timestamp)? else {
        return Ok(None);
    };
    let sets = RecordBatchDecoder::decode_all(&mut batch).map_err(|e| {
        crate::log::LogError::Io(std::io::Error::other(format!(
            "stored batch unreadable: {e}"
        )))
    })?;
    Ok(sets
        .into_iter()
        .flat_map(|s| s.records)
        .find(|r| r.timestamp >= timestamp)
        .map(|r| (r.offset, r.timestamp)))
}

/// Whether a new leader's high watermark has caught up with what the previous leaders
/// committed: it must reach the start of this leader's epoch (KIP-207). Until the
/// followers' next fetches move it there, "latest" is OFFSET_NOT_AVAILABLE (retriable)
/// rather than an end that seems to go backwards.
fn hw_known(
    log: &crate::log::PartitionLog,
    partition: &crate::broker::Partition,
    epoch: i32,
) -> bool {
    partition.replica.high_watermark() >= log.epoch_start(epoch)
}

pub async fn list_offsets(
    broker: &Arc<Broker>,
    req: ListOffsetsRequest,
    version: i16,
    client: &super::Client,
) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let allowed = client.may_topic(broker, crate::security::acl::op::DESCRIBE, &name);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r =
                ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            let led = if allowed {
                broker.led_partition(&name, p.partition_index)
            } else {
                Err(ResponseError::TopicAuthorizationFailed.code())
            };
            let partition = match led {
                Ok(partition) => partition,
                Err(code) => {
                    r.error_code = code;
                    partitions.push(r);
                    continue;
                }
            };
            let ts = p.timestamp;
            let epoch = broker.leader_epoch(&name, p.partition_index);
            let replicated = broker.quorum().is_some();
            let found = blocking(move || {
                let log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
                let readable = partition.replica.high_watermark();
                let below_hw = |found: Option<(i64, i64)>| found.filter(|(o, _)| *o < readable);
                match ts {
                    LATEST if replicated && !hw_known(&log, &partition, epoch) => Ok(None),
                    LATEST => Ok(Some((readable, -1))),
                    EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
                    // The first record carrying the largest timestamp: no record is later,
                    // so the first at or after it is that one.
                    MAX_TIMESTAMP => match log.max_timestamp() {
                        t if t >= 0 => by_time(&log, t).map(below_hw),
                        _ => Ok(None),
                    },
                    t if t >= 0 => by_time(&log, t).map(below_hw),
                    _ => Ok(None),
                }
            })
            .await;
            match found {
                Ok(Some((offset, timestamp))) => {
                    r.offset = offset;
                    r.timestamp = timestamp;
                    if version >= 4 {
                        r.leader_epoch = epoch;
                    }
                }
                Ok(None) if ts == LATEST_TIERED && version >= 9 => {}
                Ok(None) if ts < EARLIEST_LOCAL => {
                    r.error_code = ResponseError::UnsupportedVersion.code()
                }
                Ok(None) if ts == LATEST => r.error_code = ResponseError::OffsetNotAvailable.code(),
                Ok(None) => {}
                Err(e) => r.error_code = log_error_code(&e),
            }
            partitions.push(r);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
