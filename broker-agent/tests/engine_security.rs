//! Security on the wire with real clients: rdkafka over SASL_SSL (SCRAM-SHA-512, PLAIN),
//! SASL_PLAINTEXT (SCRAM-SHA-256) and SSL with client certificates; refused logins
//! (wrong password, truncated exchange, skipped authentication, expired or foreign
//! certificates); ACLs, credentials surviving a restart.

mod common;

use std::time::Duration;

use common::{
    secure::{Pki, ADMIN, ADMIN_PASSWORD},
    BrokerProcess,
};
use kafka_protocol::{
    messages::{
        DescribeAclsRequest, DescribeUserScramCredentialsRequest, MetadataRequest,
        SaslAuthenticateRequest, SaslHandshakeRequest,
    },
    protocol::StrBytes,
};
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

/// Whether the broker closed the connection (rather than answering late or garbled).
fn closed_by_broker(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| matches!(io.kind(), UnexpectedEof | ConnectionReset | BrokenPipe))
}

fn allow(
    resource_type: i8,
    name: &str,
    pattern_type: i8,
    principal: &str,
    operation: i8,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission: permission::ALLOW,
    }
}

/// A secured broker with user alice (SCRAM-SHA-256 and -512) owning `alice.*` topics and
/// groups, and carol's certificate allowed to write `alice.orders`.
async fn secured(dir: &std::path::Path) -> (BrokerProcess, Pki) {
    let pki = Pki::new(dir);
    pki.issue("carol", "carol", false, false);
    pki.issue("expired", "carol", false, true);
    let config = pki.broker_config("");
    let broker = BrokerProcess::start(
        &dir.join("data"),
        &["--config", config.to_str().expect("utf8")],
    );
    let mut admin = pki
        .connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin login");
    for m in [Mechanism::Sha256, Mechanism::Sha512] {
        admin
            .upsert_scram_user("alice", m, "alice-pw")
            .await
            .expect("alice");
    }
    admin
        .create_acls(&[
            allow(
                resource::TOPIC,
                "alice.",
                pattern::PREFIXED,
                "User:alice",
                op::ALL,
            ),
            allow(
                resource::GROUP,
                "alice.",
                pattern::PREFIXED,
                "User:alice",
                op::ALL,
            ),
            allow(
                resource::TOPIC,
                "alice.orders",
                pattern::LITERAL,
                "User:CN=carol,O=Tideway Tests",
                op::WRITE,
            ),
        ])
        .await
        .expect("acls");
    (broker, pki)
}

async fn produce(config: &ClientConfig, topic: &str, values: &[&str]) -> Result<(), String> {
    let producer: FutureProducer = config
        .clone()
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(|e| e.to_string())?;
    for v in values {
        producer
            .send(
                FutureRecord::<(), _>::to(topic).payload(*v),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e.to_string())?;
    }
    Ok(())
}

fn consume_all(
    config: &ClientConfig,
    topic: &str,
    group: &str,
    expected: usize,
    patience: Duration,
) -> Vec<String> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = std::time::Instant::now() + patience;
    let mut seen = Vec::new();
    while seen.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_plain_and_certificate_clients_produce_and_consume() {
    let dir = tempfile::tempdir().expect("dir");
    let (broker, pki) = secured(dir.path()).await;
    let alice512 = pki.sasl_ssl(&broker, "SCRAM-SHA-512", "alice", "alice-pw");
    let admin: AdminClient<DefaultClientContext> = alice512.create().expect("admin");
    let topic = NewTopic::new("alice.orders", 1, TopicReplication::Fixed(1));
    let created = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create");
    assert!(
        created[0].is_ok(),
        "alice may create her own topics: {created:?}"
    );

    produce(&alice512, "alice.orders", &["one", "two"])
        .await
        .expect("SCRAM-SHA-512 over TLS");
    let mut sasl_plaintext = broker.config();
    sasl_plaintext
        .set("bootstrap.servers", broker.listener("SASLPLAIN"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "SCRAM-SHA-256")
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-pw");
    produce(&sasl_plaintext, "alice.orders", &["three"])
        .await
        .expect("SCRAM-SHA-256 without TLS");
    produce(&pki.mtls(&broker, "carol"), "alice.orders", &["four"])
        .await
        .expect("carol's certificate is her principal");

    let plain = pki.sasl_ssl(&broker, "PLAIN", "alice", "alice-pw");
    let seen = consume_all(
        &plain,
        "alice.orders",
        "alice.readers",
        4,
        Duration::from_secs(30),
    );
    assert_eq!(
        seen,
        ["one", "two", "three", "four"],
        "PLAIN over TLS reads everything in order"
    );

    let carol_reads = consume_all(
        &pki.mtls(&broker, "carol"),
        "alice.orders",
        "alice.carol",
        1,
        Duration::from_secs(5),
    );
    assert!(
        carol_reads.is_empty(),
        "carol may write but not read: {carol_reads:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secrets_bad_certificates_and_skipped_logins_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (broker, pki) = secured(dir.path()).await;
    // Each refusal is read as the broker words it, on the login itself.
    let ca_pem = std::fs::read(pki.path("ca.pem")).expect("ca");
    let tls = |identity: Option<&str>| tideway_engine::client::ClientTls {
        ca_pem: ca_pem.clone(),
        server_name: "127.0.0.1".into(),
        identity: identity.map(|name| {
            (
                std::fs::read(pki.path(&format!("{name}.pem"))).expect("cert"),
                std::fs::read(pki.path(&format!("{name}-key.pem"))).expect("key"),
            )
        }),
    };
    let refusal = |addr: String, security: tideway_engine::client::ClientSecurity| async move {
        match tideway_engine::client::KafkaConnection::connect(&addr, "refused", &security).await {
            Ok(_) => panic!("logged in to {addr}"),
            Err(e) => format!("{e:#}"),
        }
    };
    for (mechanism, user, password, reason) in [
        (
            "SCRAM-SHA-512",
            "alice",
            "guess",
            "authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        ),
        (
            "PLAIN",
            "alice",
            "guess",
            "authentication failed: authentication failed: invalid user name or password",
        ),
        (
            "SCRAM-SHA-256",
            "mallory",
            "x",
            "authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256",
        ),
    ] {
        let security = tideway_engine::client::ClientSecurity {
            tls: Some(tls(None)),
            sasl: Some(tideway_engine::client::SaslLogin {
                mechanism: mechanism.into(),
                user: user.into(),
                password: password.into(),
            }),
        };
        assert_eq!(
            refusal(broker.bootstrap.clone(), security).await,
            reason,
            "{mechanism} {user}"
        );
    }
    // An expired client certificate fails the TLS handshake on the mutual-TLS listener.
    let expired = tideway_engine::client::ClientSecurity {
        tls: Some(tls(Some("expired"))),
        sasl: None,
    };
    // (TLS 1.3: the client learns of it at its first read.)
    let refused = match tideway_engine::client::KafkaConnection::connect(
        &broker.listener("MTLS"),
        "expired",
        &expired,
    )
    .await
    {
        Err(e) => format!("{e:#}"),
        Ok(mut c) => c
            .send(&MetadataRequest::default(), 9, Duration::from_secs(5))
            .await
            .map(|_| ())
            .expect_err("an expired certificate is refused")
            .to_string(),
    };
    assert!(
        refused.contains("CertificateExpired") || refused.contains("certificate expired"),
        "{refused}"
    );
    assert!(
        pki.connect(&broker, ADMIN, "not-the-password")
            .await
            .is_err_and(|e| e.to_string().contains("invalid credentials")),
        "the admin connection checks the password too"
    );

    // A client that skips SASL: its first real request closes the connection.
    let security = tideway_engine::client::ClientSecurity::default();
    let mut raw = tideway_engine::client::KafkaConnection::connect(
        &broker.listener("SASLPLAIN"),
        "skipper",
        &security,
    )
    .await
    .expect("tcp");
    let skipped = raw
        .send(&MetadataRequest::default(), 9, Duration::from_secs(5))
        .await;
    assert!(
        closed_by_broker(&skipped.map(drop).expect_err("not answered")),
        "Metadata before authentication closes the connection"
    );

    // A truncated SCRAM exchange: a client-first message without a nonce.
    let mut raw = tideway_engine::client::KafkaConnection::connect(
        &broker.listener("SASLPLAIN"),
        "truncated",
        &security,
    )
    .await
    .expect("tcp");
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("SCRAM-SHA-256"));
    let r = raw
        .send(&handshake, 1, Duration::from_secs(5))
        .await
        .expect("handshake");
    assert_eq!(r.error_code, 0);
    let truncated = SaslAuthenticateRequest::default()
        .with_auth_bytes(bytes::Bytes::from_static(b"n,,n=alice"));
    let r = raw
        .send(&truncated, 2, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(r.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    assert!(r.error_message.expect("a reason").contains("nonce"));
    let after = raw
        .send(&MetadataRequest::default(), 9, Duration::from_secs(5))
        .await;
    assert!(
        closed_by_broker(&after.map(drop).expect_err("not answered")),
        "the connection is closed after a failed login"
    );

    // An unknown mechanism is refused with the list of offered ones.
    let mut raw = tideway_engine::client::KafkaConnection::connect(
        &broker.listener("SASLPLAIN"),
        "oauth",
        &security,
    )
    .await
    .expect("tcp");
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("OAUTHBEARER"));
    let r = raw
        .send(&handshake, 1, Duration::from_secs(5))
        .await
        .expect("handshake");
    assert_eq!(r.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert!(r.mechanisms.iter().any(|m| m.as_str() == "SCRAM-SHA-512"));

    // The broker publishes its counters every second: wait for them, with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let failed = tideway_engine::stats::read_published(&broker.data_dir)
            .map_or(0, |s| s.failed_authentications);
        if failed >= 7 || std::time::Instant::now() > deadline {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(failed >= 7, "failed logins are counted: {failed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_and_credentials_survive_a_restart_and_describe_without_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let (broker, pki) = secured(dir.path()).await;
    let data = broker.data_dir.clone();
    broker.stop();
    let config = dir.path().join("broker.toml");
    let broker = BrokerProcess::start(&data, &["--config", config.to_str().expect("utf8")]);
    let mut admin = pki
        .connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin");
    let acls = admin
        .send(
            &DescribeAclsRequest::default()
                .with_resource_type_filter(resource::ANY)
                .with_resource_name_filter(None)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_pattern_type_filter(pattern::ANY)
                .with_operation(op::ANY)
                .with_permission_type(permission::ANY),
            3,
            Duration::from_secs(5),
        )
        .await
        .expect("describe acls");
    assert_eq!(acls.error_code, 0);
    let described: Vec<(String, usize)> = acls
        .resources
        .iter()
        .map(|r| (r.resource_name.to_string(), r.acls.len()))
        .collect();
    assert_eq!(described.len(), 3, "{described:?}");
    let creds = admin
        .send(
            &DescribeUserScramCredentialsRequest::default(),
            0,
            Duration::from_secs(5),
        )
        .await
        .expect("describe credentials");
    let alice = creds
        .results
        .iter()
        .find(|r| r.user.as_str() == "alice")
        .expect("alice survived the restart");
    let mechanisms: Vec<(i8, i32)> = alice
        .credential_infos
        .iter()
        .map(|c| (c.mechanism, c.iterations))
        .collect();
    assert_eq!(mechanisms, [(1, 4096), (2, 4096)]);
    let stored = std::fs::read_to_string(data.join("meta/security.json")).expect("state file");
    assert!(!stored.contains("alice-pw"), "no password is stored");
    // Without the admin's rights, ACL and credential management is refused.
    let mut alice = pki
        .connect(&broker, "alice", "alice-pw")
        .await
        .expect("alice");
    let denied = alice
        .create_acls(&[allow(
            resource::TOPIC,
            "*",
            pattern::LITERAL,
            "User:alice",
            op::ALL,
        )])
        .await;
    assert!(denied
        .expect_err("refused")
        .to_string()
        .contains("error 31"));
    let denied = alice.upsert_scram_user("bob", Mechanism::Sha256, "x").await;
    assert!(denied
        .expect_err("refused")
        .to_string()
        .contains("error 31"));
}

/// The certificate the broker's main listener presents to a new TLS connection.
async fn served_certificate(pki: &Pki, broker: &BrokerProcess) -> Vec<u8> {
    use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(pki.path("ca.pem")).expect("ca") {
        roots.add(ca.expect("pem")).expect("root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(&broker.bootstrap)
        .await
        .expect("tcp");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with a CA-signed certificate");
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let (broker, pki) = secured(dir.path()).await;
    let before = served_certificate(&pki, &broker).await;
    let mut admin = pki
        .connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin");
    pki.issue("broker", "127.0.0.1", true, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if served_certificate(&pki, &broker).await != before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let still = admin
        .send(&MetadataRequest::default(), 9, Duration::from_secs(5))
        .await;
    assert!(
        still.is_ok(),
        "a connection opened before the renewal keeps working"
    );
    std::fs::write(dir.path().join("broker.pem"), "not a certificate").expect("break it");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_bad = served_certificate(&pki, &broker).await;
    assert_ne!(
        after_bad, before,
        "an unreadable renewal keeps the last good certificate"
    );
    pki.connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("new logins still work over TLS");
}
