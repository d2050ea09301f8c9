//! Reading a cluster's positions over the Kafka protocol with rdkafka: every topic's
//! log-end offsets, every consumer group's committed offsets, and for a lagging group the
//! timestamp of the next record it will read (the basis of its lag in time). Blocking;
//! callers run it on the blocking pool and keep the `Reader` (and its clients) between
//! passes.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    ClientConfig, Message, Offset, TopicPartitionList,
};

/// Where one group stands in one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPosition {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// The group has members (a consumer is alive), so an offset that does not move is
    /// a stalled consumer rather than a stopped one.
    pub live: bool,
    /// Timestamp of the record at `committed`, when there is one and it could be read.
    pub next_record_ms: Option<i64>,
}

/// What one pass read from a cluster.
#[derive(Debug, Default)]
pub struct ClusterPositions {
    /// (topic, partition) → log-end offset (high watermark).
    pub ends: HashMap<(String, i32), i64>,
    pub groups: Vec<GroupPosition>,
}

impl ClusterPositions {
    pub fn end_of(&self, topic: &str, partition: i32) -> Option<i64> {
        self.ends.get(&(topic.to_owned(), partition)).copied()
    }
}

/// Threads reading groups side by side in a pass.
const READERS: usize = 8;

/// Reads a cluster's positions pass after pass, keeping its clients (one for the cluster,
/// one per group, since rdkafka reads a group's offsets as that group) between passes.
pub struct Reader {
    base: ClientConfig,
    timeout: Duration,
    cluster: BaseConsumer,
    groups: HashMap<String, BaseConsumer>,
}

impl Reader {
    pub fn new(base: ClientConfig, timeout: Duration) -> Result<Reader, String> {
        Ok(Reader {
            cluster: client(&base, "tideway-monitor", timeout)?,
            base,
            timeout,
            groups: HashMap::new(),
        })
    }

    /// The positions now: every topic, and every group except the control plane's own
    /// (`tideway-*`). Clients of groups that are gone are dropped.
    pub fn read(&mut self) -> Result<ClusterPositions, String> {
        let timeout = self.timeout;
        let metadata = self
            .cluster
            .fetch_metadata(None, timeout)
            .map_err(|e| format!("failed to read the cluster's metadata: {e}"))?;
        let mut all = TopicPartitionList::new();
        for t in metadata.topics() {
            if t.error().is_some() {
                continue;
            }
            for p in t.partitions() {
                all.add_partition_offset(t.name(), p.id(), Offset::End)
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut positions = ClusterPositions::default();
        if all.count() == 0 {
            return Ok(positions);
        }
        let latest = self
            .cluster
            .offsets_for_times(all.clone(), timeout)
            .map_err(|e| format!("failed to read log-end offsets: {e}"))?;
        for e in latest.elements() {
            if let Offset::Offset(end) = e.offset() {
                positions
                    .ends
                    .insert((e.topic().to_owned(), e.partition()), end);
            }
        }
        let groups = self
            .cluster
            .fetch_group_list(None, timeout)
            .map_err(|e| format!("failed to list consumer groups: {e}"))?;
        let names: HashMap<String, bool> = groups
            .groups()
            .iter()
            .filter(|g| !g.name().starts_with("tideway-"))
            .map(|g| (g.name().to_owned(), !g.members().is_empty()))
            .collect();
        self.groups.retain(|name, _| names.contains_key(name));
        let mut partitions = TopicPartitionList::new();
        for e in all.elements() {
            partitions.add_partition(e.topic(), e.partition());
        }
        for group in names.keys() {
            if !self.groups.contains_key(group) {
                self.groups
                    .insert(group.clone(), client(&self.base, group, timeout)?);
            }
        }
        // Groups are read side by side: each waits on its coordinator and its peeks.
        let work: Vec<(&String, &BaseConsumer, bool)> = names
            .iter()
            .filter_map(|(g, live)| self.groups.get(g).map(|c| (g, c, *live)))
            .collect();
        let per_thread = work.len().div_ceil(READERS).max(1);
        let known = &positions;
        let results: Vec<(String, Result<Vec<GroupPosition>, String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = work
                .chunks(per_thread)
                .map(|chunk| {
                    let partitions = &partitions;
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|(g, c, live)| {
                                let read = group_positions(c, g, *live, partitions, known, timeout);
                                ((*g).clone(), read)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (group, read) in results {
            match read {
                Ok(found) => positions.groups.extend(found),
                Err(e) => {
                    tracing::debug!(group, error = %e, "skipping a group this pass");
                    self.groups.remove(&group);
                }
            }
        }
        Ok(positions)
    }
}

fn client(base: &ClientConfig, group: &str, timeout: Duration) -> Result<BaseConsumer, String> {
    let ms = timeout.as_millis().to_string();
    base.clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("socket.timeout.ms", &ms)
        .set("fetch.wait.max.ms", "100")
        .set("log_level", "3")
        .create()
        .map_err(|e| format!("client: {e}"))
}

/// A group's committed offsets, with the next record's timestamp where it lags.
fn group_positions(
    consumer: &BaseConsumer,
    group: &str,
    live: bool,
    partitions: &TopicPartitionList,
    known: &ClusterPositions,
    timeout: Duration,
) -> Result<Vec<GroupPosition>, String> {
    let committed = consumer
        .committed_offsets(partitions.clone(), timeout)
        .map_err(|e| format!("failed to read committed offsets: {e}"))?;
    let mut found: Vec<GroupPosition> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(committed) => Some(GroupPosition {
                group: group.to_owned(),
                topic: e.topic().to_owned(),
                partition: e.partition(),
                committed,
                live,
                next_record_ms: None,
            }),
            _ => None,
        })
        .collect();
    let mut lagging = TopicPartitionList::new();
    for p in &found {
        if known
            .end_of(&p.topic, p.partition)
            .is_some_and(|end| end > p.committed)
        {
            lagging
                .add_partition_offset(&p.topic, p.partition, Offset::Offset(p.committed))
                .map_err(|e| e.to_string())?;
        }
    }
    if lagging.count() > 0 {
        let stamps = peek_timestamps(consumer, &lagging, timeout)?;
        for p in &mut found {
            p.next_record_ms = stamps.get(&(p.topic.clone(), p.partition)).copied();
        }
    }
    Ok(found)
}

/// The timestamp of the first record at each assigned offset (without joining the group
/// or committing anything).
fn peek_timestamps(
    consumer: &BaseConsumer,
    at: &TopicPartitionList,
    timeout: Duration,
) -> Result<HashMap<(String, i32), i64>, String> {
    consumer
        .assign(at)
        .map_err(|e| format!("failed to assign partitions: {e}"))?;
    let wanted = at.count();
    let mut stamps = HashMap::new();
    let deadline = Instant::now() + timeout;
    while stamps.len() < wanted && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some(ms) = m.timestamp().to_millis() {
                    stamps
                        .entry((m.topic().to_owned(), m.partition()))
                        .or_insert(ms);
                }
            }
            Some(Err(e)) => return Err(format!("failed to read the next record: {e}")),
            None => {}
        }
    }
    consumer.unassign().map_err(|e| e.to_string())?;
    Ok(stamps)
}
