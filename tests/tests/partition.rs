//! A network partition inside a three-broker cluster: each broker runs in a network
//! namespace of its own (a host of its own address), and nftables on this machine — the
//! "switch" between the namespaces — cuts one follower off from the other brokers while
//! clients on this machine still reach all three. The ISR shrinks and acks=all produce
//! continues on the two connected brokers; when the partition heals, the cut-off broker
//! catches up and rejoins the ISR, and nothing acknowledged is lost. With the leader cut
//! off instead, three idempotent producers, each bootstrapped on another broker, ride
//! through the failover and the healing; the history checker finds nothing lost,
//! duplicated or reordered.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use e2e::{binary, history, netns::Netns, run, Process};
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message, Offset, TopicPartitionList,
};

const TOPIC: &str = "partitioned";

/// A broker inside `ns`, listening on its address (9092 for clients, 9093 for the quorum).
fn start_broker(ns: &Netns, id: usize, voters: &str, dir: &std::path::Path) -> Process {
    let config = dir.join("broker.toml");
    std::fs::write(
        &config,
        format!(
            "node-id = {id}\ncluster-id = \"partitioned\"\n[cluster]\nvoters = [{voters}]\ncontroller-listen = \"{}:9093\"\n\
             rack = \"host-{id}\"\nbroker-session-timeout = \"1s\"\nreplica-lag-time-max = \"2s\"\n",
            ns.ip
        ),
    )
    .expect("config");
    let mut child = ns
        .command(
            binary("broker-agent")
                .expect("binary")
                .to_str()
                .expect("utf8"),
        )
        .args(["broker", "--listen", &format!("{}:9092", ns.ip), "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start broker");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    lines
        .next()
        .expect("the broker printed its address")
        .expect("utf8");
    std::thread::spawn(move || lines.for_each(drop));
    Process {
        child,
        name: format!("broker {id}"),
    }
}

/// nftables rules on this machine dropping everything forwarded to or from `ip`.
struct Partition(String);

impl Partition {
    fn isolate(ip: &str) -> Partition {
        let table = format!("tideway_part_{}", ip.replace('.', "_"));
        let nft = |args: &[&str]| run(Command::new("nft").args(args)).expect("nft");
        nft(&["add", "table", "inet", &table]);
        nft(&[
            "add",
            "chain",
            "inet",
            &table,
            "cut",
            "{ type filter hook forward priority 0; }",
        ]);
        nft(&[
            "add", "rule", "inet", &table, "cut", "ip", "saddr", ip, "drop",
        ]);
        nft(&[
            "add", "rule", "inet", &table, "cut", "ip", "daddr", ip, "drop",
        ]);
        Partition(table)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.0])
            .output();
    }
}

/// (leader, ISR) of every partition of `topic` as the cluster describes it.
fn describe(bootstrap: &str, topic: &str) -> Option<Vec<(i32, Vec<i32>)>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let m = c.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
    let parts = m.topics().first()?.partitions();
    Some(
        parts
            .iter()
            .map(|p| (p.leader(), p.isr().to_vec()))
            .collect(),
    )
}

/// Waits until every partition of `topic` has a leader and an ISR that is `ok`; partition
/// 0's (leader, ISR).
fn until_isr_of(
    bootstrap: &str,
    topic: &str,
    ok: impl Fn(&[i32]) -> bool,
    what: &str,
) -> (i32, Vec<i32>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(parts) = describe(bootstrap, topic) {
            if !parts.is_empty() && parts.iter().all(|(l, isr)| *l >= 0 && ok(isr)) {
                return parts[0].clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {:?}",
            describe(bootstrap, topic)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn until_isr(bootstrap: &str, ok: impl Fn(&[i32]) -> bool, what: &str) -> (i32, Vec<i32>) {
    until_isr_of(bootstrap, TOPIC, ok, what)
}

/// Three brokers, each in a namespace of its own, forming one cluster.
struct NetCluster {
    hosts: Vec<Netns>,
    _dirs: Vec<tempfile::TempDir>,
    _brokers: Vec<Process>,
    bootstrap: String,
}

impl NetCluster {
    /// Starts the brokers and creates `topic` with `partitions` partitions of three replicas.
    async fn start(topic: &str, partitions: i32) -> NetCluster {
        let hosts: Vec<Netns> = (0..3).map(|_| Netns::create().expect("netns")).collect();
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
        let voters = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("\"{}@{}:9093\"", i + 1, h.ip))
            .collect::<Vec<_>>()
            .join(", ");
        let brokers: Vec<Process> = (0..3)
            .map(|i| start_broker(&hosts[i], i + 1, &voters, dirs[i].path()))
            .collect();
        let bootstrap = hosts
            .iter()
            .map(|h| format!("{}:9092", h.ip))
            .collect::<Vec<_>>()
            .join(",");
        // All three registered (which takes an elected controller) before the admin
        // client asks for the controller.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .expect("client");
            let n = c
                .fetch_metadata(None, Duration::from_secs(5))
                .map_or(0, |m| m.brokers().len());
            if n == 3 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the brokers never formed a cluster"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("admin");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = admin
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
            if r[0].is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "topic not created: {r:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        until_isr_of(&bootstrap, topic, |isr| isr.len() == 3, "three in sync");
        NetCluster {
            hosts,
            _dirs: dirs,
            _brokers: brokers,
            bootstrap,
        }
    }

    /// The address of broker `id` (1-3).
    fn ip(&self, id: i32) -> &str {
        &self.hosts[(id - 1) as usize].ip
    }
}

async fn produce(p: &FutureProducer, from: usize, n: usize) -> Vec<String> {
    let mut acked = Vec::new();
    for i in from..from + n {
        let v = format!("r{i}");
        p.send(
            FutureRecord::<(), _>::to(TOPIC).payload(&v),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce {v}: {e}"));
        acked.push(v);
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_follower_leaves_the_isr_and_rejoins_after_healing() {
    let c = NetCluster::start(TOPIC, 1).await;
    let bootstrap = c.bootstrap.clone();
    let (leader, _) = until_isr(&bootstrap, |isr| isr.len() == 3, "three in sync");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let mut acked = produce(&producer, 0, 50).await;

    // Cut a follower off from the other two brokers.
    let cut = (1..=3).find(|id| *id != leader).expect("a follower");
    let partition = Partition::isolate(c.ip(cut));
    acked.extend(produce(&producer, 50, 50).await);
    let (_, isr) = until_isr(
        &bootstrap,
        |isr| isr.len() == 2 && !isr.contains(&cut),
        "the cut-off broker leaves the ISR",
    );
    assert!(isr.contains(&leader));
    acked.extend(produce(&producer, 100, 50).await);

    // Heal: the broker catches up and is in sync again.
    drop(partition);
    until_isr(
        &bootstrap,
        |isr| isr.len() == 3,
        "the healed broker rejoins the ISR",
    );
    acked.extend(produce(&producer, 150, 50).await);

    // Every acknowledged record, once, in order.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "partition-check")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("assign");
    consumer.assign(&tpl).expect("assign");
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < acked.len() && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            read.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(
        read, acked,
        "every acknowledged record exactly once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_producers_lose_duplicate_and_reorder_nothing_when_the_leader_is_cut_off() {
    const LEDGER: &str = "ledger";
    const PER_PRODUCER: usize = 240;
    let c = NetCluster::start(LEDGER, 3).await;

    // Every record any consumer reads is logged, to check no read is later taken back.
    let stop = Arc::new(AtomicBool::new(false));
    let auditor = {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &c.bootstrap)
            .set("group.id", "auditor")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..3 {
            tpl.add_partition_offset(LEDGER, p, Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&tpl).expect("assign");
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = Vec::new();
            while !stop.load(Ordering::Acquire) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                    reads.push((m.partition(), m.offset(), v));
                }
            }
            reads
        })
    };
    // Each producer knows only its own broker at first, and gets its producer id there.
    let producers: Vec<FutureProducer> = (1..=3)
        .map(|id| {
            ClientConfig::new()
                .set("bootstrap.servers", format!("{}:9092", c.ip(id)))
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .set("message.timeout.ms", "120000")
                .set("linger.ms", "2")
                .create()
                .expect("producer")
        })
        .collect();

    // The leader of partition 0 is cut off from the other brokers (clients still reach
    // it) for a third of the stream, then the network heals.
    let mut sent = Vec::new();
    let mut cut = None;
    for seq in 0..PER_PRODUCER {
        for (k, producer) in producers.iter().enumerate() {
            let value = format!("p{k}-{seq}");
            let record = FutureRecord::<(), _>::to(LEDGER)
                .payload(&value)
                .partition((seq % 3) as i32);
            let delivery = producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue");
            sent.push((value, delivery));
        }
        if seq == PER_PRODUCER / 3 {
            let (leader, _) = until_isr_of(&c.bootstrap, LEDGER, |_| true, "a leader");
            cut = Some((leader, Partition::isolate(c.ip(leader))));
        }
        if seq == 2 * PER_PRODUCER / 3 {
            let (isolated, partition) = cut.take().expect("cut");
            // The cut-off broker has lost its leaderships before the network heals.
            until_isr_of(
                &c.bootstrap,
                LEDGER,
                |isr| !isr.contains(&isolated),
                "the cut-off broker leaves every ISR",
            );
            drop(partition);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut acked, mut failed) = (Vec::new(), Vec::new());
    for (value, delivery) in sent {
        match delivery.await.expect("delivery future") {
            Ok(d) => acked.push((value, d.partition, d.offset)),
            Err((e, _)) => failed.push((value, e)),
        }
    }
    assert!(
        failed.is_empty(),
        "idempotent retries ride out the partition: {failed:?}"
    );
    until_isr_of(
        &c.bootstrap,
        LEDGER,
        |isr| isr.len() == 3,
        "all in sync again",
    );

    let client = {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &c.bootstrap);
        config
    };
    let log = history::read_final_log(&client, LEDGER, 3);
    stop.store(true, Ordering::Release);
    let reads = auditor.join().expect("auditor");
    let report = history::check(&acked, &reads, &log);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.producers.len(), 3, "{report}");
    assert_eq!(
        log.len(),
        3 * PER_PRODUCER,
        "nothing but what was acknowledged"
    );
}
