//! Kafka's Java client (producer, consumer and Admin from the pinned kafka-clients) against
//! Apache Kafka and against the engine: each scenario of `tests/java-client/Scenarios.java`
//! runs on both, and the engine must print what Kafka prints, line for line, except for
//! the differences named in `DELIBERATE`, each with its reason.

use e2e::{
    differences,
    engine_broker::EngineBroker,
    java_client,
    reference_kafka::{KafkaOptions, ReferenceKafka},
};

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
    compare(scenario, &kafka.bootstrap, &engine.bootstrap, None);
}

/// Runs `scenario` against Kafka at `kafka` and the engine at `engine`, with the client
/// `properties`, and compares the outputs.
fn compare(scenario: &str, kafka: &str, engine: &str, properties: Option<&std::path::Path>) {
    let expected = java_client::run(scenario, kafka, properties).expect("against Kafka");
    let seen = java_client::run(scenario, engine, properties).unwrap_or_else(|e| {
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

const ADMIN_PASSWORD: &str = "admin-secret-1";
const ADMIN_JAAS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule required \
    username=\"admin\" password=\"admin-secret-1\";";

/// Kafka with its client listener on SASL_PLAINTEXT (SCRAM-SHA-512) and the standard
/// authorizer, `admin` created at format time as its super user (and the controller
/// listener's anonymous principal, which only the node itself uses).
fn secured_kafka() -> ReferenceKafka {
    let properties = format!(
        "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         sasl.enabled.mechanisms=SCRAM-SHA-512\n\
         sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n\
         listener.name.plaintext.scram-sha-512.sasl.jaas.config={ADMIN_JAAS}\n\
         authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         super.users=User:admin;User:ANONYMOUS\n"
    );
    let scram = format!("SCRAM-SHA-512=[name=admin,password={ADMIN_PASSWORD}]");
    ReferenceKafka::start_with(&KafkaOptions {
        extra_properties: &properties,
        format_args: &["--add-scram", &scram],
        ..KafkaOptions::default()
    })
    .expect("Apache Kafka with SASL and an authorizer")
}

/// The engine with the same: SASL_PLAINTEXT with SCRAM-SHA-512, the authorizer on, and
/// `admin`'s credential given in its stored form.
fn secured_engine(dir: &std::path::Path) -> EngineBroker {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    use tideway_engine::security::scram::{Credential, Mechanism};
    let cred = Credential::new(Mechanism::Sha512, ADMIN_PASSWORD, 4096);
    let config = dir.join("broker.toml");
    std::fs::write(
        &config,
        format!(
            "security-protocol = \"SASL_PLAINTEXT\"\nsasl-mechanisms = [\"SCRAM-SHA-512\"]\n\
             [authorizer]\nenabled = true\nsuper-users = [\"User:admin\"]\n\
             [[bootstrap-credentials]]\nuser = \"admin\"\nmechanism = \"SCRAM-SHA-512\"\n\
             iterations = {}\nsalt = \"{}\"\nstored-key = \"{}\"\nserver-key = \"{}\"\n",
            cred.iterations,
            B64.encode(&cred.salt),
            B64.encode(&cred.stored_key),
            B64.encode(&cred.server_key),
        ),
    )
    .expect("engine config");
    let config = config.to_string_lossy().into_owned();
    EngineBroker::start(&["--config", &config]).expect("the engine with SASL and an authorizer")
}

#[test]
fn an_authorizer_refuses_what_kafkas_refuses() {
    let dir = tempfile::tempdir().expect("dir");
    let client = dir.path().join("admin.properties");
    std::fs::write(
        &client,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config={ADMIN_JAAS}\n"
        ),
    )
    .expect("client properties");
    let kafka = secured_kafka();
    let engine = secured_engine(dir.path());
    compare(
        "secured",
        &kafka.bootstrap,
        &engine.bootstrap,
        Some(&client),
    );
}
