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

/// How the engine's advertised versions of an API fall short of Kafka's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiGap {
    /// The engine does not serve the API.
    Absent,
    /// The engine serves Kafka's lowest version up to this one.
    UpTo(i16),
    /// Neither of the above: never a named gap, only found.
    Unexplained,
}

/// The APIs the engine serves less of than Kafka 4.1 does, as `kafka-broker-api-versions`
/// names them: (API, the gap, why).
pub const API_GAPS: &[(&str, ApiGap, &str)] = &[
    ("AddOffsetsToTxn(25)", ApiGap::Absent, TRANSACTIONS),
    ("AddPartitionsToTxn(24)", ApiGap::Absent, TRANSACTIONS),
    ("EndTxn(26)", ApiGap::Absent, TRANSACTIONS),
    ("TxnOffsetCommit(28)", ApiGap::Absent, TRANSACTIONS),
    ("ListTransactions(66)", ApiGap::Absent, TRANSACTIONS),
    (
        "ConsumerGroupHeartbeat(68)",
        ApiGap::Absent,
        CONSUMER_PROTOCOL,
    ),
    (
        "ConsumerGroupDescribe(69)",
        ApiGap::Absent,
        CONSUMER_PROTOCOL,
    ),
    (
        "CreateDelegationToken(38)",
        ApiGap::Absent,
        DELEGATION_TOKENS,
    ),
    (
        "DescribeDelegationToken(41)",
        ApiGap::Absent,
        DELEGATION_TOKENS,
    ),
    (
        "ExpireDelegationToken(40)",
        ApiGap::Absent,
        DELEGATION_TOKENS,
    ),
    (
        "RenewDelegationToken(39)",
        ApiGap::Absent,
        DELEGATION_TOKENS,
    ),
    (
        "AlterReplicaLogDirs(34)",
        ApiGap::Absent,
        "a broker has one data directory, so there is no other directory to move a replica to",
    ),
    (
        "UpdateFeatures(57)",
        ApiGap::Absent,
        "the engine has no feature levels to finalise: its metadata format is fixed",
    ),
    (
        "ListConfigResources(74)",
        ApiGap::Absent,
        "Kafka's tools use it to list client-metrics resources (KIP-714), which the engine \
         does not have",
    ),
];

const TRANSACTIONS: &str = "transactions are not in the engine yet: it refuses transactional \
    batches and coordinates no transactional id (FindCoordinator answers \
    COORDINATOR_NOT_AVAILABLE), so a transactional producer fails at its first call";
const CONSUMER_PROTOCOL: &str = "the KIP-848 consumer group protocol is not in the engine yet: \
    consumers use the classic protocol (group.protocol=classic, the Java client's default)";
const DELEGATION_TOKENS: &str = "delegation tokens are not offered: clients log in with the \
    SCRAM, mTLS or Kerberos credentials the control plane issues";

/// The named gap for `api`, with its reason.
pub fn api_gap(api: &str) -> Option<(ApiGap, &'static str)> {
    API_GAPS
        .iter()
        .find(|(name, _, _)| *name == api)
        .map(|(_, gap, why)| (*gap, *why))
}
