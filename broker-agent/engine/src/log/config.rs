//! Per-topic log settings with Kafka's names, broker defaults, and validation of overrides.

use std::collections::BTreeMap;

/// The log settings of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a segment whose first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older (-1: keep forever).
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the partition is larger (-1: no limit).
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many records (1: every batch).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed data is this old.
    pub flush_ms: i64,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: i64,
    /// `index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: i64,
}

impl Default for LogConfig {
    /// Kafka's defaults, except `flush.ms` = 1000: without replicas a broker should not
    /// leave acknowledged data in the page cache indefinitely (bounded loss on power failure).
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: 1000,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
        }
    }
}

/// A topic config that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// Topic configs accepted and stored but enforced elsewhere (or later).
pub const PASSIVE_CONFIGS: &[&str] = &[
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "compression.type",
    "message.timestamp.type",
    "cleanup.policy",
];

impl LogConfig {
    /// Names of the configs this struct holds.
    pub const NAMES: &'static [&'static str] = &[
        "segment.bytes",
        "segment.ms",
        "retention.ms",
        "retention.bytes",
        "flush.messages",
        "flush.ms",
        "max.message.bytes",
        "index.interval.bytes",
    ];

    /// These settings with `overrides` applied; an unknown name or bad value is an error.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, ConfigError> {
        let mut c = self.clone();
        for (name, value) in overrides {
            c.set(name, value)?;
        }
        Ok(c)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |reason: &str| ConfigError {
            name: name.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let int = || {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| bad("not a whole number"))
        };
        let at_least = |min: i64| {
            let v = int()?;
            if v < min {
                Err(bad(&format!("must be at least {min}")))
            } else {
                Ok(v)
            }
        };
        match name {
            "segment.bytes" => self.segment_bytes = at_least(14)? as u64,
            "segment.ms" => self.segment_ms = at_least(1)?,
            "retention.ms" => self.retention_ms = at_least(-1)?,
            "retention.bytes" => self.retention_bytes = at_least(-1)?,
            "flush.messages" => self.flush_messages = at_least(1)?,
            "flush.ms" => self.flush_ms = at_least(0)?,
            "max.message.bytes" => self.max_message_bytes = at_least(0)?,
            "index.interval.bytes" => self.index_interval_bytes = at_least(0)?,
            "cleanup.policy" if value != "delete" => {
                return Err(bad("only \"delete\" is supported"))
            }
            "message.timestamp.type" if value != "CreateTime" => {
                return Err(bad("only CreateTime is supported"))
            }
            "compression.type"
                if ![
                    "producer",
                    "none",
                    "gzip",
                    "snappy",
                    "lz4",
                    "zstd",
                    "uncompressed",
                ]
                .contains(&value) =>
            {
                return Err(bad(
                    "expected producer, uncompressed, gzip, snappy, lz4 or zstd",
                ))
            }
            "min.insync.replicas" => {
                at_least(1)?;
            }
            "unclean.leader.election.enable" if value != "true" && value != "false" => {
                return Err(bad("expected true or false"))
            }
            other if PASSIVE_CONFIGS.contains(&other) => {}
            _ => return Err(bad("unknown topic config")),
        }
        Ok(())
    }

    /// The value of `name` as Kafka would describe it.
    pub fn value_of(&self, name: &str) -> Option<String> {
        Some(match name {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_bad_ones_name_the_config() {
        let o: BTreeMap<String, String> = [
            ("retention.ms", "60000"),
            ("flush.messages", "1"),
            ("cleanup.policy", "delete"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = LogConfig::default().with_overrides(&o).expect("valid");
        assert_eq!((c.retention_ms, c.flush_messages), (60_000, 1));
        for (k, v) in [
            ("retention.ms", "soon"),
            ("segment.bytes", "1"),
            ("cleanup.policy", "compact"),
            ("colour", "blue"),
        ] {
            let o = BTreeMap::from([(k.to_owned(), v.to_owned())]);
            let e = LogConfig::default().with_overrides(&o).expect_err(k);
            assert_eq!(e.name, k);
        }
    }
}
