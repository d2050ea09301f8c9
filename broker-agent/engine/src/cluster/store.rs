//! Durable storage of the metadata quorum, on the broker's volume under
//! `<data-dir>/__cluster_metadata/`: the Raft log (`log.jsonl`, one entry a line, synced
//! before an append is acknowledged), the vote and committed log id (replaced
//! atomically), and snapshots of the metadata image (`snapshot.json`). The state machine
//! applies committed commands to the [`ClusterImage`] and publishes every new image to
//! the broker through a watch channel.

// openraft's trait signatures fix these (large) error types.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    fmt::Debug,
    io::{Cursor, Write},
    ops::RangeBounds,
    path::{Path, PathBuf},
    sync::Arc,
};

use openraft::{
    storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot},
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::{watch, Mutex};

use super::{
    image::{ClusterImage, Outcome},
    TypeConfig,
};
use crate::fsutil::write_atomic;

type NodeId = u64;
type StoreError = StorageError<NodeId>;

fn io_error(e: impl std::error::Error + 'static) -> StoreError {
    StorageIOError::write(AnyError::new(&e)).into()
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io_error),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(io_error)?;
    write_atomic(path, &bytes).map_err(io_error)
}

/// The log entries, in memory and in `log.jsonl`.
#[derive(Debug, Default)]
struct LogData {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
}

/// The Raft log, vote and committed id.
#[derive(Clone, Debug)]
pub struct LogStore {
    dir: PathBuf,
    data: Arc<Mutex<LogData>>,
}

impl LogStore {
    pub fn open(dir: &Path) -> Result<LogStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let mut data = LogData {
            last_purged: read_json(&dir.join("purged.json"))?,
            ..LogData::default()
        };
        match std::fs::read_to_string(dir.join("log.jsonl")) {
            Ok(text) => {
                for line in text.lines() {
                    // A torn last line (a crash mid-append) was never acknowledged.
                    let Ok(entry) = serde_json::from_str::<Entry<TypeConfig>>(line) else {
                        break;
                    };
                    data.entries.insert(entry.log_id.index, entry);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
        Ok(LogStore {
            dir: dir.to_owned(),
            data: Arc::new(Mutex::new(data)),
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }

    /// Rewrites the whole log file from memory (after a truncation or purge).
    fn rewrite(&self, data: &LogData) -> Result<(), StoreError> {
        let mut text = Vec::new();
        for e in data.entries.values() {
            serde_json::to_writer(&mut text, e).map_err(io_error)?;
            text.push(b'\n');
        }
        write_atomic(&self.log_path(), &text).map_err(io_error)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        let data = self.data.lock().await;
        Ok(data.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StoreError> {
        let data = self.data.lock().await;
        let last = data.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: data.last_purged,
            last_log_id: last.or(data.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StoreError> {
        write_json(&self.dir.join("vote.json"), vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StoreError> {
        read_json(&self.dir.join("vote.json"))
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StoreError> {
        write_json(&self.dir.join("committed.json"), &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StoreError> {
        Ok(read_json::<Option<LogId<NodeId>>>(&self.dir.join("committed.json"))?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut data = self.data.lock().await;
        let mut text = Vec::new();
        let mut new = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut text, &e).map_err(io_error)?;
            text.push(b'\n');
            new.push(e);
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .and_then(|mut f| {
                f.write_all(&text)?;
                f.sync_data()
            });
        if written.is_ok() {
            for e in new {
                data.entries.insert(e.log_id.index, e);
            }
        }
        let result = written
            .as_ref()
            .map(|_| ())
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(result);
        written.map_err(io_error)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StoreError> {
        let mut data = self.data.lock().await;
        data.entries.split_off(&log_id.index);
        self.rewrite(&data)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StoreError> {
        let mut data = self.data.lock().await;
        write_json(&self.dir.join("purged.json"), &log_id)?;
        data.last_purged = Some(log_id);
        data.entries = data.entries.split_off(&(log_id.index + 1));
        self.rewrite(&data)
    }
}

/// A snapshot as stored and sent: its metadata and the image.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    image: ClusterImage,
}

#[derive(Debug, Default)]
struct MachineData {
    image: ClusterImage,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, openraft::BasicNode>,
}

/// Applies committed commands to the metadata image.
#[derive(Clone)]
pub struct StateMachine {
    dir: PathBuf,
    data: Arc<Mutex<MachineData>>,
    published: watch::Sender<Arc<ClusterImage>>,
}

impl StateMachine {
    /// Opens the state machine at its last snapshot (the log replays the rest).
    pub fn open(
        dir: &Path,
    ) -> Result<(StateMachine, watch::Receiver<Arc<ClusterImage>>), StoreError> {
        let mut data = MachineData::default();
        if let Some(s) = read_json::<StoredSnapshot>(&dir.join("snapshot.json"))? {
            data.image = s.image;
            data.last_applied = s.meta.last_log_id;
            data.membership = s.meta.last_membership;
        }
        let (published, receiver) = watch::channel(Arc::new(data.image.clone()));
        Ok((
            StateMachine {
                dir: dir.to_owned(),
                data: Arc::new(Mutex::new(data)),
                published,
            },
            receiver,
        ))
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot.json")
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StoreError> {
        let data = self.data.lock().await;
        let last = data.last_applied;
        let stored = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: last,
                last_membership: data.membership.clone(),
                snapshot_id: last
                    .map(|l| format!("{}-{}", l.leader_id, l.index))
                    .unwrap_or_default(),
            },
            image: data.image.clone(),
        };
        write_json(&self.snapshot_path(), &stored)?;
        let bytes = serde_json::to_vec(&stored).map_err(io_error)?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<NodeId>>,
            StoredMembership<NodeId, openraft::BasicNode>,
        ),
        StoreError,
    > {
        let data = self.data.lock().await;
        Ok((data.last_applied, data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StoreError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut data = self.data.lock().await;
        let mut outcomes = Vec::new();
        for e in entries {
            data.last_applied = Some(e.log_id);
            outcomes.push(match e.payload {
                EntryPayload::Blank => Outcome::Done,
                EntryPayload::Normal(command) => data.image.apply(&command),
                EntryPayload::Membership(m) => {
                    data.membership = StoredMembership::new(Some(e.log_id), m);
                    Outcome::Done
                }
            });
        }
        self.published.send_replace(Arc::new(data.image.clone()));
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StoreError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StoreError> {
        let stored: StoredSnapshot =
            serde_json::from_slice(snapshot.get_ref()).map_err(io_error)?;
        write_json(&self.snapshot_path(), &stored)?;
        let mut data = self.data.lock().await;
        data.image = stored.image;
        data.last_applied = meta.last_log_id;
        data.membership = meta.last_membership.clone();
        self.published.send_replace(Arc::new(data.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StoreError> {
        let Some(stored) = read_json::<StoredSnapshot>(&self.snapshot_path())? else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(&stored).map_err(io_error)?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
