//! A small platform for end-to-end tests: a control plane with fast intervals, an agent
//! token and agents (on this machine or in network namespaces standing for hosts), with
//! the waits and the Kafka round trip the suites share.

use std::time::{Duration, Instant};

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message, Offset, TopicPartitionList,
};
use tideway_api::{
    agents::CreateAgentToken, client::Client, clusters::Cluster, tenants::CreateTenant, ClusterId,
};

use crate::{free_port, ControlPlane};

pub const WAIT: Duration = Duration::from_secs(60);

/// Polls the cluster until `ok` holds; fails after [`WAIT`].
pub async fn wait_for(
    client: &Client,
    id: ClusterId,
    what: &str,
    ok: impl Fn(&Cluster) -> bool,
) -> Cluster {
    let deadline = Instant::now() + WAIT;
    loop {
        let c = client.get_cluster(id).await.expect("cluster");
        if ok(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster never became {what}: {:?}",
            c.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Produces a record with `key` (acks=all) and reads it back from its offset.
pub async fn produce_and_consume(bootstrap: &str, topic: &str, key: &str) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()
        .expect("producer");
    let d = producer
        .send(
            FutureRecord::to(topic).key(key).payload("payload"),
            Duration::from_secs(20),
        )
        .await
        .expect("produce");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "e2e")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, d.partition, Offset::Offset(d.offset))
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            assert_eq!(m.key(), Some(key.as_bytes()));
            return;
        }
        assert!(Instant::now() < deadline, "the record did not come back");
    }
}

/// A control plane with fast intervals, an agent token and one agent (host-1) whose
/// brokers may use `ports` ports starting at `port`.
pub struct Platform {
    pub cp: ControlPlane,
    pub admin: Client,
    pub secret: String,
    pub root: tempfile::TempDir,
    pub port: u16,
    pub ports: u16,
    /// Extra agent flags (a storage layout).
    pub agent_flags: Vec<String>,
    pub agent: Option<crate::Process>,
}

impl Platform {
    pub async fn start(ports: u16) -> Platform {
        Self::start_with(ports, &[]).await
    }

    /// Like `start`, with more control-plane flags.
    pub async fn start_with(ports: u16, extra: &[&str]) -> Platform {
        let mut flags = vec![
            "--host-offline-after",
            "5s",
            "--heartbeat-interval",
            "300ms",
            "--reconcile-interval",
            "300ms",
            "--canary-timeout",
            "5s",
        ];
        flags.extend_from_slice(extra);
        let cp = ControlPlane::start(&flags).await.expect("control plane");
        let admin = cp.admin().await.expect("admin");
        let secret = agent_token(&admin).await;
        let mut p = Platform {
            cp,
            admin,
            secret,
            root: tempfile::tempdir().expect("root"),
            port: free_port(),
            ports,
            agent_flags: Vec::new(),
            agent: None,
        };
        p.start_agent();
        p
    }

    /// (Re)starts the agent against the current control plane.
    pub fn start_agent(&mut self) {
        self.agent = None;
        let range = format!("{}-{}", self.port, self.port + self.ports - 1);
        let flags: Vec<&str> = self.agent_flags.iter().map(String::as_str).collect();
        let agent = crate::start_agent_args(
            &self.cp.url,
            &self.secret,
            "host-1",
            self.root.path(),
            &range,
            &flags,
        );
        self.agent = Some(agent.expect("agent"));
    }

    pub async fn tenant(&self, name: &str) -> tideway_api::tenants::Tenant {
        tenant(&self.admin, name).await
    }

    pub fn volumes(&self) -> usize {
        std::fs::read_dir(self.root.path().join("volumes"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub async fn until_volumes_released(&self) {
        until("the volumes are released", || self.volumes() == 0).await;
    }
}

/// Polls `ok` until it holds; fails after [`WAIT`] naming `what`.
pub async fn until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A new agent token's secret, issued by `admin`.
pub async fn agent_token(admin: &Client) -> String {
    admin
        .create_agent_token(&CreateAgentToken {
            name: "e2e".into(),
            expires_in_days: None,
        })
        .await
        .expect("agent token")
        .secret
}

/// A tenant whose requests are approved automatically.
pub async fn tenant(admin: &Client, name: &str) -> tideway_api::tenants::Tenant {
    admin
        .create_tenant(&CreateTenant {
            name: name.into(),
            display_name: None,
            auto_approve: true,
            quota: None,
        })
        .await
        .expect("tenant")
}
