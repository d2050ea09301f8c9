//! Where partition logs live on the data volume: `logs/<topic id>/<partition>`.
//!
//! Logs are keyed by topic id, not by name. A topic deleted and created again under the
//! same name — perhaps while this broker was down and missed the deletion — is a new
//! topic with a new id, so its partitions open new, empty directories and the old
//! topic's records can never come back.

use std::{
    collections::HashSet,
    io,
    path::{Path, PathBuf},
};

use uuid::Uuid;

use crate::topics::TopicMeta;

/// The directory under the data dir that holds every topic's logs.
pub const LOGS_DIR: &str = "logs";

/// The directory of one topic's partition logs.
pub fn topic_dir(data_dir: &Path, topic_id: Uuid) -> PathBuf {
    data_dir.join(LOGS_DIR).join(topic_id.simple().to_string())
}

/// The directory of one partition's log.
pub fn partition_dir(data_dir: &Path, topic_id: Uuid, partition: i32) -> PathBuf {
    topic_dir(data_dir, topic_id).join(partition.to_string())
}

/// The log directory of partition `partition` of the topic now called `topic`, as the
/// data dir's topic registry (`meta/topics.json`) names it; None when there is no such
/// topic. For tools and tests that look at a stopped or running broker's files.
pub fn find_partition_dir(
    data_dir: &Path,
    topic: &str,
    partition: i32,
) -> io::Result<Option<PathBuf>> {
    let registry = crate::topics::TopicRegistry::load(&data_dir.join("meta/topics.json"))?;
    Ok(registry
        .topics
        .get(topic)
        .map(|t| partition_dir(data_dir, t.id, partition)))
}

/// Moves logs kept in the layout before topic ids (`<topic>-<partition>` directly in the
/// data dir) to their place under `logs/`. Such logs belong to the topic the registry
/// names, since that layout had one topic per name. Returns how many moved.
pub fn adopt_legacy_layout(data_dir: &Path, topics: &[TopicMeta]) -> io::Result<usize> {
    let mut moved = 0;
    for t in topics {
        for p in 0..t.partitions {
            let legacy = data_dir.join(format!("{}-{p}", t.name));
            let current = partition_dir(data_dir, t.id, p);
            if legacy.is_dir() && !current.exists() {
                std::fs::create_dir_all(topic_dir(data_dir, t.id))?;
                std::fs::rename(&legacy, &current)?;
                moved += 1;
            }
        }
    }
    Ok(moved)
}

/// Removes the log directories of topics that are not in `live`: what a deletion left
/// behind when the broker stopped in the middle of it. Returns the removed directories.
pub fn remove_strays(data_dir: &Path, live: &HashSet<Uuid>) -> io::Result<Vec<PathBuf>> {
    let logs = data_dir.join(LOGS_DIR);
    let entries = match std::fs::read_dir(&logs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let stray = match name.to_str().and_then(|n| Uuid::try_parse(n).ok()) {
            Some(id) => !live.contains(&id),
            // Not a topic id: not ours to judge, leave it.
            None => false,
        };
        if stray && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Removes one topic's logs; a topic that has none here is fine.
pub fn remove_topic(data_dir: &Path, topic_id: Uuid) -> io::Result<()> {
    match std::fs::remove_dir_all(topic_dir(data_dir, topic_id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn topic(name: &str, partitions: i32) -> TopicMeta {
        TopicMeta {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn legacy_logs_move_under_their_topic_id() {
        let dir = tempfile::tempdir().expect("dir");
        let orders = topic("orders-eu", 2);
        for p in 0..2 {
            let legacy = dir.path().join(format!("orders-eu-{p}"));
            std::fs::create_dir_all(&legacy).expect("legacy");
            std::fs::write(legacy.join("00000000000000000000.log"), b"x").expect("segment");
        }
        // Not a partition of a registered topic: left alone.
        std::fs::create_dir_all(dir.path().join("meta")).expect("meta");
        assert_eq!(
            adopt_legacy_layout(dir.path(), std::slice::from_ref(&orders)).expect("moved"),
            2
        );
        for p in 0..2 {
            let moved = partition_dir(dir.path(), orders.id, p);
            assert!(moved.join("00000000000000000000.log").is_file(), "{p}");
            assert!(!dir.path().join(format!("orders-eu-{p}")).exists());
        }
        assert!(dir.path().join("meta").is_dir());
        assert_eq!(
            adopt_legacy_layout(dir.path(), &[orders]).expect("again"),
            0
        );
    }

    #[test]
    fn only_logs_of_unknown_topic_ids_are_strays() {
        let dir = tempfile::tempdir().expect("dir");
        let (kept, gone) = (Uuid::new_v4(), Uuid::new_v4());
        for id in [kept, gone] {
            std::fs::create_dir_all(partition_dir(dir.path(), id, 0)).expect("dir");
        }
        std::fs::create_dir_all(dir.path().join(LOGS_DIR).join("lost+found")).expect("other");
        let removed = remove_strays(dir.path(), &HashSet::from([kept])).expect("strays");
        assert_eq!(removed, vec![topic_dir(dir.path(), gone)]);
        assert!(partition_dir(dir.path(), kept, 0).is_dir());
        assert!(dir.path().join(LOGS_DIR).join("lost+found").is_dir());
        remove_topic(dir.path(), kept).expect("remove");
        remove_topic(dir.path(), kept).expect("removing twice is fine");
        assert!(!topic_dir(dir.path(), kept).exists());
    }
}
