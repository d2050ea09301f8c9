//! A raw Kafka-protocol client for tests that check exact error codes on the wire.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::{
    messages::{produce_response::PartitionProduceResponse, ApiKey, RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes},
    records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType},
};

use super::BrokerProcess;

pub fn connect(broker: &BrokerProcess) -> TcpStream {
    let s = TcpStream::connect(&broker.bootstrap).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Sends one request and decodes its response.
pub fn call<R: Request>(s: &mut TcpStream, req: &R, version: i16) -> R::Response {
    let api = ApiKey::try_from(R::KEY).expect("key");
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("raw-test")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, api.request_header_version(version))
        .expect("header");
    req.encode(&mut body, version).expect("body");
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame).expect("write");
    let mut resp = read_frame(s).expect("a response");
    let h = ResponseHeader::decode(&mut resp, R::Response::header_version(version))
        .expect("response header");
    assert_eq!(h.correlation_id, 7);
    R::Response::decode(&mut resp, version).expect("response body")
}

pub fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(Bytes::from(buf))
}

/// A Produce request of one batch to partition 0 of `topic`.
pub fn produce_request(
    topic: &str,
    records: Bytes,
    acks: i16,
) -> kafka_protocol::messages::ProduceRequest {
    use kafka_protocol::messages::{
        produce_request::{PartitionProduceData, TopicProduceData},
        ProduceRequest, TopicName,
    };
    let data = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(records));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
        .with_partition_data(vec![data]);
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![topic])
}

/// Produces one batch to partition 0 of `topic` with acks=all (Produce v9, which carries
/// error messages): the partition's answer.
pub fn produce(broker: &BrokerProcess, topic: &str, records: Bytes) -> PartitionProduceResponse {
    let req = produce_request(topic, records, -1);
    let mut r: kafka_protocol::messages::ProduceResponse = call(&mut connect(broker), &req, 9);
    r.responses.remove(0).partition_responses.remove(0)
}

/// Milliseconds since the epoch, for record timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Who writes a test batch: producer id, epoch and first sequence (-1s: not idempotent).
#[derive(Clone, Copy)]
pub struct Writer {
    pub producer_id: i64,
    pub epoch: i16,
    pub sequence: i32,
}

/// Not an idempotent producer.
pub const PLAIN: Writer = Writer {
    producer_id: -1,
    epoch: -1,
    sequence: -1,
};

/// One v2 record batch of `n` records with `value_size`-byte values, keys `s{sequence}`.
pub fn batch(writer: Writer, n: i32, value_size: usize) -> BytesMut {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: writer.producer_id,
            producer_epoch: writer.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            // The encoder groups records whose offset - sequence agree into one batch.
            sequence: if writer.sequence < 0 {
                i
            } else {
                writer.sequence + i
            },
            timestamp: now_ms(),
            key: Some(Bytes::from(format!("s{}", writer.sequence.max(0) + i))),
            value: Some(vec![b'x'; value_size].into()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf
}
