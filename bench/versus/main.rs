//! `bench/versus`: the bundled engine beside Apache Kafka (the pinned reference jars) in
//! one run, on the same machine, disk, clients and flush policy, one side at a time so
//! they never compete for the two cores.
//!
//! - Clients: librdkafka (through rdkafka) for throughput and latency, and Kafka's own
//!   `kafka-producer-perf-test` / `kafka-consumer-perf-test`.
//! - Flush policy, the same on both sides and stated: every topic has `flush.ms=1000`
//!   (the engine's default); Kafka runs its flush scheduler every second to honour it.
//! - One node each with RF 1, then three nodes each (one quorum) with RF 1 acks=1 beside
//!   RF 3 acks=all. Before each side starts, the disk writes back what the previous one
//!   left dirty, and each side's data is deleted when it stops.
//! - Prints produce and consume MB/s, p50/p99/p99.9 delivery latency at a fixed rate, the
//!   brokers' CPU seconds per GB moved and peak RSS, and engine/Kafka ratios.
//!
//! Run: `cargo build --release -p broker-agent -p tideway-bench &&
//! /var/cache/tideway/target/release/versus [--dir DIR] [--scale F] [--part single|three]`
//! (the reference jars
//! come from `./tideway test`, or `TIDEWAY_REFERENCE_KAFKA_LIBS`).

use std::path::Path;

#[path = "../common/args.rs"]
mod args;
#[path = "../common/broker.rs"]
mod broker;
// bench/engine uses the helpers this benchmark does not.
#[allow(dead_code)]
#[path = "../common/load.rs"]
mod load;
mod perf_tools;
mod sides;

use args::{arg, data_dir, Scale};
use load::{consume_throughput, latency, produce_throughput, Latency};
use sides::{Kind, Side};

/// The topic config both sides get: fsync each partition at most once a second.
const FLUSH: (&str, &str) = ("flush.ms", "1000");
/// Records per second and seconds of the fixed-rate latency runs.
const LATENCY_RATE: u64 = 1000;
const LATENCY_SECS: u64 = 5;
const WARM_UP_SECS: u64 = 2;

/// One measured row of one side.
#[derive(Clone, Copy, Default)]
struct Row {
    produce_mbs: f64,
    consume_mbs: f64,
    latency: Option<Latency>,
    tool_produce_mbs: f64,
    tool_p99_ms: f64,
    tool_consume_mbs: f64,
}

/// What one side did in the single-node part: rows, CPU seconds, bytes moved, peak RSS.
struct Single {
    rows: Vec<((usize, &'static str), Row)>,
    cpu_seconds: f64,
    bytes_moved: f64,
    rss_mib: f64,
}

fn ms(l: Option<Latency>, pick: fn(&Latency) -> std::time::Duration) -> f64 {
    l.map_or(f64::NAN, |l| pick(&l).as_secs_f64() * 1e3)
}

/// Latency at the fixed rate on a new topic, measured after the same rate has run for
/// `WARM_UP_SECS` and been discarded: a fresh partition's first seconds (Kafka creates
/// and maps its index files, a follower finds the partition on its next fetch, the JIT
/// compiles the path) are not what a running cluster shows.
fn warm_latency(
    client: &rdkafka::ClientConfig,
    topic: &str,
    size: usize,
    acks: &str,
) -> anyhow::Result<Latency> {
    latency(client, topic, size, LATENCY_RATE, WARM_UP_SECS, acks)?;
    latency(client, topic, size, LATENCY_RATE, LATENCY_SECS, acks)
}

/// The single-node workloads on one side.
fn single(kind: Kind, dir: &Path, records: &[(usize, u64)]) -> anyhow::Result<Single> {
    let side = Side::start(kind, dir, 1)?;
    let client = side.client();
    let cpu_before = side.cpu_seconds()?;
    let mut bytes_moved = 0.0;
    let mut rows = Vec::new();
    for &(size, count) in records {
        for acks in ["1", "all"] {
            let topic = format!("versus-{size}-{acks}");
            side.create_topic(&topic, 1, &[FLUSH])?;
            let (produce_mbs, _) = produce_throughput(&client, &topic, count, size, acks)?;
            let consume_mbs = consume_throughput(&client, &topic, count)?;
            bytes_moved += 2.0 * (count * size as u64) as f64;
            let lt = format!("versus-lat-{size}-{acks}");
            side.create_topic(&lt, 1, &[FLUSH])?;
            let latency = warm_latency(&client, &lt, size, acks)?;
            let tool_topic = format!("versus-tool-{size}-{acks}");
            side.create_topic(&tool_topic, 1, &[FLUSH])?;
            let produced =
                perf_tools::producer_perf(&side.bootstrap, &tool_topic, count, size, acks)?;
            let tool_consume_mbs = perf_tools::consumer_perf(&side.bootstrap, &tool_topic, count)?;
            bytes_moved += 2.0 * (count * size as u64) as f64;
            rows.push((
                (size, acks),
                Row {
                    produce_mbs,
                    consume_mbs,
                    latency: Some(latency),
                    tool_produce_mbs: produced.mb_per_sec,
                    tool_p99_ms: produced.p99_ms,
                    tool_consume_mbs,
                },
            ));
        }
    }
    Ok(Single {
        rows,
        cpu_seconds: side.cpu_seconds()? - cpu_before,
        bytes_moved,
        rss_mib: side.peak_rss_mib()?,
    })
}

/// The three-node workloads on one side: (RF, acks) → row.
/// What one side did in the three-node part: rows by (RF, acks), and CPU seconds.
type Three = (Vec<((i32, &'static str), Row)>, f64);

fn three(kind: Kind, dir: &Path, count: u64) -> anyhow::Result<Three> {
    let side = Side::start(kind, dir, 3)?;
    let client = side.client();
    let cpu_before = side.cpu_seconds()?;
    let mut rows = Vec::new();
    for (replicas, acks) in [(1, "1"), (3, "all")] {
        let topic = format!("versus-rf{replicas}");
        side.create_topic(&topic, replicas, &[FLUSH])?;
        let (produce_mbs, _) = produce_throughput(&client, &topic, count, 1024, acks)?;
        let consume_mbs = consume_throughput(&client, &topic, count)?;
        let lt = format!("versus-lat-rf{replicas}");
        side.create_topic(&lt, replicas, &[FLUSH])?;
        let latency = warm_latency(&client, &lt, 1024, acks)?;
        rows.push((
            (replicas, acks),
            Row {
                produce_mbs,
                consume_mbs,
                latency: Some(latency),
                ..Row::default()
            },
        ));
    }
    Ok((rows, side.cpu_seconds()? - cpu_before))
}

fn print_pair(label: &str, unit: &str, kafka: f64, engine: f64) {
    println!(
        "  {label:<34} {kafka:>10.2} {engine:>10.2} {unit:<5} {:>7.2}x",
        engine / kafka
    );
}

fn print_row(kafka: &Row, engine: &Row, tools: bool) {
    print_pair(
        "produce (librdkafka)",
        "MB/s",
        kafka.produce_mbs,
        engine.produce_mbs,
    );
    print_pair(
        "consume (librdkafka)",
        "MB/s",
        kafka.consume_mbs,
        engine.consume_mbs,
    );
    for (name, pick) in [
        (
            "p50",
            (|l: &Latency| l.p50) as fn(&Latency) -> std::time::Duration,
        ),
        ("p99", |l: &Latency| l.p99),
        ("p99.9", |l: &Latency| l.p999),
    ] {
        print_pair(
            &format!("{name} at {LATENCY_RATE}/s (librdkafka)"),
            "ms",
            ms(kafka.latency, pick),
            ms(engine.latency, pick),
        );
    }
    if tools {
        print_pair(
            "produce (producer-perf-test)",
            "MB/s",
            kafka.tool_produce_mbs,
            engine.tool_produce_mbs,
        );
        print_pair(
            "p99 (producer-perf-test, flat out)",
            "ms",
            kafka.tool_p99_ms,
            engine.tool_p99_ms,
        );
        print_pair(
            "consume (consumer-perf-test)",
            "MB/s",
            kafka.tool_consume_mbs,
            engine.tool_consume_mbs,
        );
    }
}

fn main() -> anyhow::Result<()> {
    let scale = Scale::from_args()?;
    let n = |records: f64| scale.records(records);
    let dir = data_dir()?;
    let records = [(100usize, n(1_000_000.0)), (1024, n(200_000.0))];
    println!(
        "bench/versus: Apache Kafka {} and the engine, one node each, data under {}",
        e2e::reference_kafka::version()?,
        dir.path().display()
    );
    println!(
        "flush policy on both: topic {}={} (Kafka: log.flush.scheduler.interval.ms=1000); \
         {} partitions; latency: {LATENCY_RATE} records/s for {LATENCY_SECS} s after \
         {WARM_UP_SECS} s of warm-up, linger.ms=0",
        FLUSH.0,
        FLUSH.1,
        load::PARTITIONS
    );
    let part = arg("--part").unwrap_or_default();
    if part != "three" {
        single_part(dir.path(), &records)?;
    }
    if part != "single" {
        three_part(dir.path(), n(200_000.0))?;
    }
    Ok(())
}

/// One node each: the rows, then the resources.
fn single_part(dir: &Path, records: &[(usize, u64)]) -> anyhow::Result<()> {
    let kafka = single(Kind::Kafka, dir, records)?;
    let engine = single(Kind::Engine, dir, records)?;
    println!(
        "\n  {:<34} {:>10} {:>10} {:<5} {:>8}",
        "", "Kafka", "engine", "", "engine/Kafka"
    );
    for ((key, k), (_, e)) in kafka.rows.iter().zip(&engine.rows) {
        println!(
            "{} B records, acks={}, RF 1 ({} records)",
            key.0,
            key.1,
            records.iter().find(|r| r.0 == key.0).map_or(0, |r| r.1)
        );
        print_row(k, e, true);
    }
    println!("broker resources over the single-node runs");
    print_pair(
        "CPU seconds per GB moved",
        "s/GB",
        kafka.cpu_seconds / (kafka.bytes_moved / 1e9),
        engine.cpu_seconds / (engine.bytes_moved / 1e9),
    );
    print_pair("peak RSS", "MiB", kafka.rss_mib, engine.rss_mib);

    Ok(())
}

/// Three nodes each: RF 1 acks=1 beside RF 3 acks=all.
fn three_part(dir: &Path, count: u64) -> anyhow::Result<()> {
    let (kafka3, kafka_cpu) = three(Kind::Kafka, dir, count)?;
    let (engine3, engine_cpu) = three(Kind::Engine, dir, count)?;
    println!("\nthree nodes each, one quorum, 1 KiB records ({count} records)");
    for ((key, k), (_, e)) in kafka3.iter().zip(&engine3) {
        println!("RF {} acks={}", key.0, key.1);
        print_row(k, e, false);
    }
    print_pair("CPU seconds, all three nodes", "s", kafka_cpu, engine_cpu);
    let ratio = |rows: &[((i32, &str), Row)]| rows[1].1.produce_mbs / rows[0].1.produce_mbs;
    println!(
        "RF 3 acks=all throughput / RF 1 acks=1 throughput: Kafka {:.2}, engine {:.2}",
        ratio(&kafka3),
        ratio(&engine3)
    );
    Ok(())
}
