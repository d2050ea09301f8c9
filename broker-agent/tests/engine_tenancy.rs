//! Two tenants on one broker, as a shared cluster gives them: each owns a topic and group
//! prefix through prefixed ACLs. Tenant A's credentials against tenant B's topics and
//! groups, operation by operation, with the exact Kafka error codes; then client quotas
//! measured with a real producer.

mod common;

use std::time::{Duration, Instant};

use common::{
    secure::{Pki, ADMIN, ADMIN_PASSWORD},
    BrokerProcess,
};
use kafka_protocol::{
    messages::{
        create_topics_request::CreatableTopic,
        delete_topics_request::DeleteTopicState,
        describe_configs_request::DescribeConfigsResource,
        fetch_request::{FetchPartition, FetchTopic},
        incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
        list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
        metadata_request::MetadataRequestTopic,
        offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
        produce_request::{PartitionProduceData, TopicProduceData},
        CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
        DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId,
        IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
        OffsetFetchRequest, ProduceRequest, TopicName,
    },
    protocol::StrBytes,
};
use rdkafka::{
    producer::{FutureProducer, FutureRecord},
    ClientConfig,
};
use tideway_engine::{
    client::{ClientSecurity, KafkaConnection, SaslLogin},
    security::{
        acl::{op, pattern, permission, resource, AclBinding},
        scram::Mechanism,
    },
};

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const T: Duration = Duration::from_secs(10);

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}

/// A broker where tenants a and b own `a.`/`b.` topics and groups; b has a topic with a
/// record and a group with a committed offset.
async fn two_tenants(dir: &std::path::Path) -> (BrokerProcess, Pki) {
    let pki = Pki::new(dir);
    let config = pki.broker_config("");
    let broker = BrokerProcess::start(
        &dir.join("data"),
        &["--config", config.to_str().expect("utf8")],
    );
    let mut admin = pki
        .connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin");
    for tenant in ["a", "b"] {
        admin
            .upsert_scram_user(tenant, Mechanism::Sha512, &format!("{tenant}-pw"))
            .await
            .expect("user");
        let principal = format!("User:{tenant}");
        let prefix = format!("{tenant}.");
        let acls: Vec<AclBinding> = [resource::TOPIC, resource::GROUP]
            .into_iter()
            .map(|r| AclBinding {
                resource_type: r,
                resource_name: prefix.clone(),
                pattern_type: pattern::PREFIXED,
                principal: principal.clone(),
                host: "*".into(),
                operation: op::ALL,
                permission: permission::ALLOW,
            })
            .collect();
        admin.create_acls(&acls).await.expect("acls");
    }
    let mut b = login(&broker, "b").await;
    let created = b
        .send(
            &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(topic("b.orders"))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
            7,
            T,
        )
        .await
        .expect("create");
    assert_eq!(created.topics[0].error_code, 0, "b creates its own topic");
    let produced = b
        .send(&produce_one("b.orders"), 9, T)
        .await
        .expect("produce");
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let committed = b
        .send(&commit("b.group", "b.orders"), 8, T)
        .await
        .expect("commit");
    assert_eq!(
        committed.topics[0].partitions[0].error_code, 0,
        "b commits to its own group"
    );
    (broker, pki)
}

async fn login(broker: &BrokerProcess, tenant: &str) -> KafkaConnection {
    let security = ClientSecurity {
        tls: None,
        sasl: Some(SaslLogin {
            mechanism: "SCRAM-SHA-512".into(),
            user: tenant.into(),
            password: format!("{tenant}-pw"),
        }),
    };
    KafkaConnection::connect(&broker.listener("SASLPLAIN"), tenant, &security)
        .await
        .expect("login")
}

fn produce_one(name: &str) -> ProduceRequest {
    let records = common::raw::batch(common::raw::PLAIN, 1, 16).freeze();
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic(name))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

fn commit(group: &str, name: &str) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic(name))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)])])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_can_neither_see_nor_touch_another_tenants_topics_and_groups() {
    let dir = tempfile::tempdir().expect("dir");
    let (broker, _pki) = two_tenants(dir.path()).await;
    let mut a = login(&broker, "a").await;

    let all = a
        .send(&MetadataRequest::default().with_topics(None), 9, T)
        .await
        .expect("metadata");
    assert!(
        all.topics.is_empty(),
        "a lists no topic of b: {:?}",
        all.topics
    );
    let named = a
        .send(
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic("b.orders"))),
                MetadataRequestTopic::default().with_name(Some(topic("b.missing"))),
            ])),
            9,
            T,
        )
        .await
        .expect("metadata");
    let codes: Vec<i16> = named.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes, [TOPIC_AUTHORIZATION_FAILED; 2],
        "existing or not, b's names answer the same"
    );

    let produced = a
        .send(&produce_one("b.orders"), 9, T)
        .await
        .expect("produce");
    assert_eq!(
        produced.responses[0].partition_responses[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    let fetch = FetchRequest::default()
        .with_max_wait_ms(10)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic("b.orders"))
            .with_partitions(vec![
                FetchPartition::default().with_partition_max_bytes(1 << 20)
            ])]);
    let fetched = a.send(&fetch, 12, T).await.expect("fetch");
    let p = &fetched.responses[0].partitions[0];
    assert_eq!(p.error_code, TOPIC_AUTHORIZATION_FAILED);
    assert!(
        p.records.as_ref().is_none_or(|r| r.is_empty()),
        "no byte of b's records"
    );

    let offsets = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(topic("b.orders"))
        .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)])]);
    let listed = a.send(&offsets, 6, T).await.expect("list offsets");
    assert_eq!(
        listed.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    let into_b_group = a
        .send(&commit("b.group", "a.anything"), 8, T)
        .await
        .expect("commit");
    assert_eq!(
        into_b_group.topics[0].partitions[0].error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    let b_topic_in_own_group = a
        .send(&commit("a.group", "b.orders"), 8, T)
        .await
        .expect("commit");
    assert_eq!(
        b_topic_in_own_group.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    let fetched_offsets = a
        .send(
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("b.group")))
                .with_topics(None),
            7,
            T,
        )
        .await
        .expect("offset fetch");
    assert_eq!(fetched_offsets.error_code, GROUP_AUTHORIZATION_FAILED);
    assert!(fetched_offsets.topics.is_empty());

    let coordinator = a
        .send(
            &FindCoordinatorRequest::default().with_key(s("b.group")),
            3,
            T,
        )
        .await
        .expect("find coordinator");
    assert_eq!(coordinator.error_code, GROUP_AUTHORIZATION_FAILED);
    let described = a
        .send(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("b.group"))]),
            5,
            T,
        )
        .await
        .expect("describe groups");
    assert_eq!(described.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let deleted = a
        .send(
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("b.group"))]),
            2,
            T,
        )
        .await
        .expect("delete groups");
    assert_eq!(deleted.results[0].error_code, GROUP_AUTHORIZATION_FAILED);

    let configs = a
        .send(
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("b.orders")),
            ]),
            4,
            T,
        )
        .await
        .expect("describe configs");
    assert_eq!(configs.results[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert!(configs.results[0].configs.is_empty());
    let altered = a
        .send(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("b.orders"))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("1")))]),
            ]),
            1,
            T,
        )
        .await
        .expect("alter configs");
    assert_eq!(altered.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    let create = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(topic("b.sneaky"))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    let created = a.send(&create, 7, T).await.expect("create");
    assert_eq!(created.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    let delete = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default().with_name(Some(topic("b.orders")))
    ]);
    let deleted = a.send(&delete, 6, T).await.expect("delete");
    assert_eq!(deleted.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);

    // b's data, group and configs are untouched, and a's own prefix works.
    let mut b = login(&broker, "b").await;
    let still = b.send(&fetch, 12, T).await.expect("fetch");
    assert_eq!(still.responses[0].partitions[0].error_code, 0);
    assert!(still.responses[0].partitions[0]
        .records
        .as_ref()
        .is_some_and(|r| !r.is_empty()));
    let own = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(topic("a.orders"))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    assert_eq!(
        a.send(&own, 7, T).await.expect("create").topics[0].error_code,
        0
    );
    let produced = a
        .send(&produce_one("a.orders"), 9, T)
        .await
        .expect("produce");
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let mine = a
        .send(&MetadataRequest::default().with_topics(None), 9, T)
        .await
        .expect("metadata");
    let names: Vec<String> = mine
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert_eq!(names, ["a.orders"]);
}

/// Delivers as many 1 KiB records as it can for `window`; the bytes delivered per second.
async fn produce_rate(config: &ClientConfig, topic: &str, window: Duration) -> f64 {
    let producer: FutureProducer = config
        .clone()
        .set("batch.size", "16384")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    let payload = vec![b'q'; 1024];
    let started = Instant::now();
    let mut delivered = 0usize;
    let mut inflight = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    while started.elapsed() < window {
        while inflight.len() < 256 {
            inflight.push(producer.send(
                FutureRecord::<(), _>::to(topic).payload(&payload),
                Duration::from_secs(0),
            ));
        }
        let remaining = window.saturating_sub(started.elapsed());
        if let Ok(Some(result)) = tokio::time::timeout(remaining, inflight.next()).await {
            if result.is_ok() {
                delivered += payload.len();
            }
        }
    }
    delivered as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_producer_over_its_byte_rate_is_throttled_to_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (broker, pki) = two_tenants(dir.path()).await;
    let quota = 1024.0 * 1024.0;
    let mut admin = pki
        .connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin");
    admin
        .alter_quota(
            &[("user", Some("a"))],
            &[("producer_byte_rate", Some(quota))],
        )
        .await
        .expect("quota");
    let mut a = login(&broker, "a").await;
    let own = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(topic("a.load"))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    assert_eq!(
        a.send(&own, 7, T).await.expect("create").topics[0].error_code,
        0
    );

    let a_rate = produce_rate(
        &pki.sasl_ssl(&broker, "SCRAM-SHA-512", "a", "a-pw"),
        "a.load",
        Duration::from_secs(10),
    )
    .await;
    let ratio = a_rate / quota;
    println!(
        "tenant a: {:.0} KiB/s against a quota of {:.0} KiB/s ({ratio:.2}x)",
        a_rate / 1024.0,
        quota / 1024.0
    );
    assert!(
        (0.8..=1.2).contains(&ratio),
        "throttled to within 20% of the quota: {ratio:.2}x"
    );

    let b_rate = produce_rate(
        &pki.sasl_ssl(&broker, "SCRAM-SHA-512", "b", "b-pw"),
        "b.orders",
        Duration::from_secs(3),
    )
    .await;
    println!("tenant b (no quota): {:.0} KiB/s", b_rate / 1024.0);
    assert!(
        b_rate > 1.5 * quota,
        "another tenant is not slowed by a's quota: {b_rate:.0} B/s"
    );
}
