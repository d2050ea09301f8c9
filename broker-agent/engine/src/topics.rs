//! Topic metadata (names, ids, partition counts, config overrides), kept in
//! `meta/topics.json` on the data volume and replaced atomically on every change.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{fsutil::write_atomic, log::config::ConfigError};

/// Why a topic operation failed; each maps to a Kafka error code.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic {0:?} already exists")]
    AlreadyExists(String),
    #[error("topic {0:?} does not exist")]
    NotFound(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    #[error("storage failed: {0}")]
    Io(String),
    /// The metadata quorum refused or could not commit the change.
    #[error("{message}")]
    Refused { code: i16, message: String },
}

impl TopicError {
    pub fn code(&self) -> i16 {
        match self {
            TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
            TopicError::NotFound(_) => ResponseError::UnknownTopicOrPartition.code(),
            TopicError::InvalidName(_) => ResponseError::InvalidTopicException.code(),
            TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
            TopicError::InvalidReplicationFactor(_) => {
                ResponseError::InvalidReplicationFactor.code()
            }
            TopicError::InvalidConfig(_) => ResponseError::InvalidConfig.code(),
            TopicError::Io(_) => ResponseError::KafkaStorageError.code(),
            TopicError::Refused { code, .. } => *code,
        }
    }
}

impl From<std::io::Error> for TopicError {
    fn from(e: std::io::Error) -> Self {
        TopicError::Io(e.to_string())
    }
}

impl From<crate::log::LogError> for TopicError {
    fn from(e: crate::log::LogError) -> Self {
        TopicError::Io(e.to_string())
    }
}

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Overrides of the broker's log defaults, in Kafka's names.
    pub configs: BTreeMap<String, String>,
}

/// All topics of the broker.
pub struct TopicRegistry {
    path: PathBuf,
    pub topics: BTreeMap<String, TopicMeta>,
}

/// Longest topic name Kafka allows.
pub const MAX_TOPIC_NAME: usize = 249;

/// Checks a topic name the way Kafka does.
pub fn check_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("topic name {name:?} is not allowed"));
    }
    if name.len() > MAX_TOPIC_NAME {
        return Err(format!(
            "topic name is longer than {MAX_TOPIC_NAME} characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(format!(
            "topic name {name:?} contains {c:?}; use ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

impl TopicRegistry {
    pub fn load(path: &Path) -> std::io::Result<TopicRegistry> {
        let topics = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Vec<TopicMeta>>(&bytes)
                .map_err(|e| std::io::Error::other(format!("{} is damaged: {e}", path.display())))?
                .into_iter()
                .map(|t| (t.name.clone(), t))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(TopicRegistry {
            path: path.to_owned(),
            topics,
        })
    }

    pub fn save(&self) -> std::io::Result<()> {
        let list: Vec<&TopicMeta> = self.topics.values().collect();
        let json = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules_and_topics_persist() {
        assert!(check_topic_name("orders.v1_x-y").is_ok());
        for bad in ["", ".", "..", "a b", "a/b", "ü", &"x".repeat(250)] {
            assert!(check_topic_name(bad).is_err(), "{bad:?}");
        }
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("topics.json");
        let mut r = TopicRegistry::load(&path).expect("empty");
        let t = TopicMeta {
            name: "a".into(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs: BTreeMap::new(),
        };
        r.topics.insert("a".into(), t.clone());
        r.save().expect("save");
        assert_eq!(TopicRegistry::load(&path).expect("load").topics["a"], t);
    }
}
