//! Storage budgets held by the broker itself: once a slice's prefix budget (or the
//! broker's whole storage) is used, produce is refused with POLICY_VIOLATION and a message
//! naming the quota, while other slices write on and nobody's data is touched. A budget
//! the agent raises in the budgets file takes effect without a restart.

mod common;

use std::time::{Duration, Instant};

use common::{drain, raw, BrokerProcess};
use kafka_protocol::ResponseError;
use rdkafka::{error::KafkaError, producer::FutureRecord, types::RDKafkaErrorCode};
use tideway_engine::storage_budget::PrefixBudget;

const KIB: u64 = 1024;

fn write_budgets(path: &std::path::Path, list: &[PrefixBudget]) {
    std::fs::write(path, serde_json::to_vec(list).expect("json")).expect("budgets file");
}

fn slice(name: &str, max_bytes: u64) -> PrefixBudget {
    PrefixBudget {
        name: format!("slice {name}"),
        prefix: format!("{name}."),
        max_bytes,
    }
}

/// Produces 1 KiB records to `topic` until one is refused: (records acknowledged, the
/// refusal). Panics if 1000 records pass.
async fn fill(broker: &BrokerProcess, topic: &str) -> (usize, KafkaError) {
    let producer = broker.producer(&[("acks", "1"), ("linger.ms", "0")]);
    let value = vec![b'v'; 1024];
    for acked in 0..1000 {
        let key = format!("k{acked}");
        let sent = producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await;
        if let Err((e, _)) = sent {
            return (acked, e);
        }
    }
    panic!("1000 KiB went into {topic} without a refusal");
}

#[tokio::test]
async fn a_used_up_slice_budget_refuses_its_writes_only_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("dir");
    let budgets = dir.path().join("storage-budgets.json");
    write_budgets(
        &budgets,
        &[
            slice("team-a.orders", 64 * KIB),
            slice("team-b.audit", 64 * KIB),
        ],
    );
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nbudgets-file = {:?}\n",
            budgets.to_str().expect("utf8")
        ),
    )
    .expect("config");
    let broker = BrokerProcess::start(
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf8")],
    );
    // Retention -1 (keep everything) is allowed: the budget still bounds the topic.
    broker
        .create_topic("team-a.orders.events", 1, &[("retention.bytes", "-1")])
        .await;
    broker.create_topic("team-b.audit.log", 1, &[]).await;

    let (acked, refused) = fill(&broker, "team-a.orders.events").await;
    assert_eq!(
        refused,
        KafkaError::MessageProduction(RDKafkaErrorCode::PolicyViolation)
    );
    assert!(
        (50..=64).contains(&acked),
        "about 64 KiB of 1 KiB records before the refusal, got {acked}"
    );
    // On the wire: the Kafka code with a message naming the quota and the way out.
    let refusal = raw::produce(
        &broker,
        "team-a.orders.events",
        raw::batch(raw::PLAIN, 1, 2048).freeze(),
    );
    assert_eq!(refusal.error_code, ResponseError::PolicyViolation.code());
    let message = refusal
        .error_message
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("the storage quota of slice team-a.orders is used up: ")
            && message.ends_with(
                "held on this broker; delete records or topics, lower retention, or ask for a larger quota"
            ),
        "{message}"
    );

    // Another slice writes on; the full slice's records are all still there.
    let other = broker.producer(&[("acks", "1")]);
    other
        .send(
            FutureRecord::to("team-b.audit.log")
                .key("k")
                .payload("fine"),
            Duration::from_secs(10),
        )
        .await
        .expect("the other slice's write");
    let kept = drain(
        &broker.reader("team-a.orders.events", 1),
        acked,
        Duration::from_secs(20),
    );
    assert_eq!(kept.len(), acked, "every acknowledged record readable");

    // The agent raises the quota: writes pass again, without a restart.
    write_budgets(
        &budgets,
        &[
            slice("team-a.orders", 256 * KIB),
            slice("team-b.audit", 64 * KIB),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = raw::produce(
            &broker,
            "team-a.orders.events",
            raw::batch(raw::PLAIN, 1, 10).freeze(),
        );
        if r.error_code == 0 {
            break;
        }
        assert_eq!(r.error_code, ResponseError::PolicyViolation.code());
        assert!(Instant::now() < deadline, "the larger quota never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_broker_never_holds_more_than_its_storage_budget() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("broker.toml");
    std::fs::write(&config, format!("[storage]\nmax-bytes = {}\n", 48 * KIB)).expect("config");
    let broker = BrokerProcess::start(
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf8")],
    );
    broker.create_topic("first", 1, &[]).await;
    broker.create_topic("second", 1, &[]).await;
    let (acked, refused) = fill(&broker, "first").await;
    assert_eq!(
        refused,
        KafkaError::MessageProduction(RDKafkaErrorCode::PolicyViolation)
    );
    assert!((30..=48).contains(&acked), "{acked} records of 1 KiB");
    // The budget is the broker's: every topic is refused now.
    let r = raw::produce(&broker, "second", raw::batch(raw::PLAIN, 1, 2048).freeze());
    assert_eq!(r.error_code, ResponseError::PolicyViolation.code());
    let message = r.error_message.map(|m| m.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("this broker's storage is used up: "),
        "{message}"
    );
}
