//! The broker's state: its topics and the open partition logs, plus the operations that
//! change them. Wire handlers call these; blocking file work runs on the blocking pool.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
};

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    config::BrokerConfig,
    fsutil::write_atomic,
    groups::{store::GroupStore, Coordinator},
    log::{config::LogConfig, PartitionLog},
    log_dirs::{partition_dir, remove_topic},
    producer_ids::ProducerIds,
    replication::ReplicaState,
    topics::{check_topic_name, TopicMeta, TopicRegistry},
};

pub use crate::topics::TopicError;

/// Written at a clean stop; its absence at start means the active segments need recovery.
const CLEAN_SHUTDOWN: &str = ".clean-shutdown";
/// The leader epoch of every partition of a standalone broker.
pub const STANDALONE_LEADER_EPOCH: i32 = 0;
/// Most partitions one topic may have.
pub const MAX_PARTITIONS: i32 = 10_000;

/// One partition of a topic, with its log and replication state.
pub struct Partition {
    pub log: Mutex<PartitionLog>,
    pub replica: ReplicaState,
    dir: PathBuf,
}

impl Partition {
    fn open(
        dir: PathBuf,
        config: LogConfig,
        recover: bool,
        standalone: bool,
        visible: Arc<Notify>,
    ) -> Result<Partition, crate::log::LogError> {
        let log = PartitionLog::open(&dir, config, recover)?;
        let replica = ReplicaState::open(&dir, log.log_end_offset(), visible);
        if standalone {
            // The only replica: everything in the log is committed.
            replica.set_high_watermark(log.log_end_offset());
        }
        Ok(Partition {
            log: Mutex::new(log),
            replica,
            dir,
        })
    }

    /// Writes the high watermark for the next start.
    pub fn persist_high_watermark(&self) -> std::io::Result<()> {
        self.replica.persist(&self.dir)
    }
}

#[derive(Serialize, Deserialize)]
struct ClusterFile {
    cluster_id: String,
    node_id: i32,
}

/// A running broker's state.
pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    registry: Mutex<TopicRegistry>,
    pub(crate) partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// Woken on every append and whenever a high watermark advances, for fetches waiting
    /// for data (replicas wait for appends, consumers for the high watermark).
    pub appended: Arc<Notify>,
    /// Consumer groups and their committed offsets.
    pub groups: Arc<Coordinator>,
    producer_ids: Mutex<ProducerIds>,
    /// Cluster mode: producer ids from the quorum.
    pub(crate) quorum_producer_ids: tokio::sync::Mutex<crate::producer_ids::QuorumBlock>,
    /// Bytes produced and fetched, published for the agent.
    pub traffic: crate::stats::TrafficStats,
    /// Credentials, ACLs and quotas, and the authorizer.
    pub security: crate::security::Security,
    /// Storage budgets, checked on produce.
    pub storage: crate::storage_budget::StorageBudgets,
    /// The metadata quorum, in cluster mode.
    quorum: std::sync::OnceLock<Arc<crate::cluster::MetadataQuorum>>,
    /// Held while the broker lives: no other broker opens its data dir.
    _data_dir_lock: std::fs::File,
}

impl Broker {
    /// Opens the data dir: cluster identity, topics, and every partition log (recovering
    /// active segments when the last stop was not clean).
    pub fn open(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let data = &config.data_dir;
        std::fs::create_dir_all(data.join("meta"))
            .map_err(|e| anyhow::anyhow!("cannot create the data dir {}: {e}", data.display()))?;
        let data_dir_lock = crate::fsutil::lock_dir(data)?;
        let cluster_id = Self::cluster_identity(&config)?;
        let clean_marker = data.join(CLEAN_SHUTDOWN);
        let recover = data.join("meta/topics.json").exists() && !clean_marker.exists();
        if recover {
            tracing::info!("the last stop was not clean: recovering active segments");
        }
        let registry = TopicRegistry::load(&data.join("meta/topics.json"))?;
        let known: Vec<TopicMeta> = registry.topics.values().cloned().collect();
        let moved = crate::log_dirs::adopt_legacy_layout(data, &known)?;
        if moved > 0 {
            tracing::info!(
                partitions = moved,
                "moved partition logs under their topic ids"
            );
        }
        let live = known.iter().map(|t| t.id).collect();
        for stray in crate::log_dirs::remove_strays(data, &live)? {
            tracing::info!(dir = %stray.display(), "removed the logs of a deleted topic");
        }
        let appended = Arc::new(Notify::new());
        let mut partitions = HashMap::new();
        for t in registry.topics.values() {
            let log_config = config.log.with_overrides(&t.configs)?;
            for p in 0..t.partitions {
                let partition = Partition::open(
                    partition_dir(data, t.id, p),
                    log_config.clone(),
                    recover,
                    config.cluster.is_none(),
                    appended.clone(),
                )?;
                partitions.insert((t.name.clone(), p), Arc::new(partition));
            }
        }
        if clean_marker.exists() {
            std::fs::remove_file(&clean_marker)?;
        }
        let store = GroupStore::open(&data.join("meta/groups.log"))?;
        let groups = Coordinator::open(store, config.group.clone());
        let producer_ids = Mutex::new(ProducerIds::open(&data.join("meta/producer-ids"))?);
        let security = crate::security::Security::open(
            data,
            config.cluster.is_some(),
            config.authorizer.clone(),
        )?;
        let storage = crate::storage_budget::StorageBudgets::open(config.storage.clone())
            .map_err(|e| anyhow::anyhow!("[storage]: {e}"))?;
        Ok(Arc::new(Broker {
            storage,
            security,
            producer_ids,
            quorum_producer_ids: Default::default(),
            groups,
            config,
            cluster_id,
            registry: Mutex::new(registry),
            partitions: RwLock::new(partitions),
            appended,
            traffic: Default::default(),
            quorum: Default::default(),
            _data_dir_lock: data_dir_lock,
        }))
    }

    fn cluster_identity(config: &BrokerConfig) -> anyhow::Result<String> {
        let path = config.data_dir.join("meta/cluster.json");
        if let Ok(bytes) = std::fs::read(&path) {
            let stored: ClusterFile = serde_json::from_slice(&bytes)?;
            if let Some(wanted) = &config.cluster_id {
                anyhow::ensure!(
                    *wanted == stored.cluster_id,
                    "the data dir belongs to cluster {}, not {wanted}",
                    stored.cluster_id
                );
            }
            anyhow::ensure!(
                stored.node_id == config.node_id,
                "the data dir belongs to node {}, not node {}",
                stored.node_id,
                config.node_id
            );
            return Ok(stored.cluster_id);
        }
        let cluster_id = config
            .cluster_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().simple().to_string());
        let file = ClusterFile {
            cluster_id: cluster_id.clone(),
            node_id: config.node_id,
        };
        write_atomic(&path, &serde_json::to_vec(&file)?)?;
        Ok(cluster_id)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, TopicRegistry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.get(&(topic.to_owned(), partition)).cloned()
    }

    /// Every partition, for background work.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The bytes of log each topic holds on this broker.
    pub fn bytes_by_topic(&self) -> BTreeMap<String, u64> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        let mut held = BTreeMap::new();
        for ((topic, _), p) in map.iter() {
            let bytes = p.log.lock().unwrap_or_else(|e| e.into_inner()).size_bytes();
            *held.entry(topic.clone()).or_default() += bytes;
        }
        held
    }

    pub fn topics(&self) -> Vec<TopicMeta> {
        self.registry().topics.values().cloned().collect()
    }

    pub fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.registry().topics.get(name).cloned()
    }

    /// The name of the topic with id `id` (requests from version 13 of Produce and Fetch
    /// name topics by id).
    pub fn topic_name_of(&self, id: uuid::Uuid) -> Option<String> {
        self.registry()
            .topics
            .values()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
    }

    /// Creates a topic (or only checks it can be created with `validate_only`).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: Option<i32>,
        replication_factor: Option<i16>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        let partitions = self.check_new_topic(name, partitions, &configs)?;
        if let Some(rf) = replication_factor.filter(|rf| *rf != 1) {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {rf} is not possible on a cluster of 1 broker"
            )));
        }
        let log_config = self.config.log.with_overrides(&configs)?;
        let mut registry = self.registry();
        if registry.topics.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_owned()));
        }
        let meta = TopicMeta {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(meta);
        }
        self.open_partitions(&meta, 0..partitions, &log_config)?;
        registry.topics.insert(name.to_owned(), meta.clone());
        registry.save()?;
        tracing::info!(topic = name, partitions, "created topic");
        Ok(meta)
    }

    /// The metadata quorum this broker belongs to (cluster mode), if any.
    pub fn quorum(&self) -> Option<&Arc<crate::cluster::MetadataQuorum>> {
        self.quorum.get()
    }

    /// Switches to cluster mode: topics now come from the quorum's image.
    pub fn join_quorum(&self, quorum: Arc<crate::cluster::MetadataQuorum>) {
        let _ = self.quorum.set(quorum);
    }

    /// The partition, if this broker leads it (a standalone broker leads every one; in
    /// cluster mode, only once its image caught up after a start); else the Kafka error
    /// code telling the client to look elsewhere.
    pub fn led_partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, i16> {
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        if let Some(q) = self.quorum() {
            let image = q.image();
            let state = image
                .topics
                .get(topic)
                .and_then(|t| t.partitions.get(partition as usize))
                .ok_or(unknown)?;
            if state.leader != self.config.node_id || !q.caught_up() {
                return Err(ResponseError::NotLeaderOrFollower.code());
            }
        }
        self.partition(topic, partition).ok_or(unknown)
    }

    /// The broker coordinating `group` (id, host, port): this one when standalone; in
    /// cluster mode the same alive broker on every broker, by a stable hash of the name.
    pub fn coordinator_for(&self, group: &str, listener: &str) -> (i32, String, u16) {
        let (host, port) = self.advertised_on(listener);
        let me = (self.config.node_id, host, port);
        let Some(q) = self.quorum() else {
            return me;
        };
        let image = q.image();
        let alive: Vec<_> = image.brokers.values().filter(|b| b.alive).collect();
        if alive.is_empty() {
            return me;
        }
        let b = alive[crate::cluster::image::stable_hash(group) % alive.len()];
        let (host, port) = b.endpoint(listener);
        (b.id, host, port)
    }

    /// This broker's address for clients of `listener`.
    pub fn advertised_on(&self, listener: &str) -> (String, u16) {
        self.config
            .listeners
            .iter()
            .find(|l| l.name == listener)
            .map(|l| l.advertised_address())
            .unwrap_or_else(|| self.config.advertised.clone())
    }

    /// Whether this broker coordinates `group` (always, standalone).
    pub fn coordinates(&self, group: &str) -> bool {
        self.coordinator_for(group, "").0 == self.config.node_id
    }

    /// Whether the partition exists in the cluster (wherever its replicas live).
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        match self.quorum() {
            Some(q) => q
                .image()
                .topics
                .get(topic)
                .is_some_and(|t| (0..t.partitions.len() as i32).contains(&partition)),
            None => self.partition(topic, partition).is_some(),
        }
    }

    /// The partition's current leader epoch (0 on a standalone broker).
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.quorum()
            .and_then(|q| {
                q.image()
                    .topics
                    .get(topic)
                    .and_then(|t| t.partitions.get(partition as usize))
                    .map(|p| p.leader_epoch)
            })
            .unwrap_or(STANDALONE_LEADER_EPOCH)
    }

    /// Checks a new topic's name, partition count and configs; the partition count.
    pub fn check_new_topic(
        &self,
        name: &str,
        partitions: Option<i32>,
        configs: &BTreeMap<String, String>,
    ) -> Result<i32, TopicError> {
        check_topic_name(name).map_err(TopicError::InvalidName)?;
        let partitions = partitions.unwrap_or(self.config.default_partitions);
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(format!(
                "the number of partitions must be between 1 and {MAX_PARTITIONS}, got {partitions}"
            )));
        }
        self.config.log.with_overrides(configs)?;
        Ok(partitions)
    }

    /// Cluster mode: records a topic of the quorum's image and opens the logs of the
    /// partitions this broker holds a replica of.
    pub fn adopt_topic(&self, meta: TopicMeta, local: &[i32]) -> Result<(), TopicError> {
        let config = self.config.log.with_overrides(&meta.configs)?;
        let mut registry = self.registry();
        if let Some(old) = registry.topics.get(&meta.name).filter(|o| o.id != meta.id) {
            // Deleted and created again while this broker was away: the old topic's
            // records must not come back as the new one's.
            tracing::info!(topic = %meta.name, old = %old.id, new = %meta.id, "the topic was recreated: dropping the old topic's logs");
            let old = old.clone();
            registry.topics.remove(&meta.name);
            registry.save()?;
            self.close_and_remove(&old);
        }
        let missing: Vec<i32> = local
            .iter()
            .copied()
            .filter(|p| self.partition(&meta.name, *p).is_none())
            .collect();
        for p in missing {
            self.open_partitions(&meta, p..p + 1, &config)?;
        }
        let old = registry.topics.get(&meta.name);
        if old.is_some_and(|o| o.configs != meta.configs) {
            for p in local {
                if let Some(part) = self.partition(&meta.name, *p) {
                    part.log
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .set_config(config.clone());
                }
            }
        }
        if registry.topics.get(&meta.name) != Some(&meta) {
            registry.topics.insert(meta.name.clone(), meta);
            registry.save()?;
        }
        Ok(())
    }

    fn open_partitions(
        &self,
        topic: &TopicMeta,
        range: std::ops::Range<i32>,
        config: &LogConfig,
    ) -> Result<(), TopicError> {
        let mut opened = Vec::new();
        for p in range {
            let partition = Partition::open(
                partition_dir(&self.config.data_dir, topic.id, p),
                config.clone(),
                false,
                self.config.cluster.is_none(),
                self.appended.clone(),
            )?;
            opened.push(((topic.name.clone(), p), Arc::new(partition)));
        }
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(opened);
        Ok(())
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, TopicError> {
        let mut registry = self.registry();
        let meta = registry
            .topics
            .remove(name)
            .ok_or_else(|| TopicError::NotFound(name.to_owned()))?;
        registry.save()?;
        self.close_and_remove(&meta);
        tracing::info!(topic = name, "deleted topic");
        Ok(meta)
    }

    /// Closes one partition this broker no longer holds a replica of and removes its log.
    pub fn drop_partition(&self, topic: &TopicMeta, partition: i32) {
        let removed = self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(topic.name.clone(), partition));
        if removed.is_none() {
            return;
        }
        drop(removed);
        let dir = partition_dir(&self.config.data_dir, topic.id, partition);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(topic = %topic.name, partition, "moved away: removed the replica's log")
            }
            Err(e) => {
                tracing::warn!(topic = %topic.name, partition, error = %e, "could not remove a moved replica's log")
            }
        }
    }

    /// Closes a topic's partitions and removes their logs (a failure to remove is only
    /// logged: the next start removes what is left, as the registry no longer names it).
    fn close_and_remove(&self, meta: &TopicMeta) {
        let removed: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            (0..meta.partitions)
                .filter_map(|p| map.remove(&(meta.name.clone(), p)))
                .collect()
        };
        drop(removed);
        if let Err(e) = remove_topic(&self.config.data_dir, meta.id) {
            tracing::warn!(topic = %meta.name, error = %e, "could not remove a deleted topic's logs");
        }
        self.groups.forget_topic(&meta.name);
    }

    /// Raises a topic's partition count to `count`.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut registry = self.registry();
        let meta = registry
            .topics
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::NotFound(name.to_owned()))?;
        if count <= meta.partitions || count > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions(format!(
                "topic {name:?} has {} partitions; the new count must be larger and at most {MAX_PARTITIONS}, got {count}",
                meta.partitions
            )));
        }
        if validate_only {
            return Ok(());
        }
        let config = self.config.log.with_overrides(&meta.configs)?;
        self.open_partitions(&meta, meta.partitions..count, &config)?;
        registry.topics.insert(
            name.to_owned(),
            TopicMeta {
                partitions: count,
                ..meta
            },
        );
        registry.save()?;
        Ok(())
    }

    /// Replaces a topic's config overrides (applied to its partitions at once), or only
    /// checks them with `validate_only`.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let log_config = self.config.log.with_overrides(&configs)?;
        let mut registry = self.registry();
        let meta = registry
            .topics
            .get_mut(name)
            .ok_or_else(|| TopicError::NotFound(name.to_owned()))?;
        if validate_only {
            return Ok(());
        }
        meta.configs = configs;
        let partitions = meta.partitions;
        registry.save()?;
        for p in 0..partitions {
            if let Some(part) = self.partition(name, p) {
                part.log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set_config(log_config.clone());
            }
        }
        Ok(())
    }

    /// A new producer id for InitProducerId.
    pub fn allocate_producer_id(&self) -> std::io::Result<i64> {
        self.producer_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allocate()
    }

    /// Enforces retention on every partition; returns the segments deleted.
    pub fn enforce_retention(&self) -> usize {
        self.all_partitions()
            .iter()
            .map(|p| {
                let mut log = p.log.lock().unwrap_or_else(|e| e.into_inner());
                log.enforce_retention().unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "retention failed");
                    0
                })
            })
            .sum()
    }

    /// Flushes partitions whose `flush.ms` has passed; the fsync runs with the log
    /// released, so producers and fetches of the partition are not held up by it.
    pub fn flush_due(&self) {
        for p in self.all_partitions() {
            let pending = p
                .log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .begin_due_flush();
            let failed = match pending {
                Ok(Some(flush)) => flush.sync().err().map(crate::log::LogError::Io),
                Ok(None) => None,
                Err(e) => Some(e),
            };
            if let Some(e) = failed {
                tracing::error!(error = %e, "flush failed");
                p.log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .flush_failed();
            }
        }
    }

    /// Writes every partition's high watermark that moved.
    pub fn persist_high_watermarks(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.persist_high_watermark() {
                tracing::warn!(error = %e, "cannot write a high watermark");
            }
        }
    }

    /// Flushes everything and marks the stop clean.
    pub fn close(&self) -> std::io::Result<()> {
        for p in self.all_partitions() {
            let mut log = p.log.lock().unwrap_or_else(|e| e.into_inner());
            log.flush().map_err(std::io::Error::other)?;
            p.persist_high_watermark()?;
        }
        write_atomic(&self.config.data_dir.join(CLEAN_SHUTDOWN), b"")
    }
}
