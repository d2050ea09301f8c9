//! Several hosts: three agents, each in a network namespace of its own with its own
//! address and data root, as three machines would be. Clusters spread over them, clients
//! reach every broker at its host's address, a killed agent leaves its broker serving
//! (the status says the agent is silent, then recovers when it is back), and deletion
//! releases the volumes on every host.

use std::time::Duration;

use e2e::{
    netns::Netns,
    platform::{agent_token, produce_and_consume, tenant, until, wait_for},
    start_agent_on, ControlPlane, Process,
};
use tideway_api::{
    clusters::{ClusterKind, CreateCluster},
    topics::CreateTopic,
};

struct Host {
    name: String,
    ns: Netns,
    root: tempfile::TempDir,
    agent: Option<Process>,
}

impl Host {
    fn start_agent(&mut self, url: &str, token: &str) {
        self.agent = None;
        let agent = start_agent_on(
            Some(&self.ns),
            url,
            token,
            &self.name,
            self.root.path(),
            "19092-19099",
            &[],
        );
        self.agent = Some(agent.expect("agent"));
    }

    fn volumes(&self) -> usize {
        std::fs::read_dir(self.root.path().join("volumes"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// Waits until no host has a broker volume left.
async fn until_released(hosts: &[Host]) {
    until("every host released its volumes", || {
        hosts.iter().all(|h| h.volumes() == 0)
    })
    .await;
}

/// A control plane reachable from the namespaces and three hosts with running agents.
struct Hosts {
    cp: ControlPlane,
    admin: tideway_api::client::Client,
    token: String,
    hosts: Vec<Host>,
}

impl Hosts {
    async fn start() -> Hosts {
        let flags = [
            "--host-offline-after",
            "3s",
            "--heartbeat-interval",
            "300ms",
            "--reconcile-interval",
            "300ms",
            "--canary-timeout",
            "5s",
            "--metrics-interval",
            "1s",
            "--lag-window",
            "5s",
        ];
        let cp = ControlPlane::start_listening("0.0.0.0:0", &flags)
            .await
            .expect("control plane");
        let admin = cp.admin().await.expect("admin");
        let token = agent_token(&admin).await;
        let mut h = Hosts {
            cp,
            admin,
            token,
            hosts: Vec::new(),
        };
        for i in 1..=3 {
            let mut host = Host {
                name: format!("host-{i}"),
                ns: Netns::create().expect("a network namespace (needs root and iproute2)"),
                root: tempfile::tempdir().expect("root"),
                agent: None,
            };
            let url = h.url_for(&host);
            host.start_agent(&url, &h.token);
            h.hosts.push(host);
        }
        h
    }

    fn url_for(&self, h: &Host) -> String {
        let port = self.cp.url.rsplit(':').next().expect("port");
        format!("http://{}:{port}", h.ns.host_ip)
    }

    async fn until_volumes_released(&self) {
        until_released(&self.hosts).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_spread_over_hosts_and_survive_a_silent_agent() {
    let Hosts {
        cp: _cp,
        admin,
        token,
        mut hosts,
    } = Hosts::start().await;
    let port = _cp.url.rsplit(':').next().expect("port").to_owned();
    let url_for = |h: &Host| format!("http://{}:{port}", h.ns.host_ip);

    let tenant = tenant(&admin, "team-a").await;
    let mut clusters = Vec::new();
    for name in ["orders", "payments", "audit"] {
        let c = admin
            .create_cluster(&CreateCluster {
                tenant_id: tenant.id,
                name: name.into(),
                kind: ClusterKind::Dedicated,
                spec: e2e::one_broker_spec(),
            })
            .await
            .expect("request");
        clusters.push(c.id);
    }

    // Each cluster on a host of its own, reached at that host's address.
    let mut placed = Vec::new();
    for (id, topic) in clusters.iter().zip(["orders", "payments", "audit"]) {
        let c = wait_for(&admin, *id, "Ready", |c| c.status.phase == "Ready").await;
        let broker = &c.brokers[0];
        let host = hosts
            .iter()
            .find(|h| h.name == broker.host)
            .expect("a known host");
        let bootstrap = c.bootstrap_servers.clone().expect("bootstrap");
        assert_eq!(bootstrap, format!("{}:{}", host.ns.ip, broker.port));
        admin
            .create_topic(
                *id,
                &CreateTopic {
                    name: topic.into(),
                    partitions: Some(1),
                    replication_factor: None,
                    configs: Default::default(),
                },
            )
            .await
            .expect("topic");
        produce_and_consume(&bootstrap, topic, "spread").await;
        placed.push((*id, broker.host.clone(), bootstrap, topic));
    }
    let mut names: Vec<&str> = placed.iter().map(|p| p.1.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "one cluster per host: {placed:?}");

    // Kill one agent: its broker keeps serving; the platform says it cannot see it.
    let (silent_cluster, silent_host, bootstrap, topic) = placed[1].clone();
    let silent = hosts
        .iter_mut()
        .find(|h| h.name == silent_host)
        .expect("host");
    silent.agent = None;
    produce_and_consume(&bootstrap, topic, "agent-down").await;
    let degraded = wait_for(&admin, silent_cluster, "Degraded", |c| {
        c.status.phase == "Degraded"
    })
    .await;
    assert!(
        degraded.brokers[0]
            .detail
            .contains("no report from the agent"),
        "{:?}",
        degraded.brokers[0]
    );
    let listed = admin.list_hosts().await.expect("hosts");
    let state = |name: &str| {
        listed
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.state.clone())
            .unwrap_or_default()
    };
    assert_eq!(state(&silent_host), "offline");
    for (id, host, ..) in [&placed[0], &placed[2]] {
        assert_eq!(state(host), "online");
        let c = admin.get_cluster(*id).await.expect("cluster");
        assert_eq!(c.status.phase, "Ready", "other hosts' clusters unaffected");
    }
    produce_and_consume(&bootstrap, topic, "still-serving").await;

    // The agent comes back, adopts its broker, and the cluster is Ready again.
    let url = url_for(silent);
    silent.start_agent(&url, &token);
    wait_for(&admin, silent_cluster, "Ready again", |c| {
        c.status.phase == "Ready"
    })
    .await;
    let brokers = std::fs::read_dir(silent.root.path().join("brokers"))
        .expect("brokers")
        .count();
    assert_eq!(brokers, 1, "adopted, not started twice");

    // Deleting releases the volumes on every host.
    for id in &clusters {
        admin.delete_cluster(*id).await.expect("delete");
    }
    until_released(&hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_broker_cluster_spans_three_hosts() {
    let h = Hosts::start().await;
    let tenant = tenant(&h.admin, "team-a").await;
    let cluster = h
        .admin
        .create_cluster(&CreateCluster {
            tenant_id: tenant.id,
            name: "events".into(),
            kind: ClusterKind::Dedicated,
            spec: tideway_api::clusters::ClusterSpec {
                security: tideway_api::clusters::ClusterSecurity::Plaintext,
                broker_count: Some(3),
                ..e2e::one_broker_spec()
            },
        })
        .await
        .expect("request");
    // Ready means every broker answers and the canary went through the cluster.
    let ready = wait_for(&h.admin, cluster.id, "Ready", |c| c.status.phase == "Ready").await;
    let mut on: Vec<&str> = ready.brokers.iter().map(|b| b.host.as_str()).collect();
    on.sort();
    assert_eq!(on, ["host-1", "host-2", "host-3"], "one broker per host");
    let bootstrap = ready.bootstrap_servers.clone().expect("bootstrap");
    assert_eq!(bootstrap.split(',').count(), 3, "{bootstrap}");

    // Any broker describes all three; partitions of a topic spread over them.
    let first = bootstrap.split(',').next().expect("one");
    let probe: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", first)
        .create()
        .expect("client");
    h.admin
        .create_topic(
            cluster.id,
            &CreateTopic {
                name: "clicks".into(),
                partitions: Some(6),
                replication_factor: Some(1),
                configs: Default::default(),
            },
        )
        .await
        .expect("topic");
    let m = rdkafka::consumer::Consumer::fetch_metadata(
        &probe,
        Some("clicks"),
        Duration::from_secs(10),
    )
    .expect("metadata");
    assert_eq!(m.brokers().len(), 3);
    let leaders: std::collections::BTreeSet<i32> = m.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect();
    assert_eq!(leaders.len(), 3, "leaders on every broker: {leaders:?}");
    produce_and_consume(&bootstrap, "clicks", "three-hosts").await;

    // Clients use plaintext, but only the cluster's brokers take part in its quorum and
    // replication: both ports want a client certificate from the cluster's CA.
    let db = sqlx::PgPool::connect(&h.cp.db.url).await.expect("db");
    let ports: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT h.address, b.controller_port, b.replication_port
         FROM brokers b JOIN hosts h ON h.id = b.host_id WHERE b.cluster_id = $1",
    )
    .bind(cluster.id.0)
    .fetch_all(&db)
    .await
    .expect("broker ports");
    assert_eq!(ports.len(), 3);
    for (address, controller, replication) in ports {
        for port in [controller, replication] {
            // -ign_eof: read on after our (empty) input, until the broker's alert.
            let out = std::process::Command::new("timeout")
                .args(["20", "openssl", "s_client", "-ign_eof", "-connect"])
                .arg(format!("{address}:{port}"))
                .stdin(std::process::Stdio::null())
                .output()
                .expect("openssl");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                said.contains("certificate required"),
                "{address}:{port} let a client without a certificate in: {said}"
            );
        }
    }

    // Consumer lag across the three brokers: ten records in each partition, a group that
    // committed four of each; the control plane reads every leader and the coordinator.
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    let mut ends = std::collections::BTreeMap::new();
    for partition in 0..6 {
        for _ in 0..10 {
            let delivered = producer
                .send(
                    rdkafka::producer::FutureRecord::to("clicks")
                        .key("k")
                        .payload("click")
                        .partition(partition),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce");
            ends.insert(partition, delivered.offset + 1);
        }
    }
    let group: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "clickers")
        .create()
        .expect("group client");
    let mut committed = rdkafka::TopicPartitionList::new();
    for (partition, end) in &ends {
        committed
            .add_partition_offset("clicks", *partition, rdkafka::Offset::Offset(end - 6))
            .expect("offset");
    }
    rdkafka::consumer::Consumer::commit(&group, &committed, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let groups = h
            .admin
            .consumer_groups(cluster.id)
            .await
            .expect("consumer groups");
        if let Some(g) = groups
            .into_iter()
            .find(|g| g.group_id == "clickers" && g.partitions.len() == 6)
        {
            break g;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group's lag never showed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(seen.total_lag, 36, "{seen:?}");
    for p in &seen.partitions {
        assert_eq!((p.end_offset, p.lag), (ends[&p.partition], 6), "{p:?}");
        assert!(
            p.time_lag_ms.is_some(),
            "the next record's timestamp was read from its leader: {p:?}"
        );
    }

    h.admin.delete_cluster(cluster.id).await.expect("delete");
    h.until_volumes_released().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secured_three_broker_cluster_replicates_over_mutual_tls() {
    let h = Hosts::start().await;
    let tenant = tenant(&h.admin, "team-s").await;
    let cluster = h
        .admin
        .create_cluster(&CreateCluster {
            tenant_id: tenant.id,
            name: "secure-events".into(),
            kind: ClusterKind::Dedicated,
            spec: tideway_api::clusters::ClusterSpec {
                security: tideway_api::clusters::ClusterSecurity::SaslSsl,
                broker_count: Some(3),
                ..e2e::one_broker_spec()
            },
        })
        .await
        .expect("request");
    let ready = wait_for(&h.admin, cluster.id, "Ready", |c| c.status.phase == "Ready").await;
    let bootstrap = ready.bootstrap_servers.clone().expect("bootstrap");
    h.admin
        .create_topic(
            cluster.id,
            &CreateTopic {
                name: "payments".into(),
                partitions: Some(3),
                replication_factor: Some(3),
                configs: Default::default(),
            },
        )
        .await
        .expect("an RF 3 topic, created as the control plane over SASL_SSL");
    let user = h
        .admin
        .create_kafka_user(
            cluster.id,
            &tideway_api::kafka_users::CreateKafkaUser {
                name: "payments-app".into(),
            },
        )
        .await
        .expect("user");
    let ca = h.hosts[0].root.path().join("ca.pem");
    std::fs::write(&ca, &user.ca_pem).expect("ca");
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", ca.to_str().expect("utf8"))
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", &user.user.username)
        .set("sasl.password", &user.password)
        .set("acks", "all")
        .set("message.timeout.ms", "30000");
    let probe: rdkafka::consumer::BaseConsumer = config.create().expect("client");
    let m = rdkafka::consumer::Consumer::fetch_metadata(
        &probe,
        Some("payments"),
        Duration::from_secs(10),
    )
    .expect("metadata over SASL_SSL");
    let mut advertised: Vec<String> = m
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    let mut expected: Vec<String> = bootstrap.split(',').map(str::to_owned).collect();
    advertised.sort();
    expected.sort();
    assert_eq!(
        advertised, expected,
        "clients are told the SASL_SSL addresses, not the replication ones"
    );
    let producer: rdkafka::producer::FutureProducer = config.create().expect("producer");
    for i in 0..30 {
        producer
            .send(
                rdkafka::producer::FutureRecord::<(), _>::to("payments").payload(&format!("p{i}")),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("acks=all: the followers replicate over mutual TLS");
    }
    let m = rdkafka::consumer::Consumer::fetch_metadata(
        &probe,
        Some("payments"),
        Duration::from_secs(10),
    )
    .expect("metadata");
    for p in m.topics()[0].partitions() {
        assert_eq!(p.isr().len(), 3, "every replica in sync: {:?}", p.isr());
    }

    h.admin.delete_cluster(cluster.id).await.expect("delete");
    h.until_volumes_released().await;
}
