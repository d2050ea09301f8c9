//! Kafka's wire answers, request by request: the same request, at the same API version,
//! goes to Apache Kafka and to the engine, and what matters in the two answers (error
//! codes and messages, states, offsets; never ids, hosts or timings) must be equal. This
//! covers the newest versions of each API, where the Java client and the tools leave
//! paths unexercised: topic ids in Produce and Fetch, batched OffsetFetch, group types,
//! unknown groups and share-group coordinators.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use e2e::{engine_broker::EngineBroker, reference_kafka::ReferenceKafka};
use kafka_protocol::{
    messages::{
        alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic},
        create_topics_request::CreatableTopic,
        describe_cluster_request::DescribeClusterRequest,
        elect_leaders_request::TopicPartitions as ElectTopicPartitions,
        fetch_request::{FetchPartition, FetchTopic},
        list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
        metadata_request::MetadataRequestTopic,
        offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
        offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics},
        produce_request::{PartitionProduceData, TopicProduceData},
        AlterPartitionReassignmentsRequest, ApiVersionsRequest, BrokerId, CreateTopicsRequest,
        DescribeGroupsRequest, ElectLeadersRequest, FetchRequest, FindCoordinatorRequest, GroupId,
        ListGroupsRequest, ListOffsetsRequest, ListPartitionReassignmentsRequest, MetadataRequest,
        OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, TopicName,
    },
    protocol::{Request, StrBytes},
    records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    },
};
use tideway_engine::client::{ClientSecurity, KafkaConnection};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);
const TOPIC: &str = "wire";
const GROUP: &str = "wire-group";
const UNKNOWN_GROUP: &str = "no-such-group";

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn topic_name(text: &str) -> TopicName {
    TopicName(s(text))
}

/// One v2 batch per value, without a producer id (so each record is its own batch).
fn batches(values: &[&str]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: timestamp_of(v),
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("a record batch");
    buf.freeze()
}

/// The values of the records in `bytes`.
fn values(bytes: &Option<Bytes>) -> Vec<String> {
    let Some(bytes) = bytes else {
        return Vec::new();
    };
    let mut buf = bytes.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .expect("record batches")
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// One side of the comparison: a broker, a connection to it and the wire topic's id there.
struct Side {
    bootstrap: String,
    connection: Option<KafkaConnection>,
    topic_id: Uuid,
}

impl Side {
    /// Connects, creates the wire topic (two partitions) and learns its id.
    async fn open(bootstrap: &str) -> Side {
        let mut side = Side {
            bootstrap: bootstrap.to_owned(),
            connection: None,
            topic_id: Uuid::nil(),
        };
        let create = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(TOPIC))
                .with_num_partitions(2)
                .with_replication_factor(1)])
            .with_timeout_ms(30_000);
        let created = side.ask(&create, 7).await.expect("CreateTopics");
        assert_eq!(created.topics[0].error_code, 0, "creating {TOPIC}");
        side.topic_id = created.topics[0].topic_id;
        side.until_ready().await;
        side
    }

    /// Waits until both partitions have a leader and the group coordinator is loaded.
    async fn until_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let metadata = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(TOPIC))),
            ]));
            let led = self.ask(&metadata, 12).await.is_ok_and(|m| {
                m.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.error_code == 0 && p.leader_id.0 >= 0)
                    .count()
                    == 2
            });
            // FindCoordinator makes Kafka create its offsets topic, whose partitions it
            // then loads in turn: every group this test names must have a loaded
            // coordinator.
            let find = FindCoordinatorRequest::default()
                .with_coordinator_keys(vec![s(GROUP), s(UNKNOWN_GROUP)]);
            let found = self
                .ask(&find, 4)
                .await
                .is_ok_and(|f| f.coordinators.iter().all(|c| c.error_code == 0));
            let describe = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s(GROUP)), GroupId(s(UNKNOWN_GROUP))]);
            let coordinated = self
                .ask(&describe, 5)
                .await
                .is_ok_and(|d| d.groups.iter().all(|g| g.error_code == 0));
            if led && found && coordinated {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} not ready within a minute",
                self.bootstrap
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends `request` at `version`; a broker that closes the connection is an error (the
    /// next request reconnects).
    async fn ask<R: Request>(&mut self, request: &R, version: i16) -> anyhow::Result<R::Response> {
        if self.connection.is_none() {
            let security = ClientSecurity::default();
            self.connection =
                Some(KafkaConnection::connect(&self.bootstrap, "wire-test", &security).await?);
        }
        let connection = self.connection.as_mut().expect("connected");
        let answer = connection.send(request, version, TIMEOUT).await;
        if answer.is_err() {
            self.connection = None;
        }
        answer
    }
}

/// Both brokers, and the steps whose answers differed.
struct Comparison {
    kafka: Side,
    engine: Side,
    differences: Vec<String>,
}

impl Comparison {
    /// Sends the request `make` builds for each side (given its topic id) at `version`
    /// and compares the `summary` of the answers; a refused request summarises as
    /// "refused".
    async fn step<R: Request>(
        &mut self,
        name: &str,
        version: i16,
        make: impl Fn(Uuid) -> R,
        summary: impl Fn(&R::Response) -> String,
    ) {
        let mut answers = Vec::with_capacity(2);
        for side in [&mut self.kafka, &mut self.engine] {
            let request = make(side.topic_id);
            answers.push(match side.ask(&request, version).await {
                Ok(response) => summary(&response),
                Err(_) => "refused".to_owned(),
            });
        }
        if answers[0] != answers[1] {
            self.differences.push(format!(
                "{name} (v{version}):\n  Kafka:  {}\n  engine: {}",
                answers[0], answers[1]
            ));
        }
    }
}

fn produce(id: Uuid, name: &str, partition: i32, values: &[&str]) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(name))
            .with_topic_id(id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batches(values)))])])
}

fn fetch(id: Uuid, name: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(name))
            .with_topic_id(id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_log_start_offset(-1)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(1 << 20)])])
}

/// The partition answers of a produce: (partition, error code, base offset).
fn produced(r: &kafka_protocol::messages::ProduceResponse) -> String {
    let parts: Vec<_> = r
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| (p.index, p.error_code, p.base_offset))
        .collect();
    format!("{parts:?}")
}

async fn records_by_topic_id(c: &mut Comparison) {
    for (version, value) in [(9, "v9"), (12, "v12"), (13, "v13")] {
        c.step(
            "produce by name or id",
            version,
            |id| produce(id, TOPIC, 0, &[value]),
            produced,
        )
        .await;
    }
    c.step(
        "two batches for one partition",
        13,
        |id| produce(id, TOPIC, 0, &["one", "two"]),
        produced,
    )
    .await;
    c.step(
        "produce to an unknown topic id",
        13,
        |_| produce(Uuid::from_u128(7), "", 0, &["lost"]),
        produced,
    )
    .await;
    c.step(
        "produce at a version Kafka 4 removed",
        2,
        |id| produce(id, TOPIC, 0, &["old"]),
        produced,
    )
    .await;
    for version in [12, 13, 16, 17, 18] {
        c.step(
            "fetch by name or id",
            version,
            |id| fetch(id, TOPIC, 0, 0),
            |r| {
                let parts: Vec<_> = r
                    .responses
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| {
                        (
                            p.partition_index,
                            p.error_code,
                            p.high_watermark,
                            values(&p.records),
                        )
                    })
                    .collect();
                format!("error {} {parts:?}", r.error_code)
            },
        )
        .await;
    }
    c.step(
        "fetch an unknown topic id",
        13,
        |_| fetch(Uuid::from_u128(7), "", 0, 0),
        |r| {
            format!(
                "{:?}",
                r.responses
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| (p.partition_index, p.error_code))
                    .collect::<Vec<_>>()
            )
        },
    )
    .await;
}

fn list_offsets(timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(TOPIC))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])])
        .with_timeout_ms(1_000)
}

async fn offsets_and_metadata(c: &mut Comparison) {
    // -1 latest, -2 earliest, -3 max timestamp, -4 earliest local, -5 latest tiered.
    for (version, timestamp) in [(8, -4), (9, -5), (10, -1), (10, -3), (10, -5)] {
        c.step(
            &format!("list offsets at {timestamp}"),
            version,
            |_| list_offsets(timestamp),
            |r| {
                format!(
                    "{:?}",
                    r.topics
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| (p.error_code, p.offset, p.timestamp, p.leader_epoch))
                        .collect::<Vec<_>>()
                )
            },
        )
        .await;
    }
    c.step(
        "metadata of an unknown topic",
        13,
        |_| {
            MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name("no-such-topic")))
            ]))
        },
        |r| {
            format!(
                "error {} {:?}",
                r.error_code,
                r.topics
                    .iter()
                    .map(|t| (t.error_code, t.partitions.len()))
                    .collect::<Vec<_>>()
            )
        },
    )
    .await;
    c.step(
        "describe the cluster with fenced brokers",
        2,
        |_| {
            DescribeClusterRequest::default()
                .with_include_fenced_brokers(true)
                .with_endpoint_type(1)
        },
        |r| {
            format!(
                "error {} {:?} brokers {:?}",
                r.error_code,
                r.error_message,
                r.brokers.iter().map(|b| b.is_fenced).collect::<Vec<_>>()
            )
        },
    )
    .await;
    c.step(
        "describe the cluster at a controller endpoint",
        2,
        |_| DescribeClusterRequest::default().with_endpoint_type(2),
        |r| {
            format!(
                "error {} {:?} brokers {}",
                r.error_code,
                r.error_message,
                r.brokers.len()
            )
        },
    )
    .await;
    c.step(
        "api versions",
        4,
        |_| {
            ApiVersionsRequest::default()
                .with_client_software_name(s("wire"))
                .with_client_software_version(s("1"))
        },
        |r| format!("error {}", r.error_code),
    )
    .await;
}

/// DescribeGroups' answer: (error code, error message, state) per group.
fn described(r: &kafka_protocol::messages::DescribeGroupsResponse) -> String {
    let groups: Vec<_> = r
        .groups
        .iter()
        .map(|g| (g.error_code, &g.error_message, &g.group_state))
        .collect();
    format!("{groups:?}")
}

/// FindCoordinator's answer: (error code, error message) per key.
fn coordinators(r: &kafka_protocol::messages::FindCoordinatorResponse) -> String {
    let keys: Vec<_> = r
        .coordinators
        .iter()
        .map(|k| (k.error_code, &k.error_message))
        .collect();
    format!("{keys:?}")
}

async fn groups(c: &mut Comparison) {
    for version in [5, 6] {
        c.step(
            "describe an unknown group",
            version,
            |_| DescribeGroupsRequest::default().with_groups(vec![GroupId(s(UNKNOWN_GROUP))]),
            described,
        )
        .await;
    }
    c.step(
        "a share-group coordinator",
        6,
        |id| {
            FindCoordinatorRequest::default()
                .with_key_type(2)
                .with_coordinator_keys(vec![s(&format!("g:{id}:0"))])
        },
        coordinators,
    )
    .await;
    c.step(
        "a group coordinator",
        6,
        |_| {
            FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![s(GROUP)])
        },
        coordinators,
    )
    .await;
    c.step(
        "commit for a group without members",
        9,
        |_| {
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(s(""))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(s("m")))])])
        },
        |r| {
            format!(
                "{:?}",
                r.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| (p.partition_index, p.error_code))
                    .collect::<Vec<_>>()
            )
        },
    )
    .await;
    for (filter, version) in [
        (vec![], 4),
        (vec![], 5),
        (vec!["classic"], 5),
        (vec!["consumer"], 5),
    ] {
        c.step(
            &format!("list groups of types {filter:?}"),
            version,
            |_| {
                ListGroupsRequest::default()
                    .with_types_filter(filter.iter().map(|t| s(t)).collect())
            },
            |r| {
                format!(
                    "error {} {:?}",
                    r.error_code,
                    r.groups
                        .iter()
                        .map(|g| (
                            &g.group_id.0,
                            &g.group_state,
                            &g.group_type,
                            &g.protocol_type
                        ))
                        .collect::<Vec<_>>()
                )
            },
        )
        .await;
    }
    for version in [8, 9] {
        c.step(
            "fetch offsets of two groups at once",
            version,
            |_| {
                OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(GROUP)))
                        .with_member_epoch(-1)
                        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                            .with_name(topic_name(TOPIC))
                            .with_partition_indexes(vec![0, 1])])),
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(UNKNOWN_GROUP)))
                        .with_member_epoch(-1)
                        .with_topics(None),
                ])
            },
            |r| {
                format!(
                    "error {} {:?}",
                    r.error_code,
                    r.groups
                        .iter()
                        .map(|g| (
                            &g.group_id.0,
                            g.error_code,
                            g.topics
                                .iter()
                                .flat_map(|t| t.partitions.iter().map(|p| (
                                    p.partition_index,
                                    p.committed_offset,
                                    &p.metadata,
                                    p.error_code
                                )))
                                .collect::<Vec<_>>()
                        ))
                        .collect::<Vec<_>>()
                )
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_answers_each_request_as_kafka_does() {
    let kafka = ReferenceKafka::start().expect("Apache Kafka");
    let engine = EngineBroker::start(&[]).expect("the engine");
    let mut c = Comparison {
        kafka: Side::open(&kafka.bootstrap).await,
        engine: Side::open(&engine.bootstrap).await,
        differences: Vec::new(),
    };
    records_by_topic_id(&mut c).await;
    offsets_and_metadata(&mut c).await;
    groups(&mut c).await;
    reassignments(&mut c).await;
    assert!(
        c.differences.is_empty(),
        "the engine's answers differ from Kafka's:\n{}",
        c.differences.join("\n")
    );
}

/// A record's timestamp, from its value: the same on both brokers, and in the past
/// (Kafka refuses timestamps more than an hour ahead).
fn timestamp_of(value: &str) -> i64 {
    1_700_000_000_000 + value.bytes().map(i64::from).sum::<i64>()
}

fn reassign(
    topic: &str,
    partition: i32,
    to: Option<Vec<i32>>,
) -> AlterPartitionReassignmentsRequest {
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_allow_replication_factor_change(true)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(partition)
                .with_replicas(
                    to.map(|rs| rs.into_iter().map(BrokerId).collect()),
                )])])
}

/// AlterPartitionReassignments' answer: top-level and per-partition (code, message).
fn reassigned(r: &kafka_protocol::messages::AlterPartitionReassignmentsResponse) -> String {
    let parts: Vec<_> = r
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, p.error_code, &p.error_message))
        .collect();
    format!("error {} {:?} {parts:?}", r.error_code, r.error_message)
}

/// ElectLeaders' answer: top-level code and per-partition (code, message).
fn elected(r: &kafka_protocol::messages::ElectLeadersResponse) -> String {
    let parts: Vec<_> = r
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(move |p| (&t.topic.0, p.partition_id, p.error_code, &p.error_message))
        })
        .collect();
    format!("error {} {parts:?}", r.error_code)
}

fn elect(unclean: bool, partitions: Option<Vec<i32>>) -> ElectLeadersRequest {
    ElectLeadersRequest::default()
        .with_election_type(i8::from(unclean))
        .with_timeout_ms(10_000)
        .with_topic_partitions(partitions.map(|ps| {
            vec![ElectTopicPartitions::default()
                .with_topic(topic_name(TOPIC))
                .with_partitions(ps)]
        }))
}

async fn reassignments(c: &mut Comparison) {
    let cases: [(&str, &str, i32, Option<Vec<i32>>); 6] = [
        ("reassign to the replica it has", TOPIC, 0, Some(vec![1])),
        ("reassign to an unknown broker", TOPIC, 0, Some(vec![7])),
        ("reassign to a broker twice", TOPIC, 0, Some(vec![1, 1])),
        ("reassign to no broker", TOPIC, 0, Some(vec![])),
        ("cancel when nothing moves", TOPIC, 0, None),
        ("reassign an unknown partition", TOPIC, 9, Some(vec![1])),
    ];
    for (name, topic, partition, to) in cases {
        for version in [0, 1] {
            c.step(
                name,
                version,
                |_| reassign(topic, partition, to.clone()),
                reassigned,
            )
            .await;
        }
    }
    c.step(
        "list reassignments",
        0,
        |_| ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000),
        |r| {
            format!(
                "error {} {:?} topics {}",
                r.error_code,
                r.error_message,
                r.topics.len()
            )
        },
    )
    .await;
    for (name, unclean, partitions) in [
        ("elect the preferred leader", false, Some(vec![0])),
        ("elect an unclean leader", true, Some(vec![0])),
        ("elect for every partition", false, None),
        ("elect for an unknown partition", false, Some(vec![9])),
    ] {
        for version in [0, 1, 2] {
            if unclean && version == 0 {
                continue;
            }
            c.step(
                name,
                version,
                |_| elect(unclean, partitions.clone()),
                elected,
            )
            .await;
        }
    }
}
