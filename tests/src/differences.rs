//! Where the engine differs from Apache Kafka on purpose, named once for every
//! differential test (the Java client scenarios, Kafka's CLI tools), each with its reason.

/// Topic configs Kafka reports that the engine neither lists nor accepts: it refuses to
/// set them (INVALID_CONFIG, naming the config) rather than accept one it would not
/// enforce. Compaction, tiered storage, replication throttles, preallocation, timestamp
/// bounds, compression levels and index sizing are not in the engine.
pub const UNHONOURED_TOPIC_CONFIGS: &[&str] = &[
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "segment.index.bytes",
    "segment.jitter.ms",
];

/// Topic configs whose default differs on purpose: (name, why).
pub const DIFFERENT_DEFAULTS: &[(&str, &str)] = &[(
    "flush.ms",
    "the engine fsyncs a partition within a second by default (flush.ms=1000) where Kafka \
     leaves it to the OS, so an acknowledged record on a single replica survives a power cut",
)];

/// Whether a described config named `name` is one of the deliberate differences.
pub fn config_differs(name: &str) -> bool {
    UNHONOURED_TOPIC_CONFIGS.contains(&name) || DIFFERENT_DEFAULTS.iter().any(|(n, _)| *n == name)
}
