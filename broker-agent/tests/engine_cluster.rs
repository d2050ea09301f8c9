//! Cluster mode with real processes: three `broker-agent broker`s forming a metadata
//! quorum. Any broker describes the whole cluster and takes admin requests; partitions
//! spread over the brokers; rdkafka produces through one bootstrap broker to every leader
//! and a consumer group reads everything back; a full restart keeps metadata and data.
//! Failover and replication under faults are in `engine_replication.rs`.

mod common;

use std::time::Duration;

use common::{cluster::Cluster, drain};
use rdkafka::{
    admin::{AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication},
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::FutureRecord,
    types::RDKafkaErrorCode,
    Offset, TopicPartitionList,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_share_one_metadata_and_serve_partitions_spread_over_them() {
    let mut c = Cluster::start("");
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

    // Replication factor 3: every partition on all three brokers, all in sync.
    let created = c
        .broker(0)
        .admin()
        .create_topics(
            [&NewTopic::new("replicated", 2, TopicReplication::Fixed(3))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics");
    created[0].as_ref().expect("RF 3 topic created");
    let m = reader
        .fetch_metadata(Some("replicated"), Duration::from_secs(5))
        .expect("metadata");
    for p in m.topics()[0].partitions() {
        assert_eq!(p.replicas().len(), 3, "three replicas: {:?}", p.replicas());
        assert_eq!(p.isr().len(), 3, "all in sync at creation: {:?}", p.isr());
    }
    // More replicas than brokers is refused with the Kafka code.
    let refused = c
        .broker(0)
        .admin()
        .create_topics(
            [&NewTopic::new("too-many", 1, TopicReplication::Fixed(4))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics");
    match &refused[0] {
        Err((_, code)) => assert_eq!(*code, RDKafkaErrorCode::InvalidReplicationFactor),
        Ok(t) => panic!("{t} was created with RF 4 on three brokers"),
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
    // Offsets committed for a group (here by a consumer that assigns its partitions).
    let committer: BaseConsumer = c
        .broker(1)
        .config()
        .set("group.id", "bookmarks")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut marks = TopicPartitionList::new();
    for p in 0..6 {
        marks
            .add_partition_offset("spread", p, Offset::Offset(i64::from(p) + 1))
            .expect("offset");
    }
    committer.commit(&marks, CommitMode::Sync).expect("commit");
    drop(committer);

    // The whole cluster restarts: the topic, its leaders, its records and the committed
    // offsets are all there.
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
    let asker: BaseConsumer = c
        .broker(2)
        .config()
        .set("group.id", "bookmarks")
        .create()
        .expect("consumer");
    let mut wanted = TopicPartitionList::new();
    for p in 0..6 {
        wanted.add_partition("spread", p);
    }
    let got = asker
        .committed_offsets(wanted, Duration::from_secs(20))
        .expect("committed offsets");
    for p in 0..6 {
        assert_eq!(
            got.find_partition("spread", p).map(|e| e.offset()),
            Some(Offset::Offset(i64::from(p) + 1)),
            "offset of partition {p} kept"
        );
    }
}

/// A replica fetch as broker 2 would send it, for partition 0 of `topic`.
fn replica_fetch(addr: &str, topic: &'static str) -> i16 {
    use kafka_protocol::{
        messages::{
            fetch_request::{FetchPartition, FetchTopic},
            BrokerId, FetchRequest, FetchResponse, TopicName,
        },
        protocol::StrBytes,
    };
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(2))
        .with_max_wait_ms(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1024)])]);
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let r: FetchResponse = common::raw::call(&mut s, &req, 12);
    r.error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_fetches_are_taken_only_on_the_listener_brokers_replicate_over() {
    let c = Cluster::start_with(
        "[[listeners]]\nname = \"CLIENT\"\nprotocol = \"PLAINTEXT\"\nlisten = \"127.0.0.1:0\"\n",
        "",
    );
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    c.broker(0).create_topic("guarded", 1, &[]).await;
    // A client on the clients' listener posing as broker 2 is refused; on the main
    // (replication) listener the same request is a replica fetch.
    assert_eq!(
        replica_fetch(&c.broker(0).listener("CLIENT"), "guarded"),
        kafka_protocol::ResponseError::ClusterAuthorizationFailed.code()
    );
    assert_eq!(replica_fetch(&c.broker(0).bootstrap, "guarded"), 0);
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_recreated_while_a_broker_was_down_never_gets_the_old_records_back() {
    let mut c = Cluster::start("broker-session-timeout = \"1s\"\nreplica-lag-time-max = \"2s\"");
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    let rf3 = NewTopic::new("reborn", 1, TopicReplication::Fixed(3));
    let admin = c.broker(0).admin();
    let created = admin
        .create_topics([&rf3], &AdminOptions::new())
        .await
        .expect("create_topics");
    created[0].as_ref().expect("created");
    c.until_isr("reborn", 3, Duration::from_secs(20));
    let producer = c.broker(0).producer(&[("acks", "all")]);
    for i in 0..20 {
        let value = format!("old-{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("reborn").payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {value}: {e}"));
    }
    assert!(
        !files_containing(&c.data_dir(2), b"old-").is_empty(),
        "broker 3 holds a replica of the old records"
    );

    // Broker 3 is away while the topic is deleted and created again under its name.
    c.brokers[2].take().expect("running").crash();
    let deleted = admin
        .delete_topics(&["reborn"], &AdminOptions::new())
        .await
        .expect("delete_topics");
    deleted[0].as_ref().expect("deleted");
    let created = admin
        .create_topics([&rf3], &AdminOptions::new())
        .await
        .expect("create_topics");
    created[0].as_ref().expect("created again");
    for i in 0..5 {
        let value = format!("new-{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("reborn").payload(&value),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {value}: {e}"));
    }

    // Back, broker 3 follows the new topic from nothing: no old record on its disk, and
    // the cluster serves only the new ones.
    c.brokers[2] = Some(c.spawn(2));
    // (The ISR may name broker 3 from before it was seen to stop: wait for its disk.)
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while files_containing(&c.data_dir(2), b"new-4").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "broker 3 never replicated the new records"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        files_containing(&c.data_dir(2), b"old-"),
        Vec::<std::path::PathBuf>::new(),
        "files of broker 3 still holding records of the deleted topic"
    );
    let reader = c.broker(2).reader("reborn", 1);
    assert_eq!(
        reader
            .fetch_watermarks("reborn", 0, Duration::from_secs(10))
            .expect("watermarks"),
        (0, 5)
    );
    let values: Vec<String> = drain(&reader, 5, Duration::from_secs(20))
        .into_iter()
        .map(|(_, _, _, v)| String::from_utf8_lossy(&v).into_owned())
        .collect();
    assert_eq!(
        values,
        (0..5).map(|i| format!("new-{i}")).collect::<Vec<_>>()
    );
}

/// Kafka's `kafka-metadata-quorum` (from the reference jars) reads the engine's quorum:
/// one leader among the three voters at the quorum's epoch, and every voter listed.
#[test]
fn kafkas_metadata_quorum_tool_describes_the_engines_quorum() {
    let c = Cluster::start("");
    for i in 0..3 {
        c.until_brokers(i, 3);
    }
    let quorum_tool = |what: &str| {
        let out = e2e::reference_kafka::run_tool(
            "org.apache.kafka.tools.MetadataQuorumCommand",
            &["--bootstrap-server", &c.bootstrap(), "describe", what],
            "",
        )
        .expect("java");
        assert!(
            out.status.success(),
            "kafka-metadata-quorum describe {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let status = quorum_tool("--status");
    let field = |name: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
            .trim()
            .to_owned()
    };
    let leader: i32 = field("LeaderId").parse().expect("a leader id");
    assert!(
        (1..=3).contains(&leader),
        "the leader is a voter:\n{status}"
    );
    assert!(
        field("LeaderEpoch").parse::<i64>().expect("an epoch") >= 1,
        "{status}"
    );
    assert!(
        field("HighWatermark")
            .parse::<i64>()
            .expect("a high watermark")
            > 0
    );
    let voters = field("CurrentVoters");
    for id in 1..=3 {
        assert!(
            voters.contains(&format!("\"id\": {id}")),
            "voter {id} in {voters}"
        );
    }
    let replication = quorum_tool("--replication");
    let roles: Vec<&str> = replication
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(
        (
            roles.iter().filter(|r| **r == "Leader").count(),
            roles.iter().filter(|r| **r == "Follower").count()
        ),
        (1, 2),
        "one leader and two followers:\n{replication}"
    );
}
