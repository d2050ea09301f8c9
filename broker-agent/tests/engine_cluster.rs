//! Cluster mode with real processes: three `broker-agent broker`s forming a metadata
//! quorum. Any broker describes the whole cluster and takes admin requests; partitions
//! spread over the brokers; rdkafka produces through one bootstrap broker to every leader
//! and a consumer group reads everything back; a full restart keeps metadata and data.
//! Replication between brokers is not in this engine yet: RF above 1 is refused clearly.

mod common;

use std::{net::TcpListener, path::Path, time::Duration};

use common::{drain, BrokerProcess};
use rdkafka::{
    admin::{AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication},
    consumer::{BaseConsumer, Consumer},
    producer::FutureRecord,
    types::RDKafkaErrorCode,
};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    ports: Vec<u16>,
    brokers: Vec<Option<BrokerProcess>>,
}

impl Cluster {
    fn start() -> Cluster {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let controllers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let voters: Vec<String> = controllers
            .iter()
            .enumerate()
            .map(|(i, p)| format!("\"{}@127.0.0.1:{p}\"", i + 1))
            .collect();
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
        for (i, dir) in dirs.iter().enumerate() {
            std::fs::write(
                dir.path().join("broker.toml"),
                format!(
                    "node-id = {}\ncluster-id = \"e2ecluster\"\n[cluster]\nvoters = [{}]\n\
                     controller-listen = \"127.0.0.1:{}\"\nrack = \"rack-{}\"\n",
                    i + 1,
                    voters.join(", "),
                    controllers[i],
                    i + 1
                ),
            )
            .expect("config");
        }
        let mut c = Cluster {
            dirs,
            ports,
            brokers: Vec::new(),
        };
        for i in 0..3 {
            let b = c.spawn(i);
            c.brokers.push(Some(b));
        }
        c
    }

    fn spawn(&self, i: usize) -> BrokerProcess {
        let dir: &Path = self.dirs[i].path();
        let config = dir.join("broker.toml");
        BrokerProcess::start_on(
            &dir.join("data"),
            &format!("127.0.0.1:{}", self.ports[i]),
            &["--config", config.to_str().expect("utf8")],
        )
    }

    fn broker(&self, i: usize) -> &BrokerProcess {
        self.brokers[i].as_ref().expect("running")
    }

    /// Waits until broker `i` describes `n` brokers.
    fn until_brokers(&self, i: usize, n: usize) {
        let consumer: BaseConsumer = self.broker(i).config().create().expect("client");
        for _ in 0..100 {
            if let Ok(m) = consumer.fetch_metadata(None, Duration::from_secs(2)) {
                if m.brokers().len() == n {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("broker {} never described {n} brokers", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_share_one_metadata_and_serve_partitions_spread_over_them() {
    let mut c = Cluster::start();
    for i in 0..3 {
        c.until_brokers(i, 3);
    }

    // Created through broker 2; described the same by broker 3.
    c.broker(1).create_topic("spread", 6, &[]).await;
    let reader: BaseConsumer = c.broker(2).config().create().expect("client");
    let mut leaders = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let m = reader
            .fetch_metadata(Some("spread"), Duration::from_secs(5))
            .expect("metadata");
        leaders = m.topics()[0]
            .partitions()
            .iter()
            .map(|p| p.leader())
            .collect();
        if m.topics()[0].partitions().len() == 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        leaders.len(),
        3,
        "partitions led by all three brokers: {leaders:?}"
    );

    // A config changed through broker 3 is what broker 1 describes.
    c.broker(2)
        .admin()
        .alter_configs(
            [
                &AlterConfig::new(ResourceSpecifier::Topic("spread"))
                    .set("retention.ms", "3600000"),
            ],
            &AdminOptions::new(),
        )
        .await
        .expect("alter_configs");
    // (Broker 1 applies the committed change a moment later: poll briefly.)
    let mut retention = None;
    for _ in 0..50 {
        let described = c
            .broker(0)
            .admin()
            .describe_configs([&ResourceSpecifier::Topic("spread")], &AdminOptions::new())
            .await
            .expect("describe_configs");
        let config = described[0].as_ref().expect("topic config");
        retention = config.get("retention.ms").and_then(|e| e.value.clone());
        if retention.as_deref() == Some("3600000") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(retention.as_deref(), Some("3600000"));

    // Replication factor 3 is refused with the Kafka code and a reason.
    let refused = c
        .broker(0)
        .admin()
        .create_topics(
            [&NewTopic::new("replicated", 1, TopicReplication::Fixed(3))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics");
    match &refused[0] {
        Err((_, code)) => assert_eq!(*code, RDKafkaErrorCode::InvalidReplicationFactor),
        Ok(t) => panic!("{t} was created with RF 3 and no replication"),
    }

    // Produced through broker 1 only: the client finds every leader from metadata.
    let producer = c.broker(0).producer(&[("acks", "all")]);
    for i in 0..60 {
        let key = format!("k{i}");
        producer
            .send(
                FutureRecord::to("spread").key(&key).payload("v"),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {key}: {e}"));
    }
    // A consumer group bootstrapped on broker 3 reads all 60 (one coordinator for the
    // group whichever broker is asked).
    let group: BaseConsumer = c
        .broker(2)
        .config()
        .set("group.id", "readers")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .create()
        .expect("consumer");
    group.subscribe(&["spread"]).expect("subscribe");
    let got = drain(&group, 60, Duration::from_secs(30));
    assert_eq!(got.len(), 60, "all records back");
    let partitions: std::collections::BTreeSet<i32> = got.iter().map(|r| r.0).collect();
    assert!(
        partitions.len() > 1,
        "from several partitions: {partitions:?}"
    );
    drop(group);

    // The whole cluster restarts: the topic, its leaders and its records are all there.
    for b in c.brokers.iter_mut() {
        b.take().expect("running").stop();
    }
    for i in 0..3 {
        let b = c.spawn(i);
        c.brokers[i] = Some(b);
    }
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    let after = c.broker(0).reader("spread", 6);
    assert_eq!(
        drain(&after, 60, Duration::from_secs(30)).len(),
        60,
        "records kept"
    );
}
