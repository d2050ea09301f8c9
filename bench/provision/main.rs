//! `bench/provision`: how long from a request (auto-approved) to a Ready cluster, with the
//! real control plane, three real agents (hosts on this machine) and real brokers on local
//! storage: ten 1-broker and ten 3-broker clusters one after another (median and max),
//! then 20 1-broker clusters requested at once (time until all are Ready). Prints the
//! numbers; asserts nothing.
//!
//! Run (PostgreSQL in DATABASE_URL, e.g. from `./tideway test`'s or `up`'s server):
//! `cargo build --bins && cargo run -p tideway-bench --bin provision`

use std::time::{Duration, Instant};

use e2e::{start_agent_with, ControlPlane};
use tideway_api::{
    agents::CreateAgentToken,
    client::Client,
    clusters::{ClusterKind, CreateCluster},
    tenants::{CreateTenant, Quota},
    ClusterId, TenantId,
};

const TIMEOUT: Duration = Duration::from_secs(120);

async fn request(
    client: &Client,
    tenant: TenantId,
    name: &str,
    brokers: i32,
) -> anyhow::Result<ClusterId> {
    let spec = tideway_api::clusters::ClusterSpec {
        security: tideway_api::clusters::ClusterSecurity::Plaintext,
        broker_count: Some(brokers),
        ..e2e::one_broker_spec()
    };
    let c = client
        .create_cluster(&CreateCluster {
            tenant_id: tenant,
            name: name.into(),
            kind: ClusterKind::Dedicated,
            spec,
        })
        .await?;
    Ok(c.id)
}

async fn until_ready(client: &Client, id: ClusterId, start: Instant) -> anyhow::Result<Duration> {
    let mut last = String::new();
    loop {
        let c = client.get_cluster(id).await?;
        if c.status.phase == "Ready" {
            return Ok(start.elapsed());
        }
        // A slow start says why it waits, so outliers can be explained.
        let why = format!("{}: {:?}", c.status.phase, c.status.conditions);
        if start.elapsed() > Duration::from_secs(5) && why != last {
            eprintln!("  {id} after {}: {why}", ms(start.elapsed()));
            last = why;
        }
        anyhow::ensure!(
            start.elapsed() < TIMEOUT,
            "cluster {id} not Ready after {TIMEOUT:?}: {:?}",
            c.status.conditions
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var("TIDEWAY_BIN_DIR").is_err() {
        let dir = std::env::current_exe()?
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        std::env::set_var("TIDEWAY_BIN_DIR", dir);
    }
    let flags = [
        "--reconcile-interval",
        "200ms",
        "--heartbeat-interval",
        "200ms",
        "--host-offline-after",
        "5s",
    ];
    let cp = ControlPlane::start(&flags).await?;
    let admin = cp.admin().await?;
    let token = admin
        .create_agent_token(&CreateAgentToken {
            name: "bench".into(),
            expires_in_days: None,
        })
        .await?;
    let mut roots = Vec::new();
    let mut agents = Vec::new();
    // Disjoint port ranges: the three "hosts" share this machine's addresses. Below the
    // ephemeral range (32768+), as an operator would choose them: a broker port that an
    // outgoing connection happens to use as its local port cannot be listened on.
    let base = 22_000 + (std::process::id() % 60) as u16 * 150;
    for i in 1..=3 {
        let root = tempfile::tempdir()?;
        let first = base + 50 * (i - 1);
        agents.push(start_agent_with(
            &cp.url,
            &token.secret,
            &format!("bench-host-{i}"),
            root.path(),
            &format!("{first}-{}", first + 40),
        )?);
        roots.push(root);
    }
    let quota = Quota {
        max_clusters: 100,
        max_brokers: 100,
        max_storage_bytes: 100 << 30,
        ..Quota::default()
    };
    let tenant = admin
        .create_tenant(&CreateTenant {
            name: "bench".into(),
            display_name: None,
            auto_approve: true,
            quota: Some(quota),
        })
        .await?;
    println!(
        "bench/provision: control plane {}, three agents, reconcile and heartbeat every 200 ms",
        cp.url
    );

    for brokers in [1, 3] {
        let mut times = Vec::new();
        for i in 0..10 {
            let start = Instant::now();
            let id = request(&admin, tenant.id, &format!("seq-{brokers}-{i}"), brokers).await?;
            times.push(until_ready(&admin, id, start).await?);
            admin.delete_cluster(id).await?;
        }
        times.sort();
        println!(
            "{brokers}-broker cluster, request to Ready, 10 runs: median {}, max {}",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }

    let start = Instant::now();
    let names: Vec<String> = (0..20).map(|i| format!("burst-{i}")).collect();
    let ids = futures::future::try_join_all(names.iter().map(|n| request(&admin, tenant.id, n, 1)))
        .await?;
    let times =
        futures::future::try_join_all(ids.iter().map(|id| until_ready(&admin, *id, start))).await?;
    let slowest = times.iter().max().copied().unwrap_or_default();
    println!(
        "20 clusters requested at once: all Ready after {}",
        ms(slowest)
    );

    // Brokers outlive their agent by design: delete the clusters and wait for the agent to
    // stop them and release their volumes before it goes.
    for id in ids {
        admin.delete_cluster(id).await?;
    }
    let deadline = Instant::now() + TIMEOUT;
    let volumes = |r: &tempfile::TempDir| {
        std::fs::read_dir(r.path().join("volumes"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    while roots.iter().map(volumes).sum::<usize>() > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agent did not release the volumes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
