//! `bench/lag`: how long the consumer-lag evaluator takes for 10,000 partitions across
//! 1,000 groups (10 partitions each, windows of 10 observations a minute apart), beside
//! a baseline measured in the same run that only reads each partition's latest lag (the
//! least any lag report does). Prints the median of 21 rounds and the ratio.
//!
//! Run: `cargo run --release -p tideway-bench --bin lag`

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
    println!("  database size per day: not measured yet (lag samples are not stored until issue 7's collection lands)");
}
