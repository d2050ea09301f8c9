//! The collection half of `bench/lag`: one sampling pass over a real broker (the release
//! `broker-agent broker`) holding `GROUPS` consumer groups that each lag on every one of
//! `PARTITIONS` partitions. A pass with a kept `Reader` (its clients live between passes)
//! and one with new clients (what a reader that does not keep them pays), beside a
//! baseline that only reads the topics' end offsets. Median of `ROUNDS`.

use std::time::{Duration, Instant};

use control_plane::monitoring::offsets::Reader;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Offset, TopicPartitionList,
};

pub const GROUPS: usize = 50;
pub const PARTITIONS: i32 = 12;
const RECORDS: i64 = 50;
const ROUNDS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Median pass times: (end offsets only, kept reader, new clients every pass).
pub struct Passes {
    pub baseline: Duration,
    pub kept: Duration,
    pub fresh: Duration,
    pub positions: usize,
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

async fn fill(bootstrap: &str) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3");
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let topic = NewTopic::new("events", PARTITIONS, TopicReplication::Fixed(1));
    admin.create_topics([&topic], &AdminOptions::new()).await?;
    let producer: FutureProducer = config.create()?;
    for p in 0..PARTITIONS {
        for _ in 0..RECORDS {
            producer
                .send(
                    FutureRecord::to("events")
                        .key("k")
                        .payload("event")
                        .partition(p),
                    TIMEOUT,
                )
                .await
                .map_err(|(e, _)| e)?;
        }
    }
    for g in 0..GROUPS {
        let group: BaseConsumer = config
            .clone()
            .set("group.id", format!("group-{g}"))
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset("events", p, Offset::Offset(RECORDS / 2))?;
        }
        group.commit(&tpl, CommitMode::Sync)?;
    }
    Ok(config)
}

/// Starts a broker, fills it and times the passes.
pub fn measure() -> anyhow::Result<Passes> {
    let dir = tempfile::tempdir()?;
    let broker = crate::broker::start_broker(dir.path())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let config = runtime.block_on(fill(&broker.bootstrap))?;
    let probe: BaseConsumer = config.clone().set("group.id", "tideway-bench").create()?;
    let mut baseline = Vec::new();
    let mut kept = Vec::new();
    let mut fresh = Vec::new();
    let mut reader = Reader::new(config.clone(), TIMEOUT).map_err(anyhow::Error::msg)?;
    let mut positions = reader.read().map_err(anyhow::Error::msg)?.groups.len();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let metadata = probe.fetch_metadata(Some("events"), TIMEOUT)?;
        let mut ends = TopicPartitionList::new();
        for p in metadata.topics()[0].partitions() {
            ends.add_partition_offset("events", p.id(), Offset::End)?;
        }
        probe.offsets_for_times(ends, TIMEOUT)?;
        baseline.push(t.elapsed());
        let t = Instant::now();
        positions = reader.read().map_err(anyhow::Error::msg)?.groups.len();
        kept.push(t.elapsed());
        let t = Instant::now();
        Reader::new(config.clone(), TIMEOUT)
            .and_then(|mut r| r.read())
            .map_err(anyhow::Error::msg)?;
        fresh.push(t.elapsed());
    }
    Ok(Passes {
        baseline: median(baseline),
        kept: median(kept),
        fresh: median(fresh),
        positions,
    })
}
