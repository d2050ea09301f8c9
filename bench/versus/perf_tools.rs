//! Kafka's own load generators, `kafka-producer-perf-test` (ProducerPerformance) and
//! `kafka-consumer-perf-test` (ConsumerPerformance), run from the reference jars against
//! either side, with their summaries parsed.

use anyhow::{bail, Context};
use e2e::reference_kafka::run_tool;

/// What the producer tool reports for a whole run.
pub struct Produced {
    pub mb_per_sec: f64,
    pub p99_ms: f64,
}

fn run(class: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = run_tool(class, args, "")?;
    if !out.status.success() {
        bail!("{class} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses the tool's final line: "N records sent, R records/sec (M MB/sec), A ms avg
/// latency, X ms max latency, a ms 50th, b ms 95th, c ms 99th, d ms 99.9th."
fn parse_produced(output: &str) -> anyhow::Result<Produced> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains("99th"))
        .context("no summary line from the producer tool")?;
    let mut produced = Produced {
        mb_per_sec: f64::NAN,
        p99_ms: f64::NAN,
    };
    for part in line.split(", ") {
        if let Some(rate) = part
            .split('(')
            .nth(1)
            .and_then(|r| r.strip_suffix(" MB/sec)"))
        {
            produced.mb_per_sec = rate.parse()?;
        }
        if let Some(p99) = part.strip_suffix(" ms 99th") {
            produced.p99_ms = p99.parse()?;
        }
    }
    Ok(produced)
}

/// Produces `count` records of `size` bytes as fast as the tool can.
pub fn producer_perf(
    bootstrap: &str,
    topic: &str,
    count: u64,
    size: usize,
    acks: &str,
) -> anyhow::Result<Produced> {
    let output = run(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            topic,
            "--num-records",
            &count.to_string(),
            "--record-size",
            &size.to_string(),
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
            &format!("acks={acks}"),
            "linger.ms=5",
        ],
    )?;
    parse_produced(&output)
}

/// Reads `count` records with the consumer tool: its fetch MB/s (the ninth CSV column,
/// which leaves out the time the group took to form).
pub fn consumer_perf(bootstrap: &str, topic: &str, count: u64) -> anyhow::Result<f64> {
    let output = run(
        "org.apache.kafka.tools.ConsumerPerformance",
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--messages",
            &count.to_string(),
            "--timeout",
            "60000",
        ],
    )?;
    let line = output
        .lines()
        .rev()
        .find(|l| l.split(", ").count() >= 9 && !l.starts_with("start.time"))
        .context("no summary line from the consumer tool")?;
    Ok(line
        .split(", ")
        .nth(8)
        .context("fetch.MB.sec column")?
        .trim()
        .parse()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_producer_tools_summary_parses() {
        let p = super::parse_produced(
            "500 records sent, 100.0 records/sec (0.01 MB/sec), 1.0 ms avg latency, 9.0 ms max latency.\n\
             1000 records sent, 2222.2 records/sec (0.21 MB/sec), 3.50 ms avg latency, \
             120.00 ms max latency, 2 ms 50th, 8 ms 95th, 40 ms 99th, 110 ms 99.9th.\n",
        )
        .expect("parses");
        assert_eq!((p.mb_per_sec, p.p99_ms), (0.21, 40.0));
    }
}
