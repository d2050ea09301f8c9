//! `bench/engine`: throughput and latency of the bundled broker with a real client
//! (librdkafka through rdkafka), beside the raw sequential write speed of the same disk
//! with the same flush policy (fsync at most once a second, the engine's default
//! `flush.ms`), measured in the same run. Prints a table and the engine/raw ratios.
//!
//! Run: `cargo run --release -p tideway-bench --bin engine -- [--dir DIR] [--scale F]`
//! (the broker binary is taken from the same target directory; build it with
//! `cargo build --release -p broker-agent` first).

use std::{
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

#[path = "../common/args.rs"]
mod args;
#[path = "../common/broker.rs"]
mod broker;
mod cluster;
// bench/versus reads the p99.9 this benchmark leaves out.
#[allow(dead_code)]
#[path = "../common/load.rs"]
mod load;
mod secure;

use broker::{start_broker, start_broker_with};
use load::{consume_throughput, create_topic, latency, plaintext, produce_throughput};

/// Sequential writes of `total` bytes in 1 MiB chunks, fsync at most once a second.
fn raw_write(dir: &Path, total: u64) -> anyhow::Result<f64> {
    let path = dir.join("raw.bin");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![0xabu8; 1 << 20];
    let start = Instant::now();
    let mut last_sync = Instant::now();
    let mut written = 0;
    while written < total {
        f.write_all(&chunk)?;
        written += chunk.len() as u64;
        if last_sync.elapsed() >= Duration::from_secs(1) {
            f.sync_data()?;
            last_sync = Instant::now();
        }
    }
    f.sync_data()?;
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(written as f64 / secs / 1e6)
}

fn main() -> anyhow::Result<()> {
    let scale = args::Scale::from_args()?;
    let n = |records: f64| scale.records(records);
    let dir = args::data_dir()?;
    let broker = start_broker(&dir.path().join("broker"))?;
    let b = plaintext(&broker.bootstrap);
    println!(
        "bench/engine: broker at {}, data under {}",
        broker.bootstrap,
        dir.path().display()
    );
    println!(
        "{:>7} {:>5} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "record", "acks", "produce MB/s", "records/s", "consume MB/s", "p50 ms", "p99 ms", "vs raw"
    );
    let mut raw_total = 0.0;
    let mut raw_runs = 0.0;
    for (size, count) in [(100usize, n(1_000_000.0)), (1024, n(200_000.0))] {
        let total = count * size as u64;
        let raw = raw_write(dir.path(), total)?;
        raw_total += raw;
        raw_runs += 1.0;
        for acks in ["1", "all"] {
            let topic = format!("bench-{size}-{acks}");
            create_topic(&b, &topic)?;
            let (mbs, rps) = produce_throughput(&b, &topic, count, size, acks)?;
            let consume = if acks == "1" {
                format!("{:.1}", consume_throughput(&b, &topic, count)?)
            } else {
                "-".into()
            };
            let (p50, p99) = if acks == "1" {
                let lt = format!("lat-{size}");
                create_topic(&b, &lt)?;
                let l = latency(&b, &lt, size, 1000, 5, "1")?;
                (
                    format!("{:.2}", l.p50.as_secs_f64() * 1e3),
                    format!("{:.2}", l.p99.as_secs_f64() * 1e3),
                )
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "{:>7} {:>5} {:>12.1} {:>12.0} {:>12} {:>10} {:>10} {:>9.2}x",
                format!("{size} B"),
                acks,
                mbs,
                rps,
                consume,
                p50,
                p99,
                mbs / raw
            );
        }
        println!(
            "{:>7} {:>5} {:>12.1}   (raw sequential write, 1 MiB chunks, fsync each second)",
            format!("{size} B"),
            "raw",
            raw
        );
    }
    println!(
        "latency: 1000 records/s for 5 s, acks=1, linger.ms=0; raw write speed averaged {:.1} MB/s",
        raw_total / raw_runs
    );
    drop(broker);
    secure::run(dir.path(), n(200_000.0))?;
    cluster::run(dir.path(), n(200_000.0))
}
