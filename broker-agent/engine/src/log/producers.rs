//! Idempotent-producer state of one partition: per producer id, its epoch and its last
//! five batches (sequence range and offsets), as Kafka keeps it. A retried batch is
//! recognised and answered with its original offsets; a gap in sequences or an old epoch
//! is refused. As Kafka does, the state is snapshotted at every segment roll
//! (`<offset>.snapshot`, the state of every batch below that offset), and rebuilt at start
//! from the latest snapshot plus the batch headers of the segments after it, so a retry is
//! still recognised after a roll and a restart.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::batch::BatchHeader;

/// The file name suffix of producer-state snapshots.
const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Snapshots kept per partition (older ones are never needed to rebuild).
const SNAPSHOTS_KEPT: usize = 2;

/// Batches remembered per producer (Kafka's max.in.flight for idempotence).
const REMEMBERED: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Producer {
    epoch: i16,
    recent: VecDeque<Entry>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Append it.
    Append,
    /// Already stored: answer with these offsets, store nothing.
    Duplicate { base_offset: i64, last_offset: i64 },
}

/// Why a batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("sequence {got} from producer {producer} does not follow {expected}")]
    OutOfOrder {
        producer: i64,
        expected: i32,
        got: i32,
    },
    #[error("producer {producer} epoch {got} is older than the current epoch {current}")]
    Fenced {
        producer: i64,
        got: i16,
        current: i16,
    },
}

/// Producer states by producer id.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// The offsets of the snapshots in `dir`, ascending.
fn snapshot_offsets(dir: &Path) -> std::io::Result<Vec<i64>> {
    let mut offsets: Vec<i64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(SNAPSHOT_SUFFIX)?
                .parse()
                .ok()
        })
        .collect();
    offsets.sort_unstable();
    Ok(offsets)
}

impl ProducerStates {
    /// Writes the state of every batch below `offset` (taken at a roll to a segment that
    /// starts there), keeping only the newest snapshots.
    pub fn snapshot(&self, dir: &Path, offset: i64) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&snapshot_path(dir, offset), &json)?;
        let offsets = snapshot_offsets(dir)?;
        for old in offsets.iter().rev().skip(SNAPSHOTS_KEPT) {
            std::fs::remove_file(snapshot_path(dir, *old))?;
        }
        Ok(())
    }

    /// The newest readable snapshot at or below `at_most`: its offset and state.
    pub fn latest_snapshot(dir: &Path, at_most: i64) -> std::io::Result<Option<(i64, Self)>> {
        for offset in snapshot_offsets(dir)?.into_iter().rev() {
            if offset > at_most {
                continue;
            }
            let read = std::fs::read(snapshot_path(dir, offset))?;
            match serde_json::from_slice(&read) {
                Ok(state) => return Ok(Some((offset, state))),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), offset, error = %e, "ignoring a damaged producer snapshot")
                }
            }
        }
        Ok(None)
    }

    /// Removes the snapshots above `offset` (the log was cut back there) or, with
    /// `i64::MIN`, all of them.
    pub fn remove_snapshots_above(dir: &Path, offset: i64) -> std::io::Result<()> {
        for o in snapshot_offsets(dir)?.into_iter().filter(|o| *o > offset) {
            std::fs::remove_file(snapshot_path(dir, o))?;
        }
        Ok(())
    }
}

fn last_seq(h: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX, as Kafka's do.
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1))
        as i32
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStates {
    /// Checks an idempotent batch (producer id >= 0) before it is appended.
    pub fn check(&self, h: &BatchHeader) -> Result<Check, SequenceError> {
        let Some(p) = self.producers.get(&h.producer_id) else {
            return Ok(Check::Append);
        };
        if h.producer_epoch < p.epoch {
            return Err(SequenceError::Fenced {
                producer: h.producer_id,
                got: h.producer_epoch,
                current: p.epoch,
            });
        }
        if h.producer_epoch > p.epoch {
            return if h.base_sequence == 0 {
                Ok(Check::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    producer: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                })
            };
        }
        let (first, last) = (h.base_sequence, last_seq(h));
        if let Some(e) = p
            .recent
            .iter()
            .find(|e| e.first_seq == first && e.last_seq == last)
        {
            return Ok(Check::Duplicate {
                base_offset: e.base_offset,
                last_offset: e.last_offset,
            });
        }
        let expected = p.recent.back().map_or(first, |e| next_seq(e.last_seq));
        if first != expected {
            return Err(SequenceError::OutOfOrder {
                producer: h.producer_id,
                expected,
                got: first,
            });
        }
        Ok(Check::Append)
    }

    /// Records a batch that was appended (with its assigned offsets).
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let p = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch > p.epoch {
            p.epoch = h.producer_epoch;
            p.recent.clear();
        }
        p.recent.push_back(Entry {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        if p.recent.len() > REMEMBERED {
            p.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            size: 100,
            leader_epoch: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn retries_are_recognised_gaps_and_old_epochs_refused() {
        let mut s = ProducerStates::default();
        for (i, seq) in [0, 3, 6].into_iter().enumerate() {
            let b = batch(7, 0, seq, 3, i as i64 * 3);
            assert_eq!(s.check(&b), Ok(Check::Append));
            s.record(&b);
        }
        // The second batch again (a retry after a lost response).
        assert_eq!(
            s.check(&batch(7, 0, 3, 3, 99)),
            Ok(Check::Duplicate {
                base_offset: 3,
                last_offset: 5
            })
        );
        assert_eq!(
            s.check(&batch(7, 0, 12, 1, 99)),
            Err(SequenceError::OutOfOrder {
                producer: 7,
                expected: 9,
                got: 12
            })
        );
        assert_eq!(s.check(&batch(7, 0, 9, 1, 9)), Ok(Check::Append));
        // A new epoch starts at 0; the old epoch is fenced afterwards.
        assert!(s.check(&batch(7, 1, 5, 1, 10)).is_err());
        s.record(&batch(7, 1, 0, 1, 10));
        assert_eq!(
            s.check(&batch(7, 0, 9, 1, 11)),
            Err(SequenceError::Fenced {
                producer: 7,
                got: 0,
                current: 1
            })
        );
        // Unknown producers start anywhere (their state may have been retained away).
        assert_eq!(s.check(&batch(8, 0, 40, 1, 11)), Ok(Check::Append));
        // Sequences wrap.
        let mut w = ProducerStates::default();
        w.record(&batch(9, 0, i32::MAX - 1, 2, 0));
        assert_eq!(w.check(&batch(9, 0, 0, 1, 2)), Ok(Check::Append));
    }
}
