//! Moving a partition between the brokers of a three-broker engine cluster with Kafka's
//! own tools (`kafka-reassign-partitions`, `kafka-leader-election`, from the reference
//! jars), while an idempotent acks=all producer keeps writing: the partition ends on its
//! new replicas, the broker it left drops its log, every acknowledged record is read back
//! once and in order, and a preferred-leader election hands leadership to the first
//! replica.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{cluster::Cluster, drain};
use rdkafka::{
    admin::{AdminOptions, NewTopic, TopicReplication},
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
};

const TOPIC: &str = "moving";
const REASSIGN: &str = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";
const ELECT: &str = "org.apache.kafka.tools.LeaderElectionCommand";

/// Runs one of Kafka's tools; it must succeed. Its stdout.
fn tool(class: &str, args: &[&str]) -> String {
    let out = e2e::reference_kafka::run_tool(class, args, "").expect("java");
    assert!(
        out.status.success(),
        "{class} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a plan moving partition 0 to `replicas` into `file` and has
/// `kafka-reassign-partitions --execute` start it: the tool's output.
fn execute(bootstrap: &str, file: &str, replicas: &[i32]) -> String {
    let plan = serde_json::json!({
        "version": 1,
        "partitions": [{"topic": TOPIC, "partition": 0, "replicas": replicas}],
    });
    std::fs::write(file, plan.to_string()).expect("plan");
    tool(
        REASSIGN,
        &[
            "--bootstrap-server",
            bootstrap,
            "--reassignment-json-file",
            file,
            "--execute",
        ],
    )
}

/// (leader, replicas, ISR) of partition 0, as the cluster describes it.
fn placement(c: &Cluster) -> (i32, Vec<i32>, Vec<i32>) {
    let consumer: BaseConsumer = c.client().create().expect("client");
    let m = consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
        .expect("metadata");
    let p = &m.topics()[0].partitions()[0];
    let mut replicas = p.replicas().to_vec();
    let mut isr = p.isr().to_vec();
    replicas.sort_unstable();
    isr.sort_unstable();
    (p.leader(), replicas, isr)
}

/// Waits for `done`, failing with `what` after `within`.
fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An idempotent acks=all producer writing `k{n}` until stopped: the `n`s acknowledged.
fn keep_producing(c: &Cluster, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u64>> {
    let producer: FutureProducer = c
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let acked = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(async move {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("k{n}");
            let record = FutureRecord::to(TOPIC).key(&key).payload("v").partition(0);
            if producer.send(record, Duration::from_secs(30)).await.is_ok() {
                acked.lock().expect("acked").push(n);
            }
            n += 1;
        }
        let keys = acked.lock().expect("acked").clone();
        keys
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_tools_move_a_partition_while_producers_write_and_nothing_is_lost() {
    let c = Cluster::start("");
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    let admin = c.broker(0).admin();
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1));
    let created = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create");
    created[0].as_ref().expect("created");
    until(
        "a leader for the new topic",
        Duration::from_secs(20),
        || placement(&c).0 > 0,
    );
    let (first, _, _) = placement(&c);
    let target: Vec<i32> = (1..=3).filter(|b| *b != first).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let producing = keep_producing(&c, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("reassign.json");
    let bootstrap = c.bootstrap();
    let file = file.to_str().expect("utf8");
    let executed = execute(&bootstrap, file, &target);
    assert!(
        executed.contains("Successfully started partition reassignment"),
        "{executed}"
    );
    let mut verified = String::new();
    until(
        "the reassignment completes",
        Duration::from_secs(60),
        || {
            verified = tool(
                REASSIGN,
                &[
                    "--bootstrap-server",
                    &bootstrap,
                    "--reassignment-json-file",
                    file,
                    "--verify",
                    "--preserve-throttles",
                ],
            );
            verified.contains(&format!("Reassignment of partition {TOPIC}-0 is completed"))
        },
    );
    let (leader, replicas, isr) = placement(&c);
    assert_eq!((replicas.clone(), isr), (target.clone(), target.clone()));
    assert_eq!(leader, target[0], "the first target replica leads");

    // The broker the partition left drops its log.
    let old_logs = c.data_dir(first as usize - 1).join("logs");
    until(
        "the old replica's log is removed",
        Duration::from_secs(20),
        || {
            std::fs::read_dir(&old_logs)
                .map(|d| d.flatten().all(|topic| !topic.path().join("0").exists()))
                .unwrap_or(true)
        },
    );

    // Reordering the replicas moves no data; a preferred election then moves leadership.
    let reordered: Vec<i32> = target.iter().rev().copied().collect();
    execute(&bootstrap, file, &reordered);
    let elected = tool(
        ELECT,
        &[
            "--bootstrap-server",
            &bootstrap,
            "--election-type",
            "PREFERRED",
            "--topic",
            TOPIC,
            "--partition",
            "0",
        ],
    );
    assert!(
        elected.contains(&format!(
            "Successfully completed leader election (PREFERRED) for partitions {TOPIC}-0"
        )),
        "{elected}"
    );
    until(
        "the preferred replica leads",
        Duration::from_secs(20),
        || placement(&c).0 == reordered[0],
    );
    let again = tool(
        ELECT,
        &[
            "--bootstrap-server",
            &bootstrap,
            "--election-type",
            "PREFERRED",
            "--all-topic-partitions",
        ],
    );
    // Asked for every partition, Kafka reports only those that needed an election.
    assert!(
        !again.contains("Successfully completed"),
        "no partition needed an election: {again}"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = producing.await.expect("producer");
    assert!(
        acked.len() > 100,
        "only {} records acknowledged",
        acked.len()
    );

    let reader = c.broker(0).reader(TOPIC, 1);
    let seen: Vec<u64> = drain(&reader, acked.len(), Duration::from_secs(30))
        .into_iter()
        .map(|(_, _, key, _)| key[1..].parse().expect("a k<n> key"))
        .collect();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "no record duplicated or reordered"
    );
    let lost: Vec<&u64> = acked.iter().filter(|n| !seen.contains(n)).collect();
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
}
