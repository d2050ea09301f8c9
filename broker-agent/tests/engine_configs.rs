//! Configs and record deletion through rdkafka's admin client.

mod common;

use std::time::Duration;

use common::{
    drain,
    raw::{call, connect},
    BrokerProcess,
};
use kafka_protocol::{
    messages::{
        alter_configs_request::{AlterConfigsResource, AlterableConfig},
        AlterConfigsRequest, AlterConfigsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};
use rdkafka::{
    admin::{AdminOptions, AlterConfig, ConfigSource, ResourceSpecifier},
    consumer::Consumer,
    producer::FutureRecord,
    types::RDKafkaErrorCode,
    Offset, TopicPartitionList,
};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn topic_configs_are_described_altered_and_applied() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker
        .create_topic(
            "cfg",
            2,
            &[("retention.ms", "3600000"), ("cleanup.policy", "delete")],
        )
        .await;
    let admin = broker.admin();
    let opts = AdminOptions::new();

    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("cfg")], &opts)
        .await
        .expect("describe");
    let cfg = described[0].as_ref().expect("topic");
    let retention = cfg.get("retention.ms").expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert!(matches!(retention.source, ConfigSource::DynamicTopic));
    let segment = cfg.get("segment.bytes").expect("segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert!(matches!(segment.source, ConfigSource::Default));
    assert_eq!(
        cfg.get("flush.ms").and_then(|e| e.value.as_deref()),
        Some("1000")
    );

    // AlterConfigs replaces the overrides; the new value is in effect at once.
    let change = AlterConfig::new(ResourceSpecifier::Topic("cfg"))
        .set("retention.ms", "120000")
        .set("max.message.bytes", "2000");
    let r = admin.alter_configs([&change], &opts).await.expect("alter");
    assert!(r[0].is_ok(), "{r:?}");
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("cfg")], &opts)
        .await
        .expect("describe");
    let cfg = described[0].as_ref().expect("topic");
    assert_eq!(
        cfg.get("retention.ms").and_then(|e| e.value.as_deref()),
        Some("120000")
    );
    assert!(
        cfg.get("cleanup.policy")
            .is_some_and(|e| matches!(e.source, ConfigSource::Default)),
        "replaced, not merged"
    );
    let producer = broker.producer(&[("message.max.bytes", "100000"), ("linger.ms", "0")]);
    let big = "x".repeat(5000);
    let refused = producer
        .send(
            FutureRecord::to("cfg").key("k").payload(&big).partition(0),
            WAIT,
        )
        .await;
    assert_eq!(
        refused.expect_err("too large").0.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
    );

    // rdkafka's alter_configs future drops per-resource errors, so these are checked on
    // the wire: each bad change gets INVALID_CONFIG or UNKNOWN_TOPIC_OR_PARTITION and
    // changes nothing.
    for (topic, key, value, code) in [
        ("cfg", "retention.ms", "soon", ResponseError::InvalidConfig),
        ("cfg", "colour", "blue", ResponseError::InvalidConfig),
        (
            "cfg",
            "cleanup.policy",
            "compact",
            ResponseError::InvalidConfig,
        ),
        (
            "nope",
            "retention.ms",
            "1000",
            ResponseError::UnknownTopicOrPartition,
        ),
    ] {
        let config = AlterableConfig::default()
            .with_name(StrBytes::from_static_str(key))
            .with_value(Some(StrBytes::from_static_str(value)));
        let resource = AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str(topic))
            .with_configs(vec![config]);
        let r: AlterConfigsResponse = call(
            &mut connect(&broker),
            &AlterConfigsRequest::default().with_resources(vec![resource]),
            2,
        );
        assert_eq!(
            r.responses[0].error_code,
            code.code(),
            "{topic} {key}={value}"
        );
        assert!(r.responses[0]
            .error_message
            .as_ref()
            .is_some_and(|m| !m.is_empty()));
    }
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("cfg")], &opts)
        .await
        .expect("describe");
    assert_eq!(
        described[0]
            .as_ref()
            .expect("topic")
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("120000")
    );

    // Overrides survive a restart.
    let listen = broker.listen();
    broker.stop();
    let broker = BrokerProcess::start_on(dir.path(), &listen, &[]);
    let described = broker
        .admin()
        .describe_configs([&ResourceSpecifier::Topic("cfg")], &opts)
        .await
        .expect("describe");
    assert_eq!(
        described[0]
            .as_ref()
            .expect("topic")
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("120000")
    );

    let node = broker
        .admin()
        .describe_configs([&ResourceSpecifier::Broker(1)], &opts)
        .await
        .expect("describe");
    let node = node[0].as_ref().expect("broker");
    assert_eq!(
        node.get("node.id").and_then(|e| e.value.as_deref()),
        Some("1")
    );
    assert!(node.get("log.retention.ms").is_some_and(|e| e.is_read_only));
}

#[tokio::test]
async fn delete_records_moves_the_log_start_for_consumers() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("trim", 1, &[]).await;
    let producer = broker.producer(&[]);
    for i in 0..10 {
        producer
            .send(
                FutureRecord::to("trim").key(&format!("k{i}")).payload("v"),
                WAIT,
            )
            .await
            .expect("send");
    }
    let mut cut = TopicPartitionList::new();
    cut.add_partition_offset("trim", 0, Offset::Offset(4))
        .expect("tpl");
    let r = broker
        .admin()
        .delete_records(&cut, &AdminOptions::new())
        .await
        .expect("delete_records");
    let p = r.find_partition("trim", 0).expect("partition");
    assert_eq!((p.error(), p.offset()), (Ok(()), Offset::Offset(4)));

    let reader = broker.reader("trim", 1);
    assert_eq!(
        reader.fetch_watermarks("trim", 0, WAIT).expect("wm"),
        (4, 10)
    );
    let got = drain(&reader, 6, WAIT);
    assert_eq!(got.first().map(|m| m.1), Some(4));
    assert_eq!(got.len(), 6);

    let mut beyond = TopicPartitionList::new();
    beyond
        .add_partition_offset("trim", 0, Offset::Offset(99))
        .expect("tpl");
    let r = broker
        .admin()
        .delete_records(&beyond, &AdminOptions::new())
        .await
        .expect("delete_records");
    assert!(
        r.find_partition("trim", 0).expect("p").error().is_err(),
        "beyond the high watermark is refused"
    );
}
