//! `bench/lag`: how long the consumer-lag evaluator takes for 10,000 partitions across
//! 1,000 groups (10 partitions each, windows of 10 observations a minute apart), beside
//! a baseline measured in the same run that only reads each partition's latest lag (the
//! least any lag report does). Prints the median of 21 rounds and the ratio. Then, with
//! `DATABASE_URL` set, what the samples of 100 clusters take in PostgreSQL per day
//! (`storage.rs`), and one sampling pass over a real broker with 50 lagging groups
//! (`collect.rs`; needs `cargo build --release -p broker-agent`).
//!
//! Run: `DATABASE_URL=postgres://… cargo run --release -p tideway-bench --bin lag`

#[path = "../common/broker.rs"]
mod broker;
mod collect;
mod storage;

use std::time::{Duration, Instant};

use control_plane::monitoring::lag::{evaluate, group_status, Observation};

const GROUPS: usize = 1_000;
const PARTITIONS: usize = 10;
const WINDOW: usize = 10;
const ROUNDS: usize = 21;

/// Deterministic windows with a mix of healthy, lagging, stalled and stopped consumers.
fn windows() -> Vec<Vec<Vec<Observation>>> {
    (0..GROUPS)
        .map(|g| {
            (0..PARTITIONS)
                .map(|p| {
                    let kind = (g * 7 + p) % 4;
                    (0..WINDOW as i64)
                        .map(|i| {
                            let end = 1_000 + i * 100;
                            let (committed, committed_at) = match kind {
                                0 => (end - 5, i),
                                1 => (900 + i * 60, i),
                                2 => (900, i),
                                _ => (900, 0),
                            };
                            Observation {
                                at_ms: i * 60_000,
                                committed,
                                committed_at_ms: committed_at * 60_000,
                                end,
                                next_record_ms: Some(i * 60_000 - 5_000),
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    let data = windows();
    let window = Duration::from_secs(10 * 60);
    let mut baseline = Vec::with_capacity(ROUNDS);
    let mut evaluated = Vec::with_capacity(ROUNDS);
    let mut sink = 0i64;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for group in &data {
            for p in group {
                sink = sink.wrapping_add(p.last().map_or(0, |o| o.lag()));
            }
        }
        baseline.push(t.elapsed());
        let t = Instant::now();
        for group in &data {
            let verdicts: Vec<_> = group.iter().map(|p| evaluate(p, window)).collect();
            sink = sink.wrapping_add(group_status(&verdicts) as i64);
        }
        evaluated.push(t.elapsed());
    }
    let (b, e) = (median(baseline), median(evaluated));
    println!(
        "bench/lag: {} partitions in {GROUPS} groups, windows of {WINDOW} observations ({sink} checksum)",
        GROUPS * PARTITIONS
    );
    println!(
        "  latest lag only (baseline): {:>9.3} ms",
        b.as_secs_f64() * 1e3
    );
    println!(
        "  full evaluation:            {:>9.3} ms",
        e.as_secs_f64() * 1e3
    );
    println!(
        "  evaluation / baseline:      {:>9.1}x",
        e.as_secs_f64() / b.as_secs_f64().max(1e-9)
    );
    match collect::measure() {
        Ok(p) => {
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "bench/lag collection: one broker, {} groups lagging on {} partitions each ({} positions a pass)",
                collect::GROUPS,
                collect::PARTITIONS,
                p.positions
            );
            println!("  end offsets only (baseline): {:>8.1} ms", ms(p.baseline));
            println!(
                "  a pass, clients kept:        {:>8.1} ms ({:.1}x)",
                ms(p.kept),
                ms(p.kept) / ms(p.baseline).max(1e-6)
            );
            println!(
                "  a pass, new clients:         {:>8.1} ms ({:.1}x)",
                ms(p.fresh),
                ms(p.fresh) / ms(p.baseline).max(1e-6)
            );
        }
        Err(e) => println!("bench/lag collection: NOT MEASURED: {e}"),
    }
    if std::env::var("DATABASE_URL").is_err() {
        println!("  database size per day: NOT MEASURED, set DATABASE_URL to a PostgreSQL server");
        return;
    }
    let sizes = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(storage::measure())
        .expect("the storage measurement");
    report(&sizes);
}

fn report(sizes: &[storage::TableSize]) {
    use storage::*;
    println!(
        "bench/lag storage: {CLUSTERS} clusters ({BROKERS_PER_CLUSTER} brokers, {TOPICS_PER_CLUSTER} topics, \
         {GROUPS_PER_CLUSTER} groups x {PARTITIONS_PER_GROUP} partitions each), {HOSTS} hosts, one sample a minute"
    );
    let mib = |b: i64| b as f64 / (1024.0 * 1024.0);
    let (mut disk, mut payload) = (0, 0);
    for t in sizes {
        println!(
            "  {:<15} {:>9} samples/day {:>9.1} MiB/day on disk ({:>7.1} MiB tuple payload, {:.2}x)",
            t.table,
            per_day(t.rows),
            mib(per_day(t.on_disk)),
            mib(per_day(t.payload)),
            t.on_disk as f64 / t.payload.max(1) as f64
        );
        disk += t.on_disk;
        payload += t.payload;
    }
    println!(
        "  total: {:.1} MiB/day on disk, {:.2} GiB at the default 14-day retention; on disk / payload (baseline): {:.2}x",
        mib(per_day(disk)),
        mib(per_day(disk)) * 14.0 / 1024.0,
        disk as f64 / payload.max(1) as f64
    );
}
