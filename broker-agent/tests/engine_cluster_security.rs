//! Security in cluster mode: three brokers replicate over mutually authenticated TLS
//! (each presents its own certificate, a super user), credentials and ACLs made on one
//! broker are enforced by every broker (they live in the metadata quorum), and tenants
//! reach every broker through its SASL_SSL listener.

mod common;

use std::time::Duration;

use common::{
    cluster::Cluster,
    secure::{Pki, ADMIN, ADMIN_PASSWORD},
};
use kafka_protocol::messages::MetadataRequest;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message,
};
use tideway_engine::security::{
    acl::{op, pattern, permission, resource, AclBinding},
    scram::Mechanism,
};

/// The brokers' certificate subject: every broker of the cluster is a super user.
const BROKER_PRINCIPAL: &str = "CN=127.0.0.1,O=Tideway Tests";

#[tokio::test(flavor = "multi_thread")]
async fn brokers_replicate_over_mutual_tls_and_enforce_the_same_acls() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new(dir.path());
    let tables = "\n[[listeners]]\nname = \"SECURE\"\nprotocol = \"SASL_SSL\"\nlisten = \"127.0.0.1:0\"\nclient-auth = \"none\"\n";
    let top = pki.security_toml("SSL", "required", &[BROKER_PRINCIPAL], "", tables);
    let cluster = Cluster::start_with(&top, "");
    let secure: Vec<String> = (0..3)
        .map(|i| cluster.broker(i).listener("SECURE"))
        .collect();

    let mut admin = pki
        .connect_to(&secure[0], ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = admin
            .send(&MetadataRequest::default(), 12, Duration::from_secs(5))
            .await
            .expect("metadata");
        if m.brokers.len() == 3 {
            let ports: Vec<String> = m
                .brokers
                .iter()
                .map(|b| format!("{}:{}", b.host.as_str(), b.port))
                .collect();
            assert!(
                ports.iter().all(|p| secure.contains(p)),
                "SECURE clients see SECURE addresses: {ports:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster never had 3 brokers"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    admin
        .upsert_scram_user("t1", Mechanism::Sha512, "t1-pw")
        .await
        .expect("user");
    let acls: Vec<AclBinding> = [resource::TOPIC, resource::GROUP]
        .into_iter()
        .map(|resource_type| AclBinding {
            resource_type,
            resource_name: "t1.".into(),
            pattern_type: pattern::PREFIXED,
            principal: "User:t1".into(),
            host: "*".into(),
            operation: op::ALL,
            permission: permission::ALLOW,
        })
        .collect();
    admin.create_acls(&acls).await.expect("acls");

    // Tenant t1 talks to broker 3 only: its credential and ACLs came through the quorum.
    let mut t1 = ClientConfig::new();
    t1.set("bootstrap.servers", &secure[2])
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", pki.path("ca.pem"))
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", "t1")
        .set("sasl.password", "t1-pw")
        .set("message.timeout.ms", "20000");
    let created = {
        let mut last = None;
        for _ in 0..50 {
            let client: AdminClient<DefaultClientContext> = t1.create().expect("admin client");
            let topic = NewTopic::new("t1.orders", 1, TopicReplication::Fixed(3));
            match client.create_topics([&topic], &AdminOptions::new()).await {
                Ok(r) if r[0].is_ok() => {
                    last = None;
                    break;
                }
                other => last = Some(format!("{other:?}")),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        last
    };
    assert!(
        created.is_none(),
        "t1 creates an RF 3 topic through broker 3: {created:?}"
    );

    let producer: FutureProducer = t1.clone().set("acks", "all").create().expect("producer");
    for i in 0..20 {
        producer
            .send(
                FutureRecord::<(), _>::to("t1.orders").payload(&format!("r{i}")),
                Duration::from_secs(20),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("acks=all needs the followers, which fetch over mutual TLS");
    }
    let denied = producer
        .send(
            FutureRecord::<(), _>::to("t2.orders").payload("x"),
            Duration::from_secs(5),
        )
        .await;
    let denied = denied
        .map(drop)
        .map_err(|(e, _)| e)
        .expect_err("t1 has no rights outside t1.*");
    assert_eq!(
        denied.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed),
        "{denied}"
    );

    let consumer: BaseConsumer = t1
        .clone()
        .set("bootstrap.servers", secure.join(","))
        .set("group.id", "t1.readers")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["t1.orders"]).expect("subscribe");
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen < 20 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            assert_eq!(m.payload(), Some(format!("r{seen}").as_bytes()));
            seen += 1;
        }
    }
    assert_eq!(seen, 20);

    // The main (replication) listener wants a certificate from the CA: without one the
    // TLS handshake ends with the broker's certificate_required alert (TLS 1.3: the
    // client reads it at its first request).
    let security = tideway_engine::client::ClientSecurity {
        tls: Some(tideway_engine::client::ClientTls {
            ca_pem: std::fs::read(pki.path("ca.pem")).expect("ca"),
            server_name: "127.0.0.1".into(),
            identity: None,
        }),
        sasl: None,
    };
    let refused = match tideway_engine::client::KafkaConnection::connect(
        &cluster.broker(0).bootstrap,
        "no-certificate",
        &security,
    )
    .await
    {
        Err(e) => format!("{e:#}"),
        Ok(mut c) => c
            .send(
                &kafka_protocol::messages::MetadataRequest::default(),
                9,
                Duration::from_secs(5),
            )
            .await
            .map(drop)
            .expect_err("no client certificate, no access to the replication listener")
            .to_string(),
    };
    assert!(refused.contains("CertificateRequired"), "{refused}");
}
