//! Kafka's Java client (producer, consumer and Admin from the pinned kafka-clients) against
//! Apache Kafka and against the engine: each scenario of `tests/java-client/Scenarios.java`
//! runs on both, and the engine must print what Kafka prints, line for line, except for
//! the differences named in `DELIBERATE`, each with its reason.

use e2e::{differences, engine_broker::EngineBroker, java_client, reference_kafka::ReferenceKafka};

/// Lines where the engine differs from Kafka on purpose: (line prefix, why).
const DELIBERATE: &[(&str, &str)] = &[(
    "create compacted:",
    "the engine has no log cleaner yet, so it refuses cleanup.policy=compact \
     (INVALID_CONFIG) rather than keep a topic it would never compact",
)];

/// Whether a line is one of the deliberate differences (here or in `e2e::differences`).
fn deliberate(line: &str) -> bool {
    let config = line
        .strip_prefix("config ")
        .and_then(|rest| rest.split('=').next());
    DELIBERATE.iter().any(|(p, _)| line.starts_with(p))
        || config.is_some_and(differences::config_differs)
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
