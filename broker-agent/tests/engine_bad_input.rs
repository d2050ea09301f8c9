//! Bad input on the wire: garbage, oversized and unknown frames close only their own
//! connection; bad records get the Kafka error code a Kafka broker would give.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{
    raw::{self, call, connect, read_frame},
    BrokerProcess,
};
use kafka_protocol::{
    messages::{
        fetch_request::{FetchPartition, FetchTopic},
        ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeClusterRequest,
        DescribeClusterResponse, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse,
        RequestHeader, TopicName,
    },
    protocol::{Decodable, Encodable, StrBytes},
    ResponseError,
};

/// True when the broker closed the connection.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

fn still_serving(broker: &BrokerProcess) {
    let r = call(&mut connect(broker), &ApiVersionsRequest::default(), 0);
    assert_eq!(r.error_code, 0);
}

fn batch(bytes: usize) -> BytesMut {
    raw::batch(raw::PLAIN, 1, bytes)
}

fn produce(topic: &str, records: Bytes) -> ProduceRequest {
    raw::produce_request(topic, records, 1)
}

fn produce_error(s: &mut TcpStream, topic: &str, records: Bytes) -> i16 {
    let r: ProduceResponse = call(s, &produce(topic, records), 9);
    r.responses[0].partition_responses[0].error_code
}

#[tokio::test]
async fn broken_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut bystander = connect(&broker);

    let mut garbage = connect(&broker);
    garbage
        .write_all(&[0, 0, 0, 10, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6])
        .expect("write");
    assert!(closed(&mut garbage), "garbage closes the connection");

    let mut oversized = connect(&broker);
    oversized
        .write_all(&(500 * 1024 * 1024i32).to_be_bytes())
        .expect("write");
    assert!(
        closed(&mut oversized),
        "an oversized frame closes the connection"
    );

    let mut negative = connect(&broker);
    negative.write_all(&(-5i32).to_be_bytes()).expect("write");
    assert!(closed(&mut negative));

    let mut unknown = connect(&broker);
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(9999);
    frame.put_i16(0);
    frame.put_i32(1);
    frame.put_i16(-1);
    unknown.write_all(&frame).expect("write");
    assert!(
        closed(&mut unknown),
        "an unknown API key closes the connection"
    );

    let r = call(&mut bystander, &ApiVersionsRequest::default(), 3);
    assert_eq!(r.error_code, 0, "other connections are unaffected");
    still_serving(&broker);
}

#[tokio::test]
async fn api_versions_is_honest_and_falls_back_to_v0() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut s = connect(&broker);
    let r = call(&mut s, &ApiVersionsRequest::default(), 3);
    let produce = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .expect("produce listed");
    // Advertised from 0 like Kafka 4 (older librdkafka needs it, KAFKA-18659) ...
    assert_eq!((produce.min_version, produce.max_version), (0, 13));
    assert!(
        r.api_keys
            .iter()
            .all(|k| k.api_key != ApiKey::AlterPartition as i16),
        "only what is implemented"
    );

    // A client asking with a newer ApiVersions version gets a v0 answer with the list.
    let header = RequestHeader::default()
        .with_request_api_key(18)
        .with_request_api_version(99)
        .with_correlation_id(3);
    let mut body = BytesMut::new();
    header.encode(&mut body, 2).expect("header");
    body.put_u8(0);
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame).expect("write");
    let mut resp = read_frame(&mut s).expect("answer");
    assert_eq!(resp.get_i32(), 3, "correlation id");
    let v0 = ApiVersionsResponse::decode(&mut resp, 0).expect("v0 body");
    assert_eq!(v0.error_code, ResponseError::UnsupportedVersion.code());
    assert_eq!(v0.api_keys.len(), r.api_keys.len());

    // ... but versions before 3 are refused as Kafka 4 refuses them: the connection closes.
    let mut old_produce = connect(&broker);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(2)
        .with_correlation_id(4);
    let mut body = BytesMut::new();
    header.encode(&mut body, 1).expect("header");
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    old_produce.write_all(&frame).expect("write");
    assert!(closed(&mut old_produce), "Produce v2 closes the connection");

    let cluster: DescribeClusterResponse =
        call(&mut connect(&broker), &DescribeClusterRequest::default(), 1);
    assert_eq!((cluster.error_code, cluster.brokers.len()), (0, 1));
    assert_eq!(cluster.controller_id.0, 1);
}

#[tokio::test]
async fn bad_records_get_kafka_error_codes_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker
        .create_topic("strict", 1, &[("max.message.bytes", "500")])
        .await;
    let mut s = connect(&broker);

    let mut corrupt = batch(10);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(
        produce_error(&mut s, "strict", corrupt.freeze()),
        ResponseError::CorruptMessage.code()
    );
    assert_eq!(
        produce_error(&mut s, "strict", batch(10).split_to(30).freeze()),
        ResponseError::CorruptMessage.code()
    );
    assert_eq!(
        produce_error(&mut s, "strict", batch(2000).freeze()),
        ResponseError::MessageTooLarge.code()
    );
    assert_eq!(
        produce_error(&mut s, "absent", batch(10).freeze()),
        ResponseError::UnknownTopicOrPartition.code()
    );
    let mut old_format = batch(10);
    old_format[16] = 1;
    assert_eq!(
        produce_error(&mut s, "strict", old_format.freeze()),
        ResponseError::UnsupportedForMessageFormat.code()
    );
    let mut bad_acks = produce("strict", batch(10).freeze());
    bad_acks.acks = 2;
    let r: ProduceResponse = call(&mut s, &bad_acks, 9);
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidRequiredAcks.code()
    );

    // A good batch after all that lands at offset 0: nothing bad was stored.
    assert_eq!(produce_error(&mut s, "strict", batch(10).freeze()), 0);
    let fetch = |offset: i64| {
        let p = FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(1 << 20);
        let t = FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("strict")))
            .with_partitions(vec![p]);
        FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![t])
    };
    let r: FetchResponse = call(&mut s, &fetch(0), 12);
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 1));
    let r: FetchResponse = call(&mut s, &fetch(5), 12);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    still_serving(&broker);
}
