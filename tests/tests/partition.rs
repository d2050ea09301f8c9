//! A network partition inside a three-broker cluster: each broker runs in a network
//! namespace of its own (a host of its own address), and nftables on this machine — the
//! "switch" between the namespaces — cuts one follower off from the other brokers while
//! clients on this machine still reach all three. The ISR shrinks and acks=all produce
//! continues on the two connected brokers; when the partition heals, the cut-off broker
//! catches up and rejoins the ISR, and nothing acknowledged is lost.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use e2e::{binary, netns::Netns, run, Process};
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

/// (leader, ISR) of partition 0 as the cluster describes it.
fn describe(bootstrap: &str) -> Option<(i32, Vec<i32>)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let m = c.fetch_metadata(Some(TOPIC), Duration::from_secs(5)).ok()?;
    let p = m.topics().first()?.partitions().first()?;
    Some((p.leader(), p.isr().to_vec()))
}

fn until_isr(bootstrap: &str, ok: impl Fn(&[i32]) -> bool, what: &str) -> (i32, Vec<i32>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((leader, isr)) = describe(bootstrap) {
            if leader >= 0 && ok(&isr) {
                return (leader, isr);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {:?}",
            describe(bootstrap)
        );
        std::thread::sleep(Duration::from_millis(200));
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
    let hosts: Vec<Netns> = (0..3).map(|_| Netns::create().expect("netns")).collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let voters = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("\"{}@{}:9093\"", i + 1, h.ip))
        .collect::<Vec<_>>()
        .join(", ");
    let _brokers: Vec<Process> = (0..3)
        .map(|i| start_broker(&hosts[i], i + 1, &voters, dirs[i].path()))
        .collect();
    let bootstrap = hosts
        .iter()
        .map(|h| format!("{}:9092", h.ip))
        .collect::<Vec<_>>()
        .join(",");

    // All three registered (which takes an elected controller) before the admin client
    // asks for the controller.
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
                [&NewTopic::new(TOPIC, 1, TopicReplication::Fixed(3))],
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
    let partition = Partition::isolate(&hosts[(cut - 1) as usize].ip);
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
