//! From an approved request to a cluster clients produce to: the real control plane places
//! the broker, a real agent starts it on local storage, the control plane's canary makes
//! it Ready, rdkafka produces and consumes through the bootstrap servers; the broker keeps
//! serving while the agent restarts; deletion stops it and releases its volume.

use std::time::{Duration, Instant};

use e2e::{
    platform::{produce_and_consume, wait_for, Platform, WAIT},
    ControlPlane,
};
use rdkafka::{
    admin::{AdminClient, AdminOptions, ResourceSpecifier},
    client::DefaultClientContext,
    ClientConfig,
};
use tideway_api::{
    client::Client,
    clusters::{Cluster, ClusterKind, CreateCluster},
    tenants::{CreateTenant, CreateUser, PutMember},
    topics::{CreateTopic, UpdateTopic},
    Role,
};

/// Waits until the host's agent has applied its latest desired state and said so in a
/// heartbeat after `since` (when it was started).
async fn until_agent_applied(admin: &Client, since: chrono::DateTime<chrono::Utc>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let hosts = admin.list_hosts().await.expect("hosts");
        if hosts.iter().any(|h| {
            h.last_seen_at.is_some_and(|t| t > since) && h.observed_generation == Some(h.generation)
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never applied its desired state"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_request_becomes_a_cluster_clients_produce_to() {
    let mut p = Platform::start(1).await;
    let (admin, port) = (p.admin.clone(), p.port);
    let tenant = p.tenant("team-a").await;
    let spec = e2e::one_broker_spec();
    let cluster = admin
        .create_cluster(&CreateCluster {
            tenant_id: tenant.id,
            name: "orders".into(),
            kind: ClusterKind::Dedicated,
            spec,
        })
        .await
        .expect("request");
    let placed = wait_for(&admin, cluster.id, "placed", |c| !c.brokers.is_empty()).await;
    if placed.status.phase != "Ready" {
        assert_eq!(
            placed.status.observed_generation, None,
            "nothing observed while {}",
            placed.status.phase
        );
    }
    wait_for(&admin, cluster.id, "Ready", |c| c.status.phase == "Ready").await;
    // Ready, with the agent's host caught up: the generation is observed.
    let ready = wait_for(&admin, cluster.id, "generation observed", |c| {
        c.status.observed_generation == Some(c.generation)
    })
    .await;
    assert_eq!(ready.status.phase, "Ready");
    let bootstrap = ready.bootstrap_servers.clone().expect("bootstrap servers");
    assert_eq!(bootstrap, format!("127.0.0.1:{port}"));
    assert!(ready.brokers[0].healthy);
    assert!(
        ready.status.conditions[0].message.contains("canary"),
        "{:?}",
        ready.status
    );
    // The cluster page shows the bootstrap servers, the healthy broker and how to connect.
    let browser = e2e::browser::Browser::admin_at(&p.cp.url, &format!("/clusters/{}", cluster.id))
        .await
        .expect("cluster page");
    assert_eq!(
        browser.text("#bootstrap").await.expect("bootstrap"),
        bootstrap
    );
    assert!(browser
        .text("#brokers")
        .await
        .expect("brokers")
        .contains("healthy"));
    // Topics from the cluster page: a bad name is explained, a good one is listed.
    browser
        .wait_text("#topics", "Create topic", 10)
        .await
        .expect("topics section");
    browser.fill("topic-name", "bad name").await.expect("type");
    browser.click("#create-topic").await.expect("create");
    browser
        .wait_text("#topic-error", "name", 10)
        .await
        .expect("error shown");
    browser
        .fill("topic-name", "from-the-ui")
        .await
        .expect("type");
    browser.fill("topic-partitions", "2").await.expect("type");
    browser.click("#create-topic").await.expect("create");
    browser
        .wait_text("#topics", "from-the-ui", 10)
        .await
        .expect("listed");
    let connect = browser.text("#connect").await.expect("connect");
    assert!(
        connect.contains(&format!("kcat -b {bootstrap}"))
            && connect.contains(&format!("bootstrap.servers={bootstrap}"))
    );
    drop(browser);
    let volume = p.root.path().join("volumes");
    assert_eq!(
        std::fs::read_dir(&volume).expect("volumes").count(),
        1,
        "one broker volume"
    );

    topics_through_the_control_plane(&p.cp, &admin, &ready, &bootstrap).await;
    produce_and_consume(&bootstrap, "orders", "first").await;
    // The agent reports what the broker holds on disk and the traffic it carried.
    let usage = wait_for(&admin, ready.id, "reporting traffic", |c| {
        let b = &c.brokers[0];
        b.bytes_in.unwrap_or(0) > 0 && b.bytes_out.unwrap_or(0) > 0
    })
    .await;
    let disk = usage.brokers[0].disk_used_bytes.expect("disk usage");
    assert!(disk > 0, "{:?}", usage.brokers[0]);

    // The agent dies: the broker keeps serving; a new agent adopts it.
    let pid_file = std::fs::read_dir(p.root.path().join("brokers"))
        .expect("brokers")
        .next()
        .expect("one")
        .expect("entry")
        .path()
        .join("broker.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("pid");
    p.agent = None;
    produce_and_consume(&bootstrap, "orders", "while-the-agent-is-away").await;
    let restarted_at = chrono::Utc::now();
    p.start_agent();
    // The new agent has applied the desired state, where it would have restarted a broker
    // it did not recognise.
    until_agent_applied(&admin, restarted_at).await;
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid"),
        pid,
        "the running broker was adopted, not restarted"
    );
    wait_for(&admin, cluster.id, "Ready again", |c| {
        c.status.phase == "Ready" && c.brokers[0].healthy
    })
    .await;
    produce_and_consume(&bootstrap, "orders", "after").await;

    // The broker dies while the agent is away and its pid now names another process: the
    // next agent neither takes that process for its broker nor signals it, and starts the
    // broker again.
    p.agent = None;
    let broker_pid = std::fs::read_to_string(&pid_file).expect("pid");
    let broker_pid = broker_pid.split_whitespace().next().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", broker_pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut impostor = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("sleep");
    // The pid alone, as older agents wrote it: nothing else vouches for the process.
    std::fs::write(&pid_file, format!("{}\n", impostor.id())).expect("pid file");
    p.start_agent();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = std::fs::read_to_string(&pid_file).expect("pid");
        if now.split_whitespace().next() != Some(impostor.id().to_string().as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never started its broker again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    produce_and_consume(&bootstrap, "orders", "after-the-impostor").await;
    assert!(
        impostor.try_wait().expect("status").is_none(),
        "the agent left the other process alone"
    );
    let _ = impostor.kill();

    // Deleting the cluster stops the broker and releases its volume.
    admin.delete_cluster(cluster.id).await.expect("delete");
    p.until_volumes_released().await;
}

/// Topics managed through the REST API and applied to the cluster over the Kafka protocol.
async fn topics_through_the_control_plane(
    cp: &ControlPlane,
    admin: &Client,
    cluster: &Cluster,
    bootstrap: &str,
) {
    let create = |name: &str, partitions: Option<i32>, configs: &[(&str, &str)]| CreateTopic {
        name: name.into(),
        partitions,
        replication_factor: None,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let t = admin
        .create_topic(
            cluster.id,
            &create("orders", Some(3), &[("retention.ms", "3600000")]),
        )
        .await
        .expect("topic");
    assert_eq!((t.partitions, t.replication_factor), (3, 1));
    let kafka: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let md = kafka
        .inner()
        .fetch_metadata(Some("orders"), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(
        md.topics()[0].partitions().len(),
        3,
        "the topic exists on the cluster"
    );

    let status = |e: tideway_api::client::ClientError| e.status();
    let dup = admin
        .create_topic(cluster.id, &create("orders", None, &[]))
        .await
        .expect_err("duplicate");
    assert_eq!(status(dup), Some(409));
    for bad in [
        create("bad name", None, &[]),
        create("__internal", None, &[]),
        create("x", Some(0), &[]),
        create("x", None, &[("colour", "blue")]),
        create("x", None, &[("retention.ms", "soon")]),
    ] {
        let err = admin
            .create_topic(cluster.id, &bad)
            .await
            .expect_err("invalid");
        assert_eq!(status(err), Some(422), "{}", bad.name);
    }
    let mut quota = admin
        .get_quota(cluster.tenant_id)
        .await
        .expect("quota")
        .quota;
    let used = admin
        .get_quota(cluster.tenant_id)
        .await
        .expect("quota")
        .usage
        .partitions;
    assert!(used >= 3, "orders counts its 3 partitions");
    quota.max_partitions = used + 1;
    admin
        .put_quota(cluster.tenant_id, &quota)
        .await
        .expect("quota");
    let over = admin
        .create_topic(cluster.id, &create("more", Some(2), &[]))
        .await
        .expect_err("over quota");
    let expected = format!(
        "partitions: {used} in use + 2 requested > {} allowed",
        used + 1
    );
    assert!(over.to_string().contains(&expected), "{over}");
    assert_eq!(
        admin
            .get_quota(cluster.tenant_id)
            .await
            .expect("quota")
            .usage
            .partitions,
        used,
        "nothing was added"
    );

    // A config change reaches the cluster.
    let change = UpdateTopic {
        configs: [("retention.ms".to_string(), "120000".to_string())].into(),
    };
    admin
        .update_topic(cluster.id, "orders", &change)
        .await
        .expect("update");
    let described = kafka
        .describe_configs([&ResourceSpecifier::Topic("orders")], &AdminOptions::new())
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

    // Another tenant's member cannot see or touch the cluster's topics.
    let other = admin
        .create_tenant(&CreateTenant {
            name: "team-b".into(),
            display_name: None,
            auto_approve: false,
            quota: None,
        })
        .await
        .expect("tenant");
    admin
        .create_user(&CreateUser {
            username: "eve".into(),
            password: "eve-password".into(),
            display_name: None,
            platform_admin: false,
        })
        .await
        .expect("user");
    admin
        .put_member(
            other.id,
            "eve",
            &PutMember {
                role: Role::TenantAdmin,
            },
        )
        .await
        .expect("member");
    let eve = cp.client().login("eve", "eve-password").await.expect("eve");
    assert_eq!(
        eve.list_topics(cluster.id)
            .await
            .expect_err("hidden")
            .status(),
        Some(404)
    );
    assert_eq!(
        eve.delete_topic(cluster.id, "orders")
            .await
            .expect_err("hidden")
            .status(),
        Some(404)
    );

    // A scratch topic is deleted from the cluster too.
    admin
        .create_topic(cluster.id, &create("scratch", Some(1), &[]))
        .await
        .expect("scratch");
    admin
        .delete_topic(cluster.id, "scratch")
        .await
        .expect("delete");
    let md = kafka
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert!(md.topics().iter().all(|t| t.name() != "scratch"));
    let names: Vec<String> = admin
        .list_topics(cluster.id)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        names.contains(&"orders".to_owned()) && !names.contains(&"scratch".to_owned()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_killed_mid_provisioning_completes_it_once_after_restart() {
    // This agent formats and mounts a loop device per broker (local-ssd=loop:DIR).
    let mut p = Platform::start(6).await;
    let loops = p.root.path().join("loop-volumes");
    p.agent_flags = vec![
        "--storage".into(),
        format!("local-ssd=loop:{}", loops.display()),
    ];
    p.start_agent();
    let tenant = p.tenant("team-a").await;
    let request = CreateCluster {
        tenant_id: tenant.id,
        name: "orders".into(),
        kind: ClusterKind::Dedicated,
        spec: e2e::one_broker_spec(),
    };
    let cluster = p.admin.create_cluster(&request).await.expect("request");

    // Killed right after the request (placement may or may not have happened), restarted
    // on the same database at a new address; a new agent is pointed there.
    p.cp.restart().await.expect("restart");
    let restarted_at = chrono::Utc::now();
    p.start_agent();
    p.admin = p.cp.admin().await.expect("admin");
    let ready = wait_for(&p.admin, cluster.id, "Ready", |c| c.status.phase == "Ready").await;
    assert_eq!(ready.brokers.len(), 1, "one broker, not two");
    until_agent_applied(&p.admin, restarted_at).await;
    assert_eq!(
        std::fs::read_dir(p.root.path().join("brokers"))
            .expect("brokers")
            .count(),
        1,
        "one broker process"
    );
    let is_image = |e: &std::fs::DirEntry| e.path().extension().is_some_and(|x| x == "img");
    let images = std::fs::read_dir(&loops)
        .expect("loops")
        .filter_map(|e| e.ok())
        .filter(is_image)
        .count();
    assert_eq!(images, 1, "one volume");
    let loops_text = loops.to_str().expect("utf8").to_owned();
    let mounted = move || {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
        mounts
            .lines()
            .any(|l| l.starts_with("/dev/loop") && l.contains(&loops_text) && l.contains(" ext4 "))
    };
    assert!(
        mounted(),
        "the broker's data is on a mounted ext4 loop device"
    );

    p.admin.delete_cluster(cluster.id).await.expect("delete");
    let deadline = Instant::now() + WAIT;
    while mounted() || std::fs::read_dir(&loops).expect("loops").count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the loop volume was never unmounted and deleted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
