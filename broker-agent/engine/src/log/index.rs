//! Sparse indexes of a segment, kept in memory and appended to a file beside it:
//! the offset index maps relative offsets to file positions, the time index maps
//! timestamps to relative offsets. Both can be rebuilt from the segment.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

/// One fixed-size entry of an index file.
pub trait Entry: Copy {
    const SIZE: usize;
    fn write(&self, out: &mut Vec<u8>);
    fn read(b: &[u8]) -> Self;
}

/// (relative offset, position in the segment file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// (largest timestamp so far, relative offset of the batch that had it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn read(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn read(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// An index: entries in memory, mirrored to an append-only file.
pub struct Index<E: Entry> {
    path: PathBuf,
    file: File,
    pub entries: Vec<E>,
    unwritten: Vec<u8>,
}

impl<E: Entry> Index<E> {
    /// Opens (or creates) the index file and loads its whole entries.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let entries = bytes.chunks_exact(E::SIZE).map(E::read).collect();
        Ok(Index {
            path: path.to_owned(),
            file,
            entries,
            unwritten: Vec::new(),
        })
    }

    pub fn push(&mut self, e: E) {
        e.write(&mut self.unwritten);
        self.entries.push(e);
    }

    /// Writes buffered entries to the file (and to disk when `sync`).
    pub fn flush(&mut self, sync: bool) -> io::Result<()> {
        if !self.unwritten.is_empty() {
            self.file.write_all(&self.unwritten)?;
            self.unwritten.clear();
        }
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Writes buffered entries to the file and hands back a handle to force it to disk
    /// later, without holding the index.
    pub fn write_out(&mut self) -> io::Result<File> {
        self.flush(false)?;
        self.file.try_clone()
    }

    /// Drops every entry and empties the file (before a rebuild).
    pub fn clear(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.unwritten.clear();
        self.file.set_len(0)
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) -> io::Result<()> {
        self.flush(false)?;
        self.entries.truncate(n);
        self.file.set_len((n * E::SIZE) as u64)
    }

    pub fn remove(self) -> io::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)
    }
}

impl Index<OffsetEntry> {
    /// The last entry at or before `relative_offset`.
    pub fn floor(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let i = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        i.checked_sub(1).map(|i| self.entries[i])
    }
}

impl Index<TimeEntry> {
    /// The last entry whose timestamp is below `timestamp`: every record before its offset
    /// is older than `timestamp`, so a search may start there.
    pub fn floor_below(&self, timestamp: i64) -> Option<TimeEntry> {
        let i = self.entries.partition_point(|e| e.timestamp < timestamp);
        i.checked_sub(1).map(|i| self.entries[i])
    }

    pub fn last_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|e| e.timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_lookups_find_their_floor() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("0.index");
        let mut idx: Index<OffsetEntry> = Index::open(&path).expect("open");
        for (o, p) in [(0, 0), (10, 4096), (25, 8200)] {
            idx.push(OffsetEntry {
                relative_offset: o,
                position: p,
            });
        }
        idx.flush(true).expect("flush");
        let idx: Index<OffsetEntry> = Index::open(&path).expect("reopen");
        assert_eq!(idx.entries.len(), 3);
        assert_eq!(idx.floor(9).map(|e| e.position), Some(0));
        assert_eq!(idx.floor(10).map(|e| e.position), Some(4096));
        assert_eq!(idx.floor(1000).map(|e| e.position), Some(8200));

        let tpath = dir.path().join("0.timeindex");
        let mut t: Index<TimeEntry> = Index::open(&tpath).expect("open");
        t.push(TimeEntry {
            timestamp: 100,
            relative_offset: 0,
        });
        t.push(TimeEntry {
            timestamp: 200,
            relative_offset: 7,
        });
        assert_eq!(t.floor_below(150).map(|e| e.relative_offset), Some(0));
        assert_eq!(t.floor_below(50), None);
        assert_eq!(t.floor_below(201).map(|e| e.relative_offset), Some(7));
    }
}
