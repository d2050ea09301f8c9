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
        let created = admin(bootstrap)
            .create_topics(
                [&NewTopic::new("codecs", 1, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .expect("create_topics");
        assert_eq!(code(&created), None, "{name}: topic created");
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
