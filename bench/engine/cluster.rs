//! The three-broker part of `bench/engine`: a cluster of three broker processes on this
//! machine (one metadata quorum), RF 3 with acks=all beside RF 1 with acks=1 in the same
//! run — what replication costs in throughput and p99 latency.

use std::path::Path;

use super::{
    broker::start_cluster, latency, load::create_topic_when_ready, plaintext, produce_throughput,
};

/// How long a topic creation may wait for the new cluster's quorum and registrations.
const CLUSTER_READY: std::time::Duration = std::time::Duration::from_secs(20);

pub fn run(dir: &Path, count: u64) -> anyhow::Result<()> {
    let brokers = start_cluster(dir)?;
    let bootstrap: Vec<String> = brokers.iter().map(|b| b.bootstrap.clone()).collect();
    let joined = bootstrap.join(",");
    let b = plaintext(&joined);
    println!("\nthree-broker cluster at {joined} ({count} records of 1 KiB per run)");
    println!(
        "{:>14} {:>12} {:>12} {:>10} {:>10}",
        "setup", "produce MB/s", "records/s", "p50 ms", "p99 ms"
    );
    let mut rows = Vec::new();
    for (replicas, acks) in [(1, "1"), (3, "all")] {
        let topic = format!("cluster-rf{replicas}");
        create_topic_when_ready(&b, &topic, replicas, &[], CLUSTER_READY)?;
        let (mbs, rps) = produce_throughput(&b, &topic, count, 1024, acks)?;
        let lt = format!("cluster-lat-rf{replicas}");
        create_topic_when_ready(&b, &lt, replicas, &[], CLUSTER_READY)?;
        // Followers pick a new partition up when their current fetch returns (up to
        // 500 ms, as with Kafka's replica.fetch.wait.max.ms): warm up before measuring.
        produce_throughput(&b, &lt, 1000, 1024, acks)?;
        let l = latency(&b, &lt, 1024, 1000, 5, acks)?;
        let (p50, p99) = (l.p50, l.p99);
        println!(
            "{:>14} {:>12.1} {:>12.0} {:>10.2} {:>10.2}",
            format!("RF {replicas} acks={acks}"),
            mbs,
            rps,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
        rows.push((mbs, p99.as_secs_f64()));
    }
    println!(
        "RF 3 acks=all / RF 1 acks=1: throughput {:.2}x, p99 latency {:.2}x",
        rows[1].0 / rows[0].0,
        rows[1].1 / rows[0].1
    );
    Ok(())
}
