//! Replication under faults, with three real broker processes and rdkafka clients, and a
//! Jepsen-style history: every acknowledged write and every record a consumer read is
//! logged, and the final log is checked against it — no acknowledged write lost or
//! duplicated, no read of a record the cluster did not keep.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::cluster::Cluster;
use e2e::history::{self, FinalLog};
use rdkafka::{
    admin::{AdminOptions, NewTopic, TopicReplication},
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
    Message, Offset, TopicPartitionList,
};

/// Fast failure detection so the tests do not wait for production timeouts.
const FAST: &str = "broker-session-timeout = \"1s\"\nreplica-lag-time-max = \"2s\"";

async fn create(c: &Cluster, topic: &str, partitions: i32) {
    let r = c
        .broker(0)
        .admin()
        .create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(3),
            )],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics");
    r[0].as_ref().expect("topic created");
    c.until_isr(topic, 3, Duration::from_secs(20));
}

fn producer(c: &Cluster, idempotent: bool, timeout_ms: u32) -> FutureProducer {
    c.client()
        .set("acks", "all")
        .set("enable.idempotence", idempotent.to_string())
        .set("message.timeout.ms", timeout_ms.to_string())
        .set("linger.ms", "2")
        .create()
        .expect("producer")
}

/// The whole committed log of `topic` (every partition, to the high watermark).
fn final_log(c: &Cluster, topic: &str, partitions: i32) -> FinalLog {
    history::read_final_log(&c.client(), topic, partitions)
}

/// Each acknowledged value is in the final log exactly once, at the offset it was
/// acknowledged with, in its producer's order; every read saw a record the final log
/// holds at the same place.
fn check_history(acked: &[(String, i32, i64)], reads: &[(i32, i64, String)], log: &FinalLog) {
    let report = history::check(acked, reads, log);
    assert!(report.is_clean(), "{report}");
}

/// A group consumer logging every record it reads, in a thread of its own.
struct Auditor {
    reads: Arc<Mutex<Vec<(i32, i64, String)>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Auditor {
    fn start(c: &Cluster, topic: &str, group: &str) -> Auditor {
        let consumer: BaseConsumer = c
            .client()
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let reads: Arc<Mutex<Vec<(i32, i64, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (reads, stop) = (reads.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                        let v =
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                        reads
                            .lock()
                            .expect("reads")
                            .push((m.partition(), m.offset(), v));
                    }
                }
            })
        };
        Auditor {
            reads,
            stop,
            thread,
        }
    }

    /// Waits (within `within`) until the group has read every value of `acked`.
    async fn until_read(&self, acked: &[(String, i32, i64)], within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let missing = {
                let reads = self.reads.lock().expect("reads");
                let seen: std::collections::HashSet<&str> =
                    reads.iter().map(|r| r.2.as_str()).collect();
                acked
                    .iter()
                    .filter(|a| !seen.contains(a.0.as_str()))
                    .count()
            };
            assert!(
                missing == 0 || std::time::Instant::now() < deadline,
                "the group never read {missing} acknowledged records"
            );
            if missing == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the consumer: every read, in order.
    fn finish(self) -> Vec<(i32, i64, String)> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().expect("auditor");
        std::mem::take(&mut *self.reads.lock().expect("reads"))
    }
}

type Sent = Vec<(String, rdkafka::producer::DeliveryFuture)>;

/// Enqueues one record per value (no key) without waiting for delivery.
fn send_all(producer: &FutureProducer, topic: &str, values: impl Iterator<Item = String>) -> Sent {
    values
        .map(|value| {
            let d = producer
                .send_result(FutureRecord::<(), _>::to(topic).payload(&value))
                .map_err(|(e, _)| e)
                .expect("enqueue");
            (value, d)
        })
        .collect()
}

/// Awaits every delivery: (acknowledged (value, partition, offset), failures).
async fn settle(sent: Sent) -> (Vec<(String, i32, i64)>, Vec<(String, KafkaError)>) {
    let (mut acked, mut failed) = (Vec::new(), Vec::new());
    for (value, delivery) in sent {
        match delivery.await.expect("delivery future") {
            Ok(d) => acked.push((value, d.partition, d.offset)),
            Err((e, _)) => failed.push((value, e)),
        }
    }
    (acked, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_acks_all_loses_no_acknowledged_record() {
    let mut c = Cluster::start(FAST);
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    create(&c, "ledger", 1).await;
    let auditor = Auditor::start(&c, "ledger", "auditors");
    let producer = producer(&c, true, 30_000);
    let mut sent: Sent = Vec::new();
    let mut killed = None;
    for i in 0..600 {
        let value = format!("r{i}");
        let delivery = producer
            .send_result(FutureRecord::<(), _>::to("ledger").payload(&value))
            .map_err(|(e, _)| e)
            .expect("enqueue");
        sent.push((value, delivery));
        if i == 200 {
            let (leader, _) = c.partitions("ledger")[0];
            c.brokers[(leader - 1) as usize]
                .take()
                .expect("leader running")
                .crash();
            killed = Some(leader);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (acked, failed) = settle(sent).await;
    assert!(
        failed.is_empty(),
        "idempotent retries ride out the failover: {failed:?}"
    );
    assert_eq!(acked.len(), 600);
    let killed = killed.expect("a leader was killed");
    let (new_leader, isr) = c.partitions("ledger")[0].clone();
    assert_ne!(new_leader, killed, "leadership moved");
    assert!(
        !isr.contains(&killed),
        "the dead broker left the ISR: {isr:?}"
    );

    // The group kept consuming through the failover and saw every acknowledged record.
    auditor.until_read(&acked, Duration::from_secs(30)).await;
    let reads = auditor.finish();

    let log = final_log(&c, "ledger", 1);
    check_history(&acked, &reads, &log);

    // The killed broker comes back, catches up, rejoins the ISR; the log is unchanged.
    let i = (killed - 1) as usize;
    c.brokers[i] = Some(c.spawn(i));
    c.until_isr("ledger", 3, Duration::from_secs(30));
    assert_eq!(final_log(&c, "ledger", 1), log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_of_three_down_acks_all_is_refused_and_resumes_when_they_return() {
    let mut c = Cluster::start(FAST);
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    create(&c, "guarded", 1).await;
    let producer = producer(&c, false, 5_000);
    let sent = send_all(&producer, "guarded", (0..20).map(|i| format!("before-{i}")));
    let (mut acked, failed) = settle(sent).await;
    assert!(failed.is_empty(), "{failed:?}");

    let (leader, _) = c.partitions("guarded")[0];
    let followers: Vec<usize> = (0..3).filter(|i| *i as i32 + 1 != leader).collect();
    for i in &followers {
        c.brokers[*i].take().expect("running").crash();
    }
    // No retries, so the broker's own refusal reaches the application. Until the leader
    // has seen its followers fall behind (replica-lag-time-max) the write times out
    // instead: ask again, within a deadline; it is never accepted.
    let probe: FutureProducer = c
        .client()
        .set("acks", "all")
        .set("retries", "0")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("producer");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let refused = probe
            .send(
                FutureRecord::<(), _>::to("guarded").payload("alone"),
                Duration::from_secs(10),
            )
            .await;
        match refused {
            Err((
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::NotEnoughReplicas
                    | RDKafkaErrorCode::NotEnoughReplicasAfterAppend,
                ),
                _,
            )) => break,
            Ok(d) => panic!("acks=all with one live replica was accepted: {d:?}"),
            Err((e, _)) => assert!(
                std::time::Instant::now() < deadline,
                "acks=all with one live replica was never refused with NOT_ENOUGH_REPLICAS, last {e:?}"
            ),
        }
    }

    for i in followers {
        c.brokers[i] = Some(c.spawn(i));
    }
    c.until_isr("guarded", 3, Duration::from_secs(30));
    let sent = send_all(&producer, "guarded", (0..20).map(|i| format!("after-{i}")));
    let (after, failed) = settle(sent).await;
    assert!(failed.is_empty(), "service resumed: {failed:?}");
    acked.extend(after);
    let log = final_log(&c, "guarded", 1);
    check_history(&acked, &[], &log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_with_controlled_shutdown_fails_no_produce() {
    let mut c = Cluster::start(FAST);
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    create(&c, "rolling", 3).await;
    let producer = Arc::new(producer(&c, true, 60_000));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Sent::new()));
    let load = {
        let (producer, stop, sent) = (producer.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                let value = format!("v{i}");
                let d = producer
                    .send_result(FutureRecord::to("rolling").key(&value).payload(&value))
                    .map_err(|(e, _)| e)
                    .expect("enqueue");
                sent.lock().expect("lock").push((value, d));
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    for i in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.brokers[i].take().expect("running").stop();
        c.brokers[i] = Some(c.spawn(i));
        c.until_brokers(i, 3);
        c.until_isr("rolling", 3, Duration::from_secs(30));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    load.await.expect("load");
    let sent = std::mem::take(&mut *sent.lock().expect("lock"));
    let total = sent.len();
    let (acked, failed) = settle(sent).await;
    assert!(
        failed.is_empty(),
        "{} of {total} produces failed: {failed:?}",
        failed.len()
    );
    let log = final_log(&c, "rolling", 3);
    check_history(&acked, &[], &log);
}

/// Committed offsets of `group` for partitions 0..n of `topic`, asked of its current
/// coordinator (whichever broker that is).
fn committed(c: &Cluster, topic: &str, n: i32, group: &str) -> Vec<i64> {
    let consumer: BaseConsumer = c
        .client()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(20))
        .expect("committed offsets");
    (0..n)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            other => panic!("partition {p}: {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_outlive_the_group_coordinator() {
    let mut c = Cluster::start(FAST);
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    create(&c, "tracked", 3).await;
    let committer: BaseConsumer = c
        .client()
        .set("group.id", "keepers")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, offset) in [(0, 11), (1, 22), (2, 33)] {
        tpl.add_partition_offset("tracked", p, Offset::Offset(offset))
            .expect("offset");
    }
    committer
        .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    drop(committer);
    assert_eq!(committed(&c, "tracked", 3, "keepers"), vec![11, 22, 33]);

    // Every broker in turn crashes (one of them coordinates the group); the offsets are
    // still there, served by whichever broker coordinates the group next.
    for i in 0..3 {
        c.brokers[i].take().expect("running").crash();
        assert_eq!(
            committed(&c, "tracked", 3, "keepers"),
            vec![11, 22, 33],
            "with broker {} down",
            i + 1
        );
        c.brokers[i] = Some(c.spawn(i));
        c.until_brokers(i, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_producers_on_three_brokers_lose_duplicate_and_reorder_nothing_through_a_crash() {
    const PER_PRODUCER: usize = 300;
    let mut c = Cluster::start(FAST);
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    create(&c, "shared-ledger", 3).await;
    let auditor = Auditor::start(&c, "shared-ledger", "history");
    // Each producer knows only one broker at first, so each gets its producer id there.
    let producers: Vec<FutureProducer> = (0..3)
        .map(|i| {
            c.broker(i)
                .config()
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .set("message.timeout.ms", "60000")
                .set("linger.ms", "2")
                .create()
                .expect("producer")
        })
        .collect();
    let mut sent: Sent = Vec::new();
    let mut killed = None;
    for seq in 0..PER_PRODUCER {
        for (k, producer) in producers.iter().enumerate() {
            let value = format!("p{k}-{seq}");
            let record = FutureRecord::<(), _>::to("shared-ledger")
                .payload(&value)
                .partition((seq % 3) as i32);
            let delivery = producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue");
            sent.push((value, delivery));
        }
        // The leader of partition 0 dies mid-stream (kill -9) and comes back later.
        if seq == PER_PRODUCER / 3 {
            let (leader, _) = c.partitions("shared-ledger")[0];
            c.brokers[(leader - 1) as usize]
                .take()
                .expect("leader running")
                .crash();
            killed = Some(leader);
        }
        if seq == 2 * PER_PRODUCER / 3 {
            let i = (killed.expect("killed") - 1) as usize;
            c.brokers[i] = Some(c.spawn(i));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (acked, failed) = settle(sent).await;
    assert!(
        failed.is_empty(),
        "idempotent retries ride out the crash: {failed:?}"
    );
    assert_eq!(acked.len(), 3 * PER_PRODUCER);
    c.until_isr("shared-ledger", 3, Duration::from_secs(60));

    let log = final_log(&c, "shared-ledger", 3);
    let reads = auditor.finish();
    // Lost, misplaced, duplicated or reordered within a producer and partition.
    check_history(&acked, &reads, &log);
    assert_eq!(
        log.len(),
        3 * PER_PRODUCER,
        "nothing but what was acknowledged"
    );
}
