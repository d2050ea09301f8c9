//! Several hosts: three agents, each in a network namespace of its own with its own
//! address and data root, as three machines would be. Clusters spread over them, clients
//! reach every broker at its host's address, a killed agent leaves its broker serving
//! (the status says the agent is silent, then recovers when it is back), and deletion
//! releases the volumes on every host.

use std::time::{Duration, Instant};

use e2e::{
    netns::Netns,
    platform::{produce_and_consume, wait_for, WAIT},
    start_agent_on, ControlPlane, Process,
};
use tideway_api::{
    agents::CreateAgentToken,
    clusters::{ClusterKind, CreateCluster},
    tenants::CreateTenant,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_spread_over_hosts_and_survive_a_silent_agent() {
    let flags = [
        "--host-offline-after",
        "3s",
        "--heartbeat-interval",
        "300ms",
        "--reconcile-interval",
        "300ms",
        "--canary-timeout",
        "5s",
    ];
    let cp = ControlPlane::start_listening("0.0.0.0:0", &flags)
        .await
        .expect("control plane");
    let admin = cp.admin().await.expect("admin");
    let port = cp.url.rsplit(':').next().expect("port").to_owned();
    let token = admin
        .create_agent_token(&CreateAgentToken {
            name: "hosts".into(),
            expires_in_days: None,
        })
        .await
        .expect("token")
        .secret;
    let mut hosts: Vec<Host> = (1..=3)
        .map(|i| Host {
            name: format!("host-{i}"),
            ns: Netns::create().expect("a network namespace (needs root and iproute2)"),
            root: tempfile::tempdir().expect("root"),
            agent: None,
        })
        .collect();
    let url_for = |h: &Host| format!("http://{}:{port}", h.ns.host_ip);
    for h in &mut hosts {
        let url = url_for(h);
        h.start_agent(&url, &token);
    }

    let tenant = admin
        .create_tenant(&CreateTenant {
            name: "team-a".into(),
            display_name: None,
            auto_approve: true,
            quota: None,
        })
        .await
        .expect("tenant");
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
    let deadline = Instant::now() + WAIT;
    while hosts.iter().any(|h| h.volumes() > 0) {
        assert!(Instant::now() < deadline, "volumes were never released");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
