//! Differential conformance: the same client scenarios run against Apache Kafka (the
//! reference, started from its pinned jars) and the bundled engine, and what clients see
//! is compared: records, offsets, and the exact Kafka error code of every refusal.

use std::time::{Duration, Instant};

use e2e::{engine_broker::EngineBroker, reference_kafka::ReferenceKafka};
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
    ClientConfig, Message, Offset, TopicPartitionList,
};

/// Both brokers, Kafka first: (name, bootstrap servers).
struct Pair {
    kafka: ReferenceKafka,
    engine: EngineBroker,
}

impl Pair {
    fn start() -> Pair {
        Pair {
            kafka: ReferenceKafka::start().expect("Apache Kafka"),
            engine: EngineBroker::start(&[]).expect("the engine"),
        }
    }

    fn targets(&self) -> [(&'static str, &str); 2] {
        [
            ("kafka", &self.kafka.bootstrap),
            ("engine", &self.engine.bootstrap),
        ]
    }
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin")
}

/// The error code of a one-topic admin result (None: it succeeded).
fn code(result: &[Result<String, (String, RDKafkaErrorCode)>]) -> Option<RDKafkaErrorCode> {
    result[0].as_ref().err().map(|(_, c)| *c)
}

/// Creates `topic` on `target`, failing the test on a refusal.
async fn create_one(target: &str, bootstrap: &str, topic: NewTopic<'_>) {
    let created = admin(bootstrap)
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create_topics");
    assert_eq!(code(&created), None, "{target}: {} created", topic.name);
}

/// Reads `want` records of partition 0 of `topic` from the beginning: (offset, key, value).
fn read_all(bootstrap: &str, topic: &str, want: usize) -> Vec<(i64, String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "conformance")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assign");
    consumer.assign(&tpl).expect("assign");
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push((m.offset(), text(m.key()), text(m.payload())));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_every_codec_come_back_the_same_from_both() {
    let pair = Pair::start();
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let mut seen = Vec::new();
    for (name, bootstrap) in pair.targets() {
        create_one(
            name,
            bootstrap,
            NewTopic::new("codecs", 1, TopicReplication::Fixed(1)),
        )
        .await;
        for codec in codecs {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("compression.codec", codec)
                .set("acks", "all")
                .set("linger.ms", "20")
                .create()
                .expect("producer");
            let sends = (0..10).map(|i| {
                let (key, value) = (
                    format!("{codec}-{i}"),
                    format!("{codec} {}", "v".repeat(i * 40)),
                );
                let producer = producer.clone();
                async move {
                    producer
                        .send(
                            FutureRecord::to("codecs").key(&key).payload(&value),
                            Duration::from_secs(20),
                        )
                        .await
                        .map(|d| d.offset)
                        .map_err(|(e, _)| e)
                }
            });
            for sent in futures::future::join_all(sends).await {
                sent.unwrap_or_else(|e| panic!("{name}: produce with {codec}: {e}"));
            }
        }
        let records = read_all(bootstrap, "codecs", 50);
        assert_eq!(records.len(), 50, "{name}: every record read back");
        seen.push(records);
    }
    assert_eq!(
        seen[1], seen[0],
        "the engine returns the records at the offsets Kafka does"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_refusals_carry_the_error_codes_kafka_gives() {
    let pair = Pair::start();
    let mut outcomes = Vec::new();
    for (name, bootstrap) in pair.targets() {
        let admin = admin(bootstrap);
        let opts = AdminOptions::new();
        let create = |topic: &'static str, partitions: i32, rf: i32| {
            let admin = &admin;
            let opts = &opts;
            async move {
                code(
                    &admin
                        .create_topics(
                            [&NewTopic::new(
                                topic,
                                partitions,
                                TopicReplication::Fixed(rf),
                            )],
                            opts,
                        )
                        .await
                        .expect("create_topics"),
                )
            }
        };
        let mut got = vec![
            ("create", create("taken", 2, 1).await),
            ("create an existing topic", create("taken", 2, 1).await),
            (
                "create an invalid name",
                create("no spaces allowed", 1, 1).await,
            ),
            (
                "create with more replicas than brokers",
                create("wide", 1, 2).await,
            ),
        ];
        let deleted = admin
            .delete_topics(&["never-created"], &opts)
            .await
            .expect("delete_topics");
        got.push(("delete an unknown topic", code(&deleted)));
        let shrunk = admin
            .create_partitions([&NewPartitions::new("taken", 1)], &opts)
            .await
            .expect("create_partitions");
        got.push(("lower the partition count", code(&shrunk)));
        let grown = admin
            .create_partitions([&NewPartitions::new("taken", 4)], &opts)
            .await
            .expect("create_partitions");
        got.push(("raise the partition count", code(&grown)));
        outcomes.push((name, got));
    }
    let (kafka, engine) = (&outcomes[0].1, &outcomes[1].1);
    // What Kafka answers, so a change of the reference shows here first.
    assert_eq!(
        kafka,
        &vec![
            ("create", None),
            (
                "create an existing topic",
                Some(RDKafkaErrorCode::TopicAlreadyExists)
            ),
            (
                "create an invalid name",
                Some(RDKafkaErrorCode::InvalidTopic)
            ),
            (
                "create with more replicas than brokers",
                Some(RDKafkaErrorCode::InvalidReplicationFactor)
            ),
            (
                "delete an unknown topic",
                Some(RDKafkaErrorCode::UnknownTopicOrPartition)
            ),
            (
                "lower the partition count",
                Some(RDKafkaErrorCode::InvalidPartitions)
            ),
            ("raise the partition count", None),
        ]
    );
    assert_eq!(engine, kafka, "the engine answers as Kafka does");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_describe_with_kafkas_names_values_and_sources() {
    use rdkafka::admin::ResourceSpecifier;
    const KEYS: [&str; 9] = [
        "cleanup.policy",
        "compression.type",
        "max.message.bytes",
        "message.timestamp.type",
        "min.insync.replicas",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.ms",
    ];
    let pair = Pair::start();
    let mut described = Vec::new();
    for (name, bootstrap) in pair.targets() {
        let admin = admin(bootstrap);
        let topic = NewTopic::new("configured", 1, TopicReplication::Fixed(1))
            .set("retention.ms", "3600000");
        create_one(name, bootstrap, topic).await;
        let configs = admin
            .describe_configs(
                [&ResourceSpecifier::Topic("configured")],
                &AdminOptions::new(),
            )
            .await
            .expect("describe_configs");
        let config = configs[0].as_ref().expect("the topic's configs");
        let entries: Vec<(String, Option<String>, String)> = KEYS
            .iter()
            .map(|k| match config.get(k) {
                Some(e) => (k.to_string(), e.value.clone(), format!("{:?}", e.source)),
                None => (k.to_string(), None, "missing".into()),
            })
            .collect();
        described.push(entries);
    }
    assert_eq!(
        described[0].iter().find(|e| e.0 == "retention.ms"),
        Some(&(
            "retention.ms".to_owned(),
            Some("3600000".to_owned()),
            "DynamicTopic".to_owned()
        )),
        "Kafka reports the override as a topic config"
    );
    assert_eq!(
        described[0].iter().find(|e| e.0 == "min.insync.replicas"),
        Some(&(
            "min.insync.replicas".to_owned(),
            Some("1".to_owned()),
            "DynamicDefaultBroker".to_owned()
        )),
        "Kafka 4 reports min.insync.replicas as the cluster-wide default its format wrote"
    );
    assert_eq!(
        described[1], described[0],
        "the engine describes as Kafka does"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_find_the_same_offsets() {
    let pair = Pair::start();
    let mut found = Vec::new();
    for (name, bootstrap) in pair.targets() {
        create_one(
            name,
            bootstrap,
            NewTopic::new("timed", 1, TopicReplication::Fixed(1)),
        )
        .await;
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        // Records stamped 1000, 2000, ... 10000 ms by the producer (CreateTime).
        for i in 1..=10i64 {
            producer
                .send(
                    FutureRecord::to("timed")
                        .key("k")
                        .payload("v")
                        .timestamp(i * 1000),
                    Duration::from_secs(20),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("{name}: produce: {e}"));
        }
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "timed")
            .create()
            .expect("consumer");
        let mut answers = Vec::new();
        // Before the first, between two, exactly on one, after the last.
        for at in [0i64, 2500, 7000, 99_000] {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("timed", 0, Offset::Offset(at))
                .expect("timestamp");
            let got = consumer
                .offsets_for_times(tpl, Duration::from_secs(10))
                .expect("offsets_for_times");
            let offset = got
                .find_partition("timed", 0)
                .map(|e| e.offset())
                .expect("partition");
            answers.push((at, offset));
        }
        found.push(answers);
    }
    assert_eq!(
        found[0],
        vec![
            (0, Offset::Offset(0)),
            (2500, Offset::Offset(2)),
            (7000, Offset::Offset(6)),
            (99_000, Offset::End),
        ],
        "Kafka's answers"
    );
    assert_eq!(found[1], found[0], "the engine finds what Kafka finds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_writes_deleted_records_and_committed_offsets_match() {
    use rdkafka::consumer::CommitMode;
    let pair = Pair::start();
    let mut seen = Vec::new();
    for (name, bootstrap) in pair.targets() {
        let admin = admin(bootstrap);
        create_one(
            name,
            bootstrap,
            NewTopic::new("trim", 1, TopicReplication::Fixed(1)),
        )
        .await;
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .create()
            .expect("producer");
        let mut offsets = Vec::new();
        for i in 0..10 {
            let key = format!("k{i}");
            let d = producer
                .send(
                    FutureRecord::to("trim").key(&key).payload("v"),
                    Duration::from_secs(20),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("{name}: produce: {e}"));
            offsets.push(d.offset);
        }
        // DeleteRecords to offset 4, then beyond the end.
        let delete = |to: i64| {
            let admin = &admin;
            async move {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset("trim", 0, Offset::Offset(to))
                    .expect("tpl");
                let r = admin
                    .delete_records(&tpl, &AdminOptions::new())
                    .await
                    .expect("delete_records");
                let p = r.find_partition("trim", 0).expect("partition");
                p.error()
                    .map(|()| p.offset())
                    .map_err(|e| e.rdkafka_error_code())
            }
        };
        let trimmed = delete(4).await;
        let beyond = delete(99).await;
        // A group commits offset 7 and reads it back; a group that never committed has none.
        let consumer = |group: &str| -> BaseConsumer {
            ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .create()
                .expect("consumer")
        };
        let mut marks = TopicPartitionList::new();
        marks
            .add_partition_offset("trim", 0, Offset::Offset(7))
            .expect("tpl");
        // Kafka's group coordinator loads for a moment after start: ask again meanwhile.
        let committer = consumer("bookmarks");
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = committer.commit(&marks, CommitMode::Sync) {
            let loading = matches!(
                e.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::NotCoordinator
                        | RDKafkaErrorCode::CoordinatorLoadInProgress
                        | RDKafkaErrorCode::CoordinatorNotAvailable
                )
            );
            assert!(loading && Instant::now() < deadline, "{name}: commit: {e}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition("trim", 0);
        let committed = |group: &str| {
            consumer(group)
                .committed_offsets(wanted.clone(), Duration::from_secs(10))
                .expect("committed offsets")
                .find_partition("trim", 0)
                .map(|e| e.offset())
        };
        let watermarks = consumer("reader")
            .fetch_watermarks("trim", 0, Duration::from_secs(10))
            .expect("watermarks");
        seen.push((
            offsets,
            trimmed,
            beyond,
            watermarks,
            committed("bookmarks"),
            committed("nobody"),
        ));
    }
    assert_eq!(
        seen[0],
        (
            (0..10).collect::<Vec<i64>>(),
            Ok(Offset::Offset(4)),
            Err(Some(RDKafkaErrorCode::OffsetOutOfRange)),
            (4, 10),
            Some(Offset::Offset(7)),
            Some(Offset::Invalid),
        ),
        "Kafka's answers"
    );
    assert_eq!(seen[1], seen[0], "the engine answers as Kafka does");
}
