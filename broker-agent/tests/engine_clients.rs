//! The bundled engine with a real Kafka client (rdkafka / librdkafka): produce with every
//! compression codec and consume, topic administration, offsets by time.

mod common;

use std::time::Duration;

use common::{drain, BrokerProcess};
use rdkafka::{
    admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication},
    consumer::Consumer,
    producer::FutureRecord,
    types::RDKafkaErrorCode,
    util::Timeout,
    TopicPartitionList,
};
use tideway_engine::log_dirs::find_partition_dir;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn every_compression_codec_round_trips() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("codecs", 3, &[]).await;
    let mut expected = Vec::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let producer = broker.producer(&[("compression.codec", codec), ("acks", "all")]);
        let sends: Vec<_> = (0..50)
            .map(|i| {
                let key = format!("{codec}-{i}");
                let value = format!("{codec} value {i} {}", "x".repeat(i * 7));
                expected.push((key.clone(), value.clone().into_bytes()));
                let producer = producer.clone();
                async move {
                    producer
                        .send(
                            FutureRecord::to("codecs")
                                .key(&key)
                                .payload(&value)
                                .partition((i % 3) as i32),
                            WAIT,
                        )
                        .await
                        .map_err(|(e, _)| e)
                }
            })
            .collect();
        for r in futures::future::join_all(sends).await {
            r.unwrap_or_else(|e| panic!("{codec}: {e}"));
        }
    }
    let reader = broker.reader("codecs", 3);
    let mut got = drain(&reader, expected.len(), WAIT);
    assert_eq!(got.len(), expected.len());
    // Offsets per partition are dense from 0.
    for p in 0..3 {
        let offsets: Vec<i64> = got.iter().filter(|m| m.0 == p).map(|m| m.1).collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    got.sort_by(|a, b| a.2.cmp(&b.2));
    expected.sort();
    let got: Vec<(String, Vec<u8>)> = got.into_iter().map(|m| (m.2, m.3)).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn topics_are_administered_with_kafka_errors_for_bad_requests() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    let admin = broker.admin();
    let opts = AdminOptions::new();

    // validate_only creates nothing.
    let t = NewTopic::new("orders", 2, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let r = admin
        .create_topics([&t], &AdminOptions::new().validate_only(true))
        .await
        .expect("create");
    assert!(r[0].is_ok());
    let md = broker
        .admin()
        .inner()
        .fetch_metadata(Some("orders"), Timeout::After(WAIT))
        .expect("metadata");
    assert_eq!(
        md.topics()[0].error(),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );

    assert!(admin.create_topics([&t], &opts).await.expect("create")[0].is_ok());
    let dup = admin.create_topics([&t], &opts).await.expect("create");
    assert_eq!(
        dup[0].as_ref().expect_err("duplicate").1,
        RDKafkaErrorCode::TopicAlreadyExists
    );

    for (topic, code) in [
        (
            NewTopic::new("zero", 0, TopicReplication::Fixed(1)),
            RDKafkaErrorCode::InvalidPartitions,
        ),
        (
            NewTopic::new("rf3", 1, TopicReplication::Fixed(3)),
            RDKafkaErrorCode::InvalidReplicationFactor,
        ),
        (
            NewTopic::new("badcfg", 1, TopicReplication::Fixed(1)).set("retention.ms", "soon"),
            RDKafkaErrorCode::InvalidConfig,
        ),
        (
            NewTopic::new("unknown-cfg", 1, TopicReplication::Fixed(1)).set("colour", "blue"),
            RDKafkaErrorCode::InvalidConfig,
        ),
        (
            NewTopic::new("bad/name", 1, TopicReplication::Fixed(1)),
            RDKafkaErrorCode::InvalidTopic,
        ),
    ] {
        let r = admin.create_topics([&topic], &opts).await.expect("create");
        assert_eq!(
            r[0].as_ref().expect_err("must fail").1,
            code,
            "{}",
            topic.name
        );
    }

    // More partitions; fewer is refused.
    let r = admin
        .create_partitions([&NewPartitions::new("orders", 4)], &opts)
        .await
        .expect("partitions");
    assert!(r[0].is_ok(), "{r:?}");
    let r = admin
        .create_partitions([&NewPartitions::new("orders", 3)], &opts)
        .await
        .expect("partitions");
    assert_eq!(
        r[0].as_ref().expect_err("fewer").1,
        RDKafkaErrorCode::InvalidPartitions
    );
    let md = admin
        .inner()
        .fetch_metadata(Some("orders"), Timeout::After(WAIT))
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 4);
    let producer = broker.producer(&[]);
    producer
        .send(
            FutureRecord::to("orders")
                .key("k")
                .payload("v")
                .partition(3),
            WAIT,
        )
        .await
        .expect("new partition");

    // Delete: gone from metadata and from disk.
    let orders_log = find_partition_dir(dir.path(), "orders", 0)
        .expect("registry")
        .expect("orders has a log dir");
    assert!(orders_log.is_dir());
    let r = admin
        .delete_topics(&["orders"], &opts)
        .await
        .expect("delete");
    assert!(r[0].is_ok());
    let r = admin
        .delete_topics(&["orders"], &opts)
        .await
        .expect("delete");
    assert_eq!(
        r[0].as_ref().expect_err("gone").1,
        RDKafkaErrorCode::UnknownTopicOrPartition
    );
    let md = admin
        .inner()
        .fetch_metadata(None, Timeout::After(WAIT))
        .expect("metadata");
    assert!(md.topics().iter().all(|t| t.name() != "orders"));
    assert!(
        !orders_log.exists(),
        "{} outlived its topic",
        orders_log.display()
    );
    // Topic metadata survives a restart.
    broker
        .create_topic("kept", 5, &[("retention.bytes", "1048576")])
        .await;
    let listen = broker.listen();
    broker.stop();
    let broker = BrokerProcess::start_on(dir.path(), &listen, &[]);
    let md = broker
        .admin()
        .inner()
        .fetch_metadata(Some("kept"), Timeout::After(WAIT))
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 5);
}

#[tokio::test]
async fn offsets_by_time_and_watermarks() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("timed", 1, &[]).await;
    let producer = broker.producer(&[("linger.ms", "0")]);
    for i in 0..10i64 {
        let record = FutureRecord::to("timed")
            .key("k")
            .payload("v")
            .timestamp(1_000_000 + i * 1000);
        producer.send(record, WAIT).await.expect("send");
    }
    let reader = broker.reader("timed", 1);
    let (low, high) = reader
        .fetch_watermarks("timed", 0, WAIT)
        .expect("watermarks");
    assert_eq!((low, high), (0, 10));
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset("timed", 0, rdkafka::Offset::Offset(1_004_500))
        .expect("tpl");
    let found = reader
        .offsets_for_times(query, WAIT)
        .expect("offsets_for_times");
    assert_eq!(
        found.find_partition("timed", 0).expect("p").offset(),
        rdkafka::Offset::Offset(5)
    );
    let mut late = TopicPartitionList::new();
    late.add_partition_offset("timed", 0, rdkafka::Offset::Offset(9_000_000))
        .expect("tpl");
    let found = reader
        .offsets_for_times(late, WAIT)
        .expect("offsets_for_times");
    assert_eq!(
        found.find_partition("timed", 0).expect("p").offset(),
        rdkafka::Offset::End
    );
}

// Multi-threaded: the consumer's poll blocks its thread while the producer task runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_consumer_gets_records_produced_later() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("live", 1, &[]).await;
    let reader = broker.reader("live", 1);
    assert!(drain(&reader, 1, Duration::from_millis(500)).is_empty());
    let producer = broker.producer(&[]);
    let sent = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        producer
            .send(
                FutureRecord::to("live").key("late").payload("arrival"),
                WAIT,
            )
            .await
            .map_err(|(e, _)| e)
    });
    let got = drain(&reader, 1, WAIT);
    sent.await.expect("join").expect("send");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, "late");
}

#[tokio::test]
async fn acks_zero_stores_without_answering_and_auto_creation_is_off_by_default() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("fire", 1, &[]).await;
    let producer = broker.producer(&[("acks", "0")]);
    for i in 0..50 {
        producer
            .send(
                FutureRecord::to("fire").key(&format!("k{i}")).payload("v"),
                WAIT,
            )
            .await
            .expect("queued");
    }
    assert_eq!(drain(&broker.reader("fire", 1), 50, WAIT).len(), 50);

    // Metadata for an unknown topic does not create it unless the broker is told to.
    let md = rdkafka::producer::Producer::client(&producer)
        .fetch_metadata(Some("ghost"), Timeout::After(WAIT))
        .expect("metadata");
    assert_eq!(
        md.topics()[0].error(),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    assert_eq!(
        find_partition_dir(dir.path(), "ghost", 0).expect("registry"),
        None,
        "ghost was not created"
    );
}
