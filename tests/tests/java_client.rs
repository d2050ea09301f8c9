//! Kafka's Java client (producer, consumer and Admin from the pinned kafka-clients) against
//! Apache Kafka and against the engine: each scenario of `tests/java-client/Scenarios.java`
//! runs on both, and the engine must print what Kafka prints, line for line, except for
//! the differences named in `DELIBERATE`, each with its reason.

use e2e::{engine_broker::EngineBroker, java_client, reference_kafka::ReferenceKafka};

/// Lines where the engine differs from Kafka on purpose: (line prefix, why).
const DELIBERATE: &[(&str, &str)] = &[
    (
        "create compacted:",
        "the engine has no log cleaner yet, so it refuses cleanup.policy=compact \
         (INVALID_CONFIG) rather than keep a topic it would never compact",
    ),
    (
        "config flush.ms=",
        "the engine fsyncs a standalone partition within a second by default \
         (flush.ms=1000) where Kafka leaves it to the OS, so an acknowledged record \
         survives a power cut",
    ),
];

/// Topic configs Kafka reports that the engine neither lists nor accepts: it refuses to
/// set them (INVALID_CONFIG, naming the config) rather than accept one it would not
/// enforce — compaction, tiered storage, replication throttles, preallocation, timestamp
/// bounds, compression levels and index sizing are not in the engine.
const UNHONOURED_TOPIC_CONFIGS: &[&str] = &[
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "segment.index.bytes",
    "segment.jitter.ms",
];

fn deliberate(line: &str) -> bool {
    DELIBERATE.iter().any(|(p, _)| line.starts_with(p))
        || UNHONOURED_TOPIC_CONFIGS
            .iter()
            .any(|c| line.starts_with(&format!("config {c}=")))
}

/// Runs `scenario` on both brokers and compares the outputs.
fn differential(scenario: &str, engine_flags: &[&str]) {
    let kafka = ReferenceKafka::start().expect("Apache Kafka");
    let engine = EngineBroker::start(engine_flags).expect("the engine");
    let expected = java_client::run(scenario, &kafka.bootstrap, None).expect("against Kafka");
    let seen = java_client::run(scenario, &engine.bootstrap, None).unwrap_or_else(|e| {
        panic!(
            "against the engine: {e:#}\nKafka printed:\n{}",
            expected.join("\n")
        )
    });
    let keep = |lines: &[String]| -> Vec<String> {
        lines.iter().filter(|l| !deliberate(l)).cloned().collect()
    };
    let (expected, seen) = (keep(&expected), keep(&seen));
    let mismatches: Vec<String> = (0..expected.len().max(seen.len()))
        .filter_map(|i| {
            let (k, e) = (expected.get(i), seen.get(i));
            (k != e).then(|| format!("  kafka:  {k:?}\n  engine: {e:?}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{scenario}: the engine differs from Kafka in {} line(s):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(!expected.is_empty(), "{scenario} printed nothing");
}

#[test]
fn java_producer_consumer_and_list_offsets_see_what_kafka_shows() {
    differential("records", &[]);
}

#[test]
fn java_consumer_groups_rebalance_as_on_kafka() {
    differential("groups", &["--group-initial-rebalance-delay", "0s"]);
}

#[test]
fn java_admin_sees_what_kafka_shows() {
    differential("admin", &[]);
}

#[test]
fn topic_configs_describe_with_kafkas_types_and_synonyms() {
    differential("topic-configs", &[]);
}
