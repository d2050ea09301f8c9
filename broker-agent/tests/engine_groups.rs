//! Consumer groups with rdkafka: three members share the partitions, commit, rebalance when
//! one leaves; committed offsets survive a broker restart; groups are listed, described
//! and deleted.

mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::BrokerProcess;
use rdkafka::{
    admin::AdminOptions,
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::FutureRecord,
    types::RDKafkaErrorCode,
    Message,
};

const WAIT: Duration = Duration::from_secs(30);
const GROUP_FLAGS: &[&str] = &["--group-initial-rebalance-delay", "200ms"];

fn member(broker: &BrokerProcess, group: &str) -> BaseConsumer {
    let c: BaseConsumer = broker
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    c.subscribe(&["work"]).expect("subscribe");
    c
}

async fn produce(broker: &BrokerProcess, from: usize, to: usize) {
    let producer = broker.producer(&[]);
    let sends = (from..to).map(|i| {
        let producer = producer.clone();
        async move {
            let key = format!("k{i}");
            producer
                .send(
                    FutureRecord::to("work")
                        .key(&key)
                        .payload("v")
                        .partition((i % 6) as i32),
                    WAIT,
                )
                .await
                .map_err(|(e, _)| e)
        }
    });
    for r in futures::future::join_all(sends).await {
        r.expect("send");
    }
}

/// Polls `consumer` on its own thread, committing each message, until `stop`.
fn run_member(
    consumer: BaseConsumer,
    name: usize,
    seen: Arc<Mutex<Vec<(usize, String)>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<BaseConsumer> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                seen.lock().expect("lock").push((name, key));
                consumer
                    .commit_message(&m, CommitMode::Sync)
                    .expect("commit");
            }
        }
        consumer
    })
}

fn wait_for(seen: &Mutex<Vec<(usize, String)>>, n: usize) {
    let deadline = Instant::now() + WAIT;
    while seen.lock().expect("lock").len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_partitions_rebalance_and_resume_after_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), GROUP_FLAGS);
    broker.create_topic("work", 6, &[]).await;
    produce(&broker, 0, 600).await;

    let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let members: Vec<_> = (0..3)
        .map(|i| run_member(member(&broker, "g1"), i, seen.clone(), stop.clone()))
        .collect();
    wait_for(&seen, 600);
    {
        let seen = seen.lock().expect("lock");
        let keys: HashSet<&String> = seen.iter().map(|(_, k)| k).collect();
        assert_eq!((seen.len(), keys.len()), (600, 600), "each record once");
        let per_member: HashMap<usize, usize> =
            seen.iter().fold(HashMap::new(), |mut m, (who, _)| {
                *m.entry(*who).or_default() += 1;
                m
            });
        assert_eq!(
            per_member.len(),
            3,
            "all three members got partitions: {per_member:?}"
        );
    }

    // The group is Stable with three members, each owning two partitions.
    let probe: BaseConsumer = broker.config().create().expect("probe");
    let groups = probe.fetch_group_list(Some("g1"), WAIT).expect("groups");
    let g = &groups.groups()[0];
    assert_eq!(
        (g.state(), g.protocol_type(), g.members().len()),
        ("Stable", "consumer", 3)
    );

    // The members stop; committed offsets stay. The broker restarts cleanly.
    stop.store(true, Ordering::Relaxed);
    let consumers: Vec<BaseConsumer> = members
        .into_iter()
        .map(|h| h.join().expect("member"))
        .collect();
    drop(consumers);
    let listen = broker.listen();
    broker.stop();
    let broker = BrokerProcess::start_on(dir.path(), &listen, GROUP_FLAGS);
    produce(&broker, 600, 660).await;

    // A new member of the same group resumes at the committed offsets: only new records.
    let resumed: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = run_member(member(&broker, "g1"), 9, resumed.clone(), stop.clone());
    wait_for(&resumed, 60);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let consumer = handle.join().expect("member");
    let keys: Vec<usize> = resumed
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, k)| k[1..].parse().expect("n"))
        .collect();
    assert_eq!(
        keys.len(),
        60,
        "exactly the records produced after the restart"
    );
    assert!(keys.iter().all(|k| *k >= 600));

    // Deleting a group with members fails; once empty it succeeds and forgets offsets.
    let admin = broker.admin();
    let r = admin
        .delete_groups(&["g1"], &AdminOptions::new())
        .await
        .expect("delete");
    assert_eq!(
        r[0].as_ref().expect_err("non-empty").1,
        RDKafkaErrorCode::NonEmptyGroup
    );
    drop(consumer);
    let deadline = Instant::now() + WAIT;
    loop {
        let r = admin
            .delete_groups(&["g1"], &AdminOptions::new())
            .await
            .expect("delete");
        if r[0].is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the group never emptied: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let probe: BaseConsumer = broker.config().create().expect("probe");
    let groups = probe.fetch_group_list(None, WAIT).expect("groups");
    assert!(groups.groups().iter().all(|g| g.name() != "g1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_member_hands_its_partitions_to_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), GROUP_FLAGS);
    broker.create_topic("work", 6, &[]).await;
    let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let (stop_a, stop_b) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let a = run_member(member(&broker, "g2"), 0, seen.clone(), stop_a.clone());
    let b = run_member(member(&broker, "g2"), 1, seen.clone(), stop_b.clone());
    produce(&broker, 0, 60).await;
    wait_for(&seen, 60);
    assert_eq!(seen.lock().expect("lock").len(), 60);

    // a closes (LeaveGroup); b takes over every partition.
    stop_a.store(true, Ordering::Relaxed);
    drop(a.join().expect("a"));
    produce(&broker, 60, 120).await;
    wait_for(&seen, 120);
    stop_b.store(true, Ordering::Relaxed);
    drop(b.join().expect("b"));
    let seen = seen.lock().expect("lock");
    let late: HashSet<usize> = seen[60..].iter().map(|(who, _)| *who).collect();
    assert_eq!(seen.len(), 120);
    assert_eq!(
        late,
        HashSet::from([1]),
        "after a left, b consumed everything"
    );
}
