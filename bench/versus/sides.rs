//! The two sides of `bench/versus`: Apache Kafka from the reference jars (started as its
//! start script would, with a 1 GiB heap and G1) or the engine's release binary, one
//! node or three forming one quorum, with their data under the benchmark's directory;
//! and the CPU time and peak memory of their processes, read from `/proc`.

use std::path::Path;

use anyhow::Context;
use e2e::reference_kafka::{KafkaOptions, ReferenceKafka, KAFKA_START_SCRIPT_JVM};
use rdkafka::ClientConfig;

use super::{
    broker::{start_broker, start_cluster, Broker},
    load::{create_topic_when_ready, plaintext},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kafka,
    Engine,
}

/// What keeps a side's processes alive.
enum Running {
    Kafka(ReferenceKafka),
    Engine(Vec<Broker>),
}

/// One running side.
pub struct Side {
    pub bootstrap: String,
    running: Running,
    _dir: tempfile::TempDir,
}

/// Writes every dirty page back (sync(1)) and waits for it.
pub fn settle_disk() -> anyhow::Result<()> {
    let status = std::process::Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

impl Side {
    /// Starts `nodes` nodes of `kind` with their data in a new directory under `parent`,
    /// once the disk has written back what earlier runs left dirty (so one side's
    /// writeback never lands in the other's numbers).
    pub fn start(kind: Kind, parent: &Path, nodes: usize) -> anyhow::Result<Side> {
        settle_disk()?;
        let dir = tempfile::tempdir_in(parent)?;
        let running = match kind {
            Kind::Kafka => Running::Kafka(ReferenceKafka::start_with(&KafkaOptions {
                nodes,
                parent_dir: Some(dir.path()),
                // Kafka's own default group delay, as the engine's (the test harness sets 0).
                extra_properties: "log.flush.scheduler.interval.ms=1000\n\
                                   group.initial.rebalance.delay.ms=3000",
                jvm: KAFKA_START_SCRIPT_JVM,
                ..KafkaOptions::default()
            })?),
            Kind::Engine if nodes == 1 => {
                Running::Engine(vec![start_broker(&dir.path().join("broker"))?])
            }
            Kind::Engine => Running::Engine(start_cluster(dir.path())?),
        };
        let bootstrap = match &running {
            Running::Kafka(k) => k.bootstrap.clone(),
            Running::Engine(brokers) => brokers
                .iter()
                .map(|b| b.bootstrap.clone())
                .collect::<Vec<_>>()
                .join(","),
        };
        let side = Side {
            bootstrap,
            running,
            _dir: dir,
        };
        side.warm_up_groups()?;
        Ok(side)
    }

    /// Commits an offset for a consumer group until the commit succeeds: Kafka creates
    /// its 50-partition `__consumer_offsets` topic on first use, a one-time cost a
    /// running cluster has long paid, kept out of the measurements on both sides.
    fn warm_up_groups(&self) -> anyhow::Result<()> {
        use rdkafka::{
            consumer::{BaseConsumer, CommitMode, Consumer},
            Offset, TopicPartitionList,
        };
        self.create_topic("versus-warm-up", 1, &[])?;
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", "versus-warm-up")
            .set("enable.auto.commit", "false")
            .create()?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset("versus-warm-up", 0, Offset::Offset(0))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            match consumer.commit(&offsets, CommitMode::Sync) {
                Ok(()) => return Ok(()),
                Err(e) if std::time::Instant::now() > deadline => {
                    return Err(e).context("the group coordinator never answered")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
            }
        }
    }

    pub fn client(&self) -> ClientConfig {
        plaintext(&self.bootstrap)
    }

    fn pids(&self) -> Vec<u32> {
        match &self.running {
            Running::Kafka(k) => k.pids(),
            Running::Engine(brokers) => brokers.iter().map(|b| b.child.id()).collect(),
        }
    }

    /// Creates a topic, retrying while a new cluster elects its controller.
    pub fn create_topic(
        &self,
        name: &str,
        replicas: i32,
        configs: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let within = std::time::Duration::from_secs(60);
        create_topic_when_ready(&self.client(), name, replicas, configs, within)
    }

    /// User plus system CPU seconds the side's processes have used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let mut total = 0.0;
        for pid in self.pids() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
            // Fields after the command name (which may hold spaces) start at `state`;
            // utime and stime are the 14th and 15th of the line.
            let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
            total += ticks / TICKS_PER_SECOND;
        }
        Ok(total)
    }

    /// The sum of the processes' peak resident set sizes (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        let mut kib = 0.0;
        for pid in self.pids() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
            let line = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .context("no VmHWM")?;
            kib += line
                .split_whitespace()
                .nth(1)
                .context("VmHWM value")?
                .parse::<f64>()?;
        }
        Ok(kib / 1024.0)
    }
}
