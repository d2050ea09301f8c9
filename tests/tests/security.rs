//! Secured (SASL_SSL) clusters end to end: the control plane makes the cluster's CA and
//! certificates, the agent configures the broker, the canary and topic changes log in as
//! the control plane's super user, and tenants' Kafka users (rdkafka and kcat clients)
//! reach only their own prefix of a shared cluster.

use std::{process::Command, time::Duration};

use e2e::platform::{until, wait_for, Platform};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message,
};
use tideway_api::{
    clusters::{ClusterKind, ClusterSecurity, ClusterSpec, CreateCluster, StorageBackend},
    kafka_users::{CreateKafkaUser, CreatedKafkaUser},
    topics::CreateTopic,
};

fn client(user: &CreatedKafkaUser, password: &str, ca: &std::path::Path) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set(
        "bootstrap.servers",
        user.bootstrap_servers.as_deref().expect("bootstrap"),
    )
    .set("security.protocol", &user.security_protocol)
    .set("ssl.ca.location", ca.to_str().expect("utf8"))
    .set("sasl.mechanisms", &user.sasl_mechanism)
    .set("sasl.username", &user.user.username)
    .set("sasl.password", password)
    .set("message.timeout.ms", "10000");
    c
}

async fn produce(config: &ClientConfig, topic: &str) -> Result<(), String> {
    let producer: FutureProducer = config.create().map_err(|e| e.to_string())?;
    producer
        .send(
            FutureRecord::<(), _>::to(topic).payload("hello"),
            Duration::from_secs(10),
        )
        .await
        .map(drop)
        .map_err(|(e, _)| e.to_string())
}

/// `kcat -L` as `user` over SASL_SSL.
fn kcat_list(user: &CreatedKafkaUser, ca: &std::path::Path) -> std::process::Output {
    Command::new("kcat")
        .args(["-b", user.bootstrap_servers.as_deref().expect("bootstrap")])
        .args(["-L", "-m", "10", "-X", "security.protocol=SASL_SSL"])
        .args(["-X", "sasl.mechanisms=SCRAM-SHA-512", "-X"])
        .arg(format!("sasl.username={}", user.user.username))
        .arg("-X")
        .arg(format!("sasl.password={}", user.password))
        .arg("-X")
        .arg(format!("ssl.ca.location={}", ca.display()))
        .output()
        .expect("kcat (installed by ./tideway test)")
}

/// Seconds to produce 64 records of 8 KiB to `topic` (each acknowledged).
async fn load(config: &ClientConfig, topic: &str) -> f64 {
    let producer: FutureProducer = config
        .clone()
        .set("batch.size", "16384")
        .create()
        .expect("producer");
    let started = std::time::Instant::now();
    let payload = [b'q'; 8192];
    let sends: Vec<_> = (0..64)
        .map(|_| {
            let record = FutureRecord::<(), _>::to(topic).payload(&payload[..]);
            producer.send(record, Duration::from_secs(60))
        })
        .collect();
    for sent in futures::future::join_all(sends).await {
        sent.map_err(|(e, _)| e).expect("throttled, not refused");
    }
    started.elapsed().as_secs_f64()
}

/// Topic names a client's metadata request returns.
fn visible_topics(config: &ClientConfig) -> Vec<String> {
    let consumer: BaseConsumer = config.create().expect("client");
    let m = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    m.topics().iter().map(|t| t.name().to_owned()).collect()
}

/// Requests a 1-broker SASL_SSL cluster and waits until it is Ready (which means the
/// canary produced and consumed over SASL_SSL as the control plane).
/// The slices' storage budgets the agent gave the shared brokers under `root`:
/// (slice, prefix, max bytes), from every broker's budgets file.
fn storage_budgets(root: &std::path::Path) -> Vec<(String, String, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n == "storage-budgets.json")
            {
                let list: Vec<serde_json::Value> =
                    serde_json::from_slice(&std::fs::read(&path).unwrap_or_default())
                        .unwrap_or_default();
                found.extend(list.into_iter().map(|b| {
                    (
                        b["name"].as_str().unwrap_or_default().to_owned(),
                        b["prefix"].as_str().unwrap_or_default().to_owned(),
                        b["max_bytes"].as_u64().unwrap_or_default(),
                    )
                }));
            }
        }
    }
    found.sort();
    found
}

async fn secured_cluster(
    admin: &tideway_api::client::Client,
    tenant: tideway_api::TenantId,
    name: &str,
    kind: ClusterKind,
) -> tideway_api::clusters::Cluster {
    let cluster = admin
        .create_cluster(&CreateCluster {
            tenant_id: tenant,
            name: name.into(),
            kind,
            spec: ClusterSpec {
                security: ClusterSecurity::SaslSsl,
                ..e2e::one_broker_spec()
            },
        })
        .await
        .expect("cluster");
    wait_for(admin, cluster.id, "Ready", |c| c.status.phase == "Ready").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_on_a_secured_shared_cluster_reach_only_their_own_prefix() {
    let p = Platform::start(1).await;
    let admin = &p.admin;
    let platform = p.tenant("platform").await;
    let team_a = p.tenant("team-a").await;
    let team_b = p.tenant("team-b").await;
    let host = secured_cluster(admin, platform.id, "secure-shared", ClusterKind::Shared).await;
    let bootstrap = host.bootstrap_servers.clone().expect("bootstrap");

    // Slices bind only to a shared cluster of their own security, backend and profile, and
    // each gets a prefix of its own, even two slices of one tenant.
    let slice_spec = |backend| ClusterSpec {
        broker_count: None,
        storage_backend: backend,
        security: ClusterSecurity::SaslSsl,
        ..e2e::one_broker_spec()
    };
    let request_slice = |tenant: tideway_api::TenantId, name: &str, backend| {
        let request = CreateCluster {
            tenant_id: tenant,
            name: name.into(),
            kind: ClusterKind::Shared,
            spec: slice_spec(backend),
        };
        async move { admin.create_cluster(&request).await }
    };
    let on_nfs = request_slice(team_a.id, "on-nfs", StorageBackend::Nfs)
        .await
        .expect("slice on nfs");
    let waiting = wait_for(admin, on_nfs.id, "Unschedulable", |c| {
        c.status
            .conditions
            .iter()
            .any(|c| c.reason == "Unschedulable")
    })
    .await;
    assert_eq!(waiting.shared_cluster_id, None);
    assert_eq!(
        waiting.status.conditions[0].message,
        "No Ready shared cluster matches this slice (sasl-ssl, nfs, virtual); \
         there are secure-shared (sasl-ssl, local-ssd, virtual)."
    );
    admin.delete_cluster(on_nfs.id).await.expect("delete");

    let mut slices = Vec::new();
    for (tenant, name) in [
        (&team_a, "orders"),
        (&team_b, "orders"),
        (&team_a, "billing"),
    ] {
        let slice = request_slice(tenant.id, name, StorageBackend::LocalSsd)
            .await
            .expect("slice");
        let slice = wait_for(admin, slice.id, "Ready", |c| c.status.phase == "Ready").await;
        assert_eq!(slice.shared_cluster_id, Some(host.id));
        let prefix = slice.topic_prefix.clone().expect("prefix");
        assert_eq!(prefix, format!("{}.{name}.", tenant.name));
        slices.push(slice);
    }
    // Each slice's storage quota reaches the shared broker, which enforces it on produce
    // (engine_storage_budgets shows the refusal).
    let gib = 1u64 << 30;
    let budget = |slice: &str| (format!("slice {slice}"), format!("{slice}."), gib);
    let all_three = vec![
        budget("team-a.billing"),
        budget("team-a.orders"),
        budget("team-b.orders"),
    ];
    until("the shared broker has the slices' storage budgets", || {
        storage_budgets(p.root.path()) == all_three
    })
    .await;
    let outside = admin
        .create_topic(
            slices[0].id,
            &CreateTopic {
                name: "team-a.billing.stolen".into(),
                partitions: Some(1),
                replication_factor: None,
                configs: Default::default(),
            },
        )
        .await
        .expect_err("another slice's prefix");
    assert_eq!(outside.status(), Some(422), "{outside}");
    assert!(
        outside.to_string().contains(
            "topics of this slice of a shared cluster must start with \"team-a.orders.\""
        ),
        "{outside}"
    );
    for slice in &slices {
        let prefix = slice.topic_prefix.clone().expect("prefix");
        admin
            .create_topic(
                slice.id,
                &CreateTopic {
                    name: format!("{prefix}orders"),
                    partitions: Some(1),
                    replication_factor: None,
                    configs: Default::default(),
                },
            )
            .await
            .expect("topic over SASL_SSL");
    }

    let on_host = admin
        .create_kafka_user(host.id, &CreateKafkaUser { name: "all".into() })
        .await
        .expect_err("no user on the shared cluster itself");
    assert_eq!(on_host.status(), Some(409), "{on_host}");
    let mut users = Vec::new();
    for slice in &slices {
        let created = admin
            .create_kafka_user(slice.id, &CreateKafkaUser { name: "app".into() })
            .await
            .expect("kafka user");
        assert_eq!(
            created.bootstrap_servers.as_deref(),
            Some(bootstrap.as_str())
        );
        assert_eq!(created.prefix, slice.topic_prefix.clone().expect("prefix"));
        users.push(created);
    }
    let (a, b, billing) = (&users[0], &users[1], &users[2]);
    assert_eq!(a.user.username, "team-a.orders.app");
    assert_eq!(billing.user.username, "team-a.billing.app");
    let listed = serde_json::to_string(&admin.list_kafka_users(slices[0].id).await.expect("list"))
        .expect("json");
    assert!(
        listed.contains("team-a.orders.app") && !listed.contains(&a.password),
        "the password is shown once"
    );
    let ca = p.root.path().join("ca.pem");
    std::fs::write(&ca, &a.ca_pem).expect("ca");
    let a_client = client(a, &a.password, &ca);

    produce(&a_client, "team-a.orders.orders")
        .await
        .expect("team-a writes its topic");
    let consumer: BaseConsumer = a_client
        .clone()
        .set("group.id", "team-a.orders.readers")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&["team-a.orders.orders"])
        .expect("subscribe");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let got = loop {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            break m.payload().map(<[u8]>::to_vec);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "team-a could not read its topic"
        );
    };
    assert_eq!(got.as_deref(), Some(b"hello".as_slice()));

    assert_eq!(
        visible_topics(&a_client),
        ["team-a.orders.orders"],
        "no canary, no team-b, not even team-a's other slice"
    );
    // A fresh user of team-a (no earlier traffic to average over) loads its topic.
    let loader = admin
        .create_kafka_user(
            slices[0].id,
            &CreateKafkaUser {
                name: "loader".into(),
            },
        )
        .await
        .expect("second user");
    // team-a's quota drops to 64 KiB/s per application after its users exist: the brokers
    // enforce the new rate for them at once.
    let mut quota = admin.get_quota(team_a.id).await.expect("quota").quota;
    quota.max_produce_bytes_per_sec = 64 << 10;
    admin.put_quota(team_a.id, &quota).await.expect("put quota");
    // The same 512 KiB by team-b's user (the default 50 MiB/s) is the baseline: team-a's
    // quota must make it several times slower, whatever this machine's speed.
    let baseline = load(&client(b, &b.password, &ca), "team-b.orders.orders").await;
    let throttled = load(
        &client(&loader, &loader.password, &ca),
        "team-a.orders.orders",
    )
    .await;
    println!("512 KiB: {baseline:.2} s at 50 MiB/s, {throttled:.2} s under a 64 KiB/s quota");
    assert!(
        throttled > 4.0 * baseline,
        "the tenant's byte rate applies to its user: {throttled:.2} s against {baseline:.2} s"
    );
    for other in ["team-b.orders.orders", "team-a.billing.orders"] {
        let refused = produce(&a_client, other)
            .await
            .expect_err("not this slice's");
        assert!(
            refused.contains("TopicAuthorizationFailed"),
            "{other}: {refused}"
        );
    }
    assert_eq!(
        visible_topics(&client(b, &b.password, &ca)),
        ["team-b.orders.orders"]
    );
    assert_eq!(
        visible_topics(&client(billing, &billing.password, &ca)),
        ["team-a.billing.orders"]
    );

    // kcat with team-a's credentials lists team-a's topic only.
    let out = kcat_list(a, &ca);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listing.contains("\"team-a.orders.orders\"")
            && !listing.contains("team-b")
            && !listing.contains("billing"),
        "{listing}"
    );

    // Wrong passwords get the broker's SCRAM refusal; a deleted user is locked out.
    let scram_refusal =
        "SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
    let wrong = CreatedKafkaUser {
        password: "not-the-password".into(),
        ..a.clone()
    };
    let out = kcat_list(&wrong, &ca);
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && why.contains(scram_refusal),
        "{why}"
    );
    admin
        .delete_kafka_user(slices[0].id, "app")
        .await
        .expect("delete user");
    let out = kcat_list(a, &ca);
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && why.contains(scram_refusal),
        "deleted users cannot log in: {why}"
    );
    assert_eq!(
        admin
            .delete_kafka_user(slices[0].id, "app")
            .await
            .expect_err("already gone")
            .status(),
        Some(404)
    );

    // The shared cluster cannot be deleted while slices live on it.
    let in_use = admin
        .delete_cluster(host.id)
        .await
        .expect_err("slices live on it");
    assert_eq!(in_use.status(), Some(409), "{in_use}");
    // Deleting a slice takes its users and topics off the shared brokers: the loader can
    // no longer log in, and a new slice with the same name starts empty.
    let loader_client = client(&loader, &loader.password, &ca);
    assert_eq!(visible_topics(&loader_client), ["team-a.orders.orders"]);
    admin
        .delete_cluster(slices[0].id)
        .await
        .expect("delete slice");
    until(
        "the deleted slice's budget leaves the shared broker",
        || storage_budgets(p.root.path()) == [budget("team-a.billing"), budget("team-b.orders")],
    )
    .await;
    let out = kcat_list(&loader, &ca);
    let refused = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the slice's users are gone");
    assert!(
        refused.contains("SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{refused}"
    );
    let again = request_slice(team_a.id, "orders", StorageBackend::LocalSsd)
        .await
        .expect("the same slice again");
    let again = wait_for(admin, again.id, "Ready", |c| c.status.phase == "Ready").await;
    assert_eq!(again.topic_prefix.as_deref(), Some("team-a.orders."));
    let fresh = admin
        .create_kafka_user(again.id, &CreateKafkaUser { name: "app".into() })
        .await
        .expect("user of the new slice");
    assert_eq!(
        visible_topics(&client(&fresh, &fresh.password, &ca)),
        Vec::<String>::new(),
        "the old slice's topic was deleted from the brokers"
    );
    for slice in slices.iter().skip(1).chain([&again]) {
        admin.delete_cluster(slice.id).await.expect("delete slice");
    }
    admin.delete_cluster(host.id).await.expect("delete shared");
    p.until_volumes_released().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_user_made_in_the_portal_connects_with_the_settings_it_shows_once() {
    let p = Platform::start(1).await;
    let admin = &p.admin;
    let team = p.tenant("web").await;
    let cluster = secured_cluster(admin, team.id, "web-events", ClusterKind::Dedicated).await;
    admin
        .create_topic(
            cluster.id,
            &CreateTopic {
                name: "events".into(),
                partitions: Some(1),
                replication_factor: None,
                configs: Default::default(),
            },
        )
        .await
        .expect("topic");

    let page = format!("{}/clusters/{}", p.cp.url, cluster.id);
    let browser = e2e::browser::Browser::admin_at(&p.cp.url, &format!("/clusters/{}", cluster.id))
        .await
        .expect("cluster page");
    browser
        .wait_text("#kafka-users", "No Kafka users yet", 10)
        .await
        .expect("users panel");
    assert!(browser
        .text("#connect")
        .await
        .expect("connect")
        .contains("security.protocol=SASL_SSL"));
    browser
        .fill("kafka-user-name", "web-app")
        .await
        .expect("type");
    browser.click("#create-kafka-user").await.expect("create");
    browser
        .wait_text("#kafka-user-created", "not shown again", 15)
        .await
        .expect("created");
    let properties = browser
        .text("#kafka-user-properties")
        .await
        .expect("properties");
    let setting = |key: &str| {
        properties
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in {properties}"))
            .trim()
            .to_owned()
    };
    let password = setting("sasl.password");
    assert_eq!(setting("sasl.username"), "web-app");

    let ca = p.root.path().join("web-ca.pem");
    let ca_pem = browser.text("#kafka-user-ca").await.expect("the CA");
    std::fs::write(&ca, format!("{}\n", ca_pem.trim())).expect("ca");
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", setting("bootstrap.servers"))
        .set("security.protocol", setting("security.protocol"))
        .set("sasl.mechanisms", setting("sasl.mechanism"))
        .set("sasl.username", "web-app")
        .set("sasl.password", &password)
        .set("ssl.ca.location", ca.to_str().expect("utf8"))
        .set("message.timeout.ms", "10000");
    produce(&config, "events")
        .await
        .expect("the portal's settings work");

    browser.goto(&page).await.expect("reload");
    let panel = browser
        .wait_text("#kafka-users", "web-app", 10)
        .await
        .expect("listed");
    assert!(
        !panel.contains(&password),
        "the password is not shown again"
    );

    // A broker certificate due for renewal (here: one the control plane cannot read) is
    // reissued; the agent writes it and the broker serves it without a restart.
    let bootstrap = cluster.bootstrap_servers.clone().expect("bootstrap");
    let before = served_certificate(&bootstrap, &ca);
    let db = sqlx::PgPool::connect(&p.cp.db.url).await.expect("db");
    sqlx::query("UPDATE brokers SET tls_cert_pem = 'unreadable' WHERE cluster_id = $1")
        .bind(cluster.id.0)
        .execute(&db)
        .await
        .expect("age the certificate");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while served_certificate(&bootstrap, &ca) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the certificate was never renewed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    produce(&config, "events")
        .await
        .expect("clients trust the renewed certificate");
}

/// The certificate a broker presents, as `openssl s_client` verifies it against `ca`.
fn served_certificate(addr: &str, ca: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(ca)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "TLS handshake: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text.find("-----END CERTIFICATE-----").expect("its end");
    text[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_ca_signs_secured_clusters_instead_of_their_own() {
    let pki = tempfile::tempdir().expect("dir");
    let (cert, key) = (
        pki.path().join("org-ca.pem"),
        pki.path().join("org-ca-key.pem"),
    );
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/O=Acme/CN=Acme Kafka CA", "-days", "30"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let flags = [
        "--cluster-ca-cert",
        cert.to_str().expect("utf8"),
        "--cluster-ca-key",
        key.to_str().expect("utf8"),
    ];
    let p = Platform::start_with(1, &flags).await;
    let team = p.tenant("acme").await;
    let cluster = secured_cluster(&p.admin, team.id, "acme-orders", ClusterKind::Dedicated).await;
    let bootstrap = cluster.bootstrap_servers.clone().expect("bootstrap");
    let served = served_certificate(&bootstrap, &cert);
    assert!(
        !served.is_empty(),
        "the broker's certificate verifies against the organisation CA"
    );
    let user = p
        .admin
        .create_kafka_user(cluster.id, &CreateKafkaUser { name: "app".into() })
        .await
        .expect("user");
    let org_pem = std::fs::read_to_string(&cert).expect("read");
    assert_eq!(
        user.ca_pem.trim(),
        org_pem.trim(),
        "clients are told to trust the organisation CA"
    );
}
