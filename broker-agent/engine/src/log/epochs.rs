//! The leader-epoch cache of a partition log: for every leader epoch that appended to
//! the log, the offset of its first record (Kafka's `leader-epoch-checkpoint`). It answers
//! OffsetForLeaderEpoch — where did epoch E end? — so a follower can cut records a former
//! leader wrote that the cluster never committed.

use std::{io, path::PathBuf};

use crate::fsutil::write_atomic;

const FILE: &str = "leader-epoch-checkpoint";

/// (epoch, start offset) pairs, both strictly increasing.
pub struct EpochCache {
    path: PathBuf,
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    /// Loads the cache of the log in `dir`, dropping entries at or past `log_end`.
    pub fn open(dir: &std::path::Path, log_end: i64) -> io::Result<EpochCache> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut entries: Vec<(i32, i64)> = text
            .lines()
            .filter_map(|l| {
                let (e, o) = l.split_once(' ')?;
                Some((e.parse().ok()?, o.parse().ok()?))
            })
            .collect();
        entries.retain(|(_, start)| *start < log_end);
        Ok(EpochCache { path, entries })
    }

    /// The newest epoch that wrote to the log.
    pub fn latest(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// Notes that `epoch` writes from `offset` on (no-op for an epoch already known).
    pub fn assign(&mut self, epoch: i32, offset: i64) -> io::Result<()> {
        if self.latest().is_some_and(|l| epoch <= l) {
            return Ok(());
        }
        self.entries.push((epoch, offset));
        self.save()
    }

    /// Where `epoch` ended: the largest known epoch not above it and the start of the next
    /// one (or `log_end` for the newest). `None` when the log knows no such epoch.
    pub fn end_of(&self, epoch: i32, log_end: i64) -> Option<(i32, i64)> {
        let i = self.entries.iter().rposition(|(e, _)| *e <= epoch)?;
        let end = self.entries.get(i + 1).map_or(log_end, |(_, start)| *start);
        Some((self.entries[i].0, end))
    }

    /// Forgets epochs that start at or after `offset` (the log was cut there).
    pub fn truncate_from(&mut self, offset: i64) -> io::Result<()> {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < offset);
        if self.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Forgets everything (the log restarts at a leader's log start).
    pub fn clear(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.save()
    }

    fn save(&self) -> io::Result<()> {
        let text: String = self
            .entries
            .iter()
            .map(|(e, o)| format!("{e} {o}\n"))
            .collect();
        write_atomic(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_end_where_the_next_one_starts_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = EpochCache::open(dir.path(), 0).expect("open");
        assert_eq!(c.end_of(0, 0), None);
        c.assign(0, 0).expect("assign");
        c.assign(0, 5).expect("same epoch is a no-op");
        c.assign(2, 10).expect("assign");
        c.assign(5, 20).expect("assign");
        assert_eq!(c.end_of(0, 30), Some((0, 10)));
        assert_eq!(c.end_of(1, 30), Some((0, 10)), "epoch 1 never wrote");
        assert_eq!(c.end_of(3, 30), Some((2, 20)));
        assert_eq!(
            c.end_of(9, 30),
            Some((5, 30)),
            "the newest ends at the log end"
        );
        let c = EpochCache::open(dir.path(), 15).expect("reopen");
        assert_eq!(c.latest(), Some(2), "epoch 5 started past the log end");
        let mut c = c;
        c.truncate_from(10).expect("truncate");
        assert_eq!(c.latest(), Some(0));
    }
}
