//! SASL/GSSAPI against a real MIT KDC started by the test: rdkafka (librdkafka with
//! Cyrus SASL) logs in with a keytab over SASL_PLAINTEXT and SASL_SSL; the Kerberos
//! principal is mapped to a short name that ACLs are written for; a principal the KDC
//! does not know gets nowhere.

mod common;

use std::time::Duration;

use common::{
    cluster::free_port,
    kdc::{Kdc, REALM},
    secure::{Pki, ADMIN, ADMIN_PASSWORD},
    BrokerProcess,
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message,
};
use tideway_engine::security::acl::{op, pattern, permission, resource, AclBinding};

fn kerberos_client(
    bootstrap: &str,
    protocol: &str,
    kdc: &Kdc,
    principal: &str,
    keytab: &str,
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("security.protocol", protocol)
        .set("sasl.mechanisms", "GSSAPI")
        .set("sasl.kerberos.service.name", "kafka")
        .set("sasl.kerberos.principal", format!("{principal}@{REALM}"))
        .set("sasl.kerberos.keytab", keytab)
        .set("message.timeout.ms", "10000");
    let ccache = kdc.dir.join(format!("{principal}.ccache"));
    c.set(
        "sasl.kerberos.kinit.cmd",
        format!(
            "kinit -c {} -k -t \"%{{sasl.kerberos.keytab}}\" %{{sasl.kerberos.principal}}",
            ccache.display()
        ),
    );
    c
}

async fn produce(config: &ClientConfig, topic: &str, value: &str) -> Result<(), String> {
    let producer: FutureProducer = config.create().map_err(|e| e.to_string())?;
    producer
        .send(
            FutureRecord::<(), _>::to(topic).payload(value),
            Duration::from_secs(10),
        )
        .await
        .map(drop)
        .map_err(|(e, _)| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn kerberos_clients_log_in_with_keytabs_and_are_authorized_by_short_name() {
    let dir = tempfile::tempdir().expect("dir");
    let kdc = Kdc::start(dir.path());
    let broker_keytab = kdc.keytab("kafka/localhost", "broker.keytab");
    let alice_keytab = kdc.keytab("alice", "alice.keytab");
    // The client library reads the realm and the ticket cache from the environment;
    // this test process runs only this test (nextest gives each test its own process).
    for (k, v) in kdc.env() {
        std::env::set_var(k, v);
    }
    std::env::set_var(
        "KRB5CCNAME",
        format!("FILE:{}", dir.path().join("alice.ccache").display()),
    );

    let pki = Pki::new(dir.path());
    let (plain_port, ssl_port) = (free_port(), free_port());
    let extra = format!(
        r#"sasl-mechanisms = ["GSSAPI", "SCRAM-SHA-512"]

[kerberos]
keytab = "{}"
realm = "{REALM}"
principal-to-local-rules = ["RULE:[2:$1@$0](kafka@{REALM})s/.*/broker/", "DEFAULT"]
"#,
        broker_keytab.display()
    );
    let config = pki.broker_config(&extra);
    let config_text = std::fs::read_to_string(&config).expect("config");
    // The Kerberos listeners advertise the host name in the service principal.
    let config_text = config_text.replace(
        "[[listeners]]\nname = \"SASLPLAIN\"\nprotocol = \"SASL_PLAINTEXT\"\nlisten = \"127.0.0.1:0\"",
        &format!(
            "[[listeners]]\nname = \"SASLPLAIN\"\nprotocol = \"SASL_PLAINTEXT\"\nlisten = \"127.0.0.1:{plain_port}\"\nadvertised = \"localhost:{plain_port}\"\n\n[[listeners]]\nname = \"KRBSSL\"\nprotocol = \"SASL_SSL\"\nlisten = \"127.0.0.1:{ssl_port}\"\nadvertised = \"localhost:{ssl_port}\""
        ),
    );
    std::fs::write(&config, config_text).expect("config");
    let env: Vec<(String, String)> = kdc.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let broker = BrokerProcess::start_with_env(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--config", config.to_str().expect("utf8")],
        &env,
    );
    let mut admin = pki
        .connect(&broker, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin");
    let acls: Vec<AclBinding> = [resource::TOPIC, resource::GROUP]
        .into_iter()
        .map(|resource_type| AclBinding {
            resource_type,
            resource_name: "krb.".into(),
            pattern_type: pattern::PREFIXED,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: op::ALL,
            permission: permission::ALLOW,
        })
        .collect();
    admin
        .create_acls(&acls)
        .await
        .expect("acls for alice's short name");

    let keytab = alice_keytab.to_str().expect("utf8");
    let plaintext = kerberos_client(
        &format!("localhost:{plain_port}"),
        "SASL_PLAINTEXT",
        &kdc,
        "alice",
        keytab,
    );
    let admin_client: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        plaintext.create().expect("admin client");
    let topic =
        rdkafka::admin::NewTopic::new("krb.orders", 1, rdkafka::admin::TopicReplication::Fixed(1));
    let created = admin_client
        .create_topics([&topic], &rdkafka::admin::AdminOptions::new())
        .await
        .expect("create");
    assert!(
        created[0].is_ok(),
        "alice (via Kerberos) may create krb.* topics: {created:?}"
    );
    produce(&plaintext, "krb.orders", "over SASL_PLAINTEXT")
        .await
        .expect("GSSAPI over plaintext");
    let mut tls = kerberos_client(
        &format!("localhost:{ssl_port}"),
        "SASL_SSL",
        &kdc,
        "alice",
        keytab,
    );
    tls.set("ssl.ca.location", pki.path("ca.pem"));
    produce(&tls, "krb.orders", "over SASL_SSL")
        .await
        .expect("GSSAPI over TLS");

    let refused = produce(&plaintext, "admin.secrets", "x").await;
    assert!(
        refused
            .expect_err("alice has no ACL there")
            .contains("authorization"),
        "the mapped principal User:alice is what ACLs see"
    );

    let consumer: BaseConsumer = tls
        .clone()
        .set("group.id", "krb.readers")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["krb.orders"]).expect("subscribe");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(seen, ["over SASL_PLAINTEXT", "over SASL_SSL"]);

    // A principal the KDC does not know cannot get a ticket, so cannot log in (alice's
    // ticket cache is removed first: the GSSAPI library would fall back to it).
    std::fs::remove_file(dir.path().join("alice.ccache")).expect("alice's ticket cache");
    let stranger_keytab = dir.path().join("stranger.keytab");
    std::fs::copy(&alice_keytab, &stranger_keytab).expect("copy");
    let mut stranger = kerberos_client(
        &format!("localhost:{plain_port}"),
        "SASL_PLAINTEXT",
        &kdc,
        "mallory",
        stranger_keytab.to_str().expect("utf8"),
    );
    stranger.set("message.timeout.ms", "3000");
    // No key of the principal exists (alice's keytab holds none), so no ticket for it can
    // be had, and none reaches the broker ...
    let kinit = std::process::Command::new("kinit")
        .args([
            "-c",
            &dir.path().join("stranger.ccache").display().to_string(),
        ])
        .args(["-k", "-t", stranger_keytab.to_str().expect("utf8")])
        .arg(format!("mallory@{REALM}"))
        .envs(kdc.env())
        .output()
        .expect("kinit");
    let why = String::from_utf8_lossy(&kinit.stderr);
    assert!(
        !kinit.status.success()
            && why.contains(&format!(
                "Keytab contains no suitable keys for mallory@{REALM}"
            )),
        "{why}"
    );
    // ... and nothing is written.
    assert!(produce(&stranger, "krb.orders", "x").await.is_err());
}
