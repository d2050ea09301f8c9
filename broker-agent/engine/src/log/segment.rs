//! One segment of a partition log: a file of record batches starting at `base_offset`,
//! with its sparse offset and time indexes. Recovery scans the file, checks every batch's
//! CRC and cuts a torn tail.

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use bytes::{Bytes, BytesMut};

use super::{
    batch::{BatchHeader, HEADER_LEN},
    index::{Index, OffsetEntry, TimeEntry},
};

/// File name stem of a segment: the base offset, zero-padded to 20 digits as Kafka does.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

pub struct Segment {
    pub base_offset: i64,
    /// The offset after the last batch (the base offset when empty).
    pub next_offset: i64,
    /// Largest record timestamp in the segment; -1 when empty.
    pub max_timestamp: i64,
    /// Largest timestamp of the first batch: time-based roll counts from it.
    pub first_timestamp: Option<i64>,
    /// When this process opened the segment (ms since the epoch): time-based roll counts
    /// from it when the batches carry no timestamps.
    pub opened_ms: i64,
    path: PathBuf,
    file: File,
    size: u64,
    offsets: Index<OffsetEntry>,
    times: Index<TimeEntry>,
    bytes_since_entry: u64,
    index_interval: u64,
}

impl Segment {
    /// Opens or creates the segment `base_offset` in `dir`. When `recover` is set (after an
    /// unclean stop) every batch's CRC is checked, a torn or corrupt tail is cut, and the
    /// indexes are rebuilt; otherwise the indexes are trusted and only the tail after the
    /// last index entry is read.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: u64,
        recover: bool,
    ) -> io::Result<Segment> {
        let stem = file_stem(base_offset);
        let path = dir.join(format!("{stem}.log"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        let size = file.metadata()?.len();
        let mut seg = Segment {
            base_offset,
            next_offset: base_offset,
            max_timestamp: -1,
            first_timestamp: None,
            opened_ms: super::now_ms(),
            offsets: Index::open(&dir.join(format!("{stem}.index")))?,
            times: Index::open(&dir.join(format!("{stem}.timeindex")))?,
            path,
            file,
            size,
            bytes_since_entry: 0,
            index_interval,
        };
        let trusted = !recover && seg.indexes_look_sane();
        if !trusted {
            seg.offsets.clear()?;
            seg.times.clear()?;
        }
        let start = if trusted {
            seg.offsets
                .entries
                .last()
                .map_or(0, |e| u64::from(e.position))
        } else {
            0
        };
        seg.max_timestamp = seg.times.last_timestamp().unwrap_or(-1);
        seg.scan_from(start, !trusted)?;
        Ok(seg)
    }

    fn indexes_look_sane(&self) -> bool {
        let last_pos = self
            .offsets
            .entries
            .last()
            .map_or(0, |e| u64::from(e.position));
        (self.size == 0 || !self.offsets.entries.is_empty()) && last_pos < self.size.max(1)
    }

    /// Reads batches from `pos` to the end, updating offsets and timestamps; with `verify`,
    /// checks CRCs, indexes what it reads, and truncates at the first bad batch.
    fn scan_from(&mut self, mut pos: u64, verify: bool) -> io::Result<()> {
        while pos < self.size {
            let header = if verify {
                self.read_verified(pos)
            } else {
                self.read_header(pos).ok()
            };
            let Some(h) = header else {
                tracing::warn!(segment = %self.path.display(), position = pos, size = self.size,
                    "truncating a torn or corrupt tail");
                self.file.set_len(pos)?;
                self.size = pos;
                break;
            };
            if verify {
                self.index_batch(&h, pos);
            } else {
                self.note_timestamps(&h);
            }
            self.next_offset = h.next_offset();
            pos += h.size as u64;
        }
        if verify {
            self.flush(true)?;
        }
        Ok(())
    }

    fn read_verified(&self, pos: u64) -> Option<BatchHeader> {
        let size = self.read_header(pos).ok()?.size;
        let mut buf = vec![0u8; size];
        self.file.read_exact_at(&mut buf, pos).ok()?;
        BatchHeader::validate(&buf).ok()
    }

    /// The header of the batch at `pos`, checked to fit in the file.
    fn read_header(&self, pos: u64) -> io::Result<BatchHeader> {
        let mut buf = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut buf, pos)?;
        let h = BatchHeader::parse_prefix(&buf).map_err(io::Error::other)?;
        if pos + h.size as u64 > self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "batch runs past the end of the segment",
            ));
        }
        Ok(h)
    }

    fn note_timestamps(&mut self, h: &BatchHeader) {
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(h.max_timestamp);
        }
        self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
    }

    fn relative(&self, offset: i64) -> u32 {
        u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX)
    }

    fn index_batch(&mut self, h: &BatchHeader, pos: u64) {
        let first = self.offsets.entries.is_empty();
        if first || self.bytes_since_entry >= self.index_interval {
            self.offsets.push(OffsetEntry {
                relative_offset: self.relative(h.base_offset),
                position: pos as u32,
            });
            if h.max_timestamp > self.times.last_timestamp().unwrap_or(i64::MIN) {
                self.times.push(TimeEntry {
                    timestamp: h.max_timestamp,
                    relative_offset: self.relative(h.last_offset()),
                });
            }
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += h.size as u64;
        self.note_timestamps(h);
    }

    /// Every batch header of the segment, in order (for rebuilding producer state).
    pub fn headers(&self) -> io::Result<Vec<BatchHeader>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.size {
            let h = self.read_header(pos)?;
            pos += h.size as u64;
            out.push(h);
        }
        Ok(out)
    }

    /// Bytes in the segment file.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Appends one batch whose offsets were already assigned.
    pub fn append(&mut self, batch: &[u8], h: &BatchHeader) -> io::Result<()> {
        let pos = self.size;
        self.file.write_all_at(batch, pos)?;
        self.size += batch.len() as u64;
        self.index_batch(h, pos);
        self.next_offset = h.next_offset();
        Ok(())
    }

    /// Writes index entries and, with `sync`, forces data and indexes to disk.
    pub fn flush(&mut self, sync: bool) -> io::Result<()> {
        if sync {
            self.file.sync_data()?;
        }
        self.offsets.flush(sync)?;
        self.times.flush(sync)
    }

    /// Handles to the data and index files, their buffered entries written, for an fsync
    /// done without holding the segment (see `PartitionLog::begin_due_flush`).
    pub fn sync_handles(&mut self) -> io::Result<[File; 3]> {
        Ok([
            self.file.try_clone()?,
            self.offsets.write_out()?,
            self.times.write_out()?,
        ])
    }

    /// Batches from the one holding `offset`, up to `max_bytes` (at least one whole batch,
    /// so a consumer is never stuck behind a batch larger than its limit).
    pub fn read(&self, offset: i64, max_bytes: usize) -> io::Result<Option<Bytes>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let mut pos = self
            .offsets
            .floor(self.relative(offset.max(self.base_offset)))
            .map_or(0, |e| u64::from(e.position));
        let mut first = None;
        while pos < self.size {
            let h = self.read_header(pos)?;
            if h.last_offset() >= offset {
                first = Some(pos);
                break;
            }
            pos += h.size as u64;
        }
        let Some(start) = first else { return Ok(None) };
        let mut end = start;
        while end < self.size {
            let h = self.read_header(end)?;
            if end > start && (end - start) as usize + h.size > max_bytes {
                break;
            }
            end += h.size as u64;
        }
        let mut buf = BytesMut::zeroed((end - start) as usize);
        self.file.read_exact_at(&mut buf, start)?;
        Ok(Some(buf.freeze()))
    }

    /// The first batch holding a record at or after `timestamp` (the caller decodes its
    /// records for the exact offset).
    pub fn batch_at_time(&self, timestamp: i64) -> io::Result<Option<Bytes>> {
        let start_rel = self
            .times
            .floor_below(timestamp)
            .map_or(0, |e| e.relative_offset);
        let mut pos = self
            .offsets
            .floor(start_rel)
            .map_or(0, |e| u64::from(e.position));
        while pos < self.size {
            let h = self.read_header(pos)?;
            if h.max_timestamp >= timestamp {
                let mut buf = BytesMut::zeroed(h.size);
                self.file.read_exact_at(&mut buf, pos)?;
                return Ok(Some(buf.freeze()));
            }
            pos += h.size as u64;
        }
        Ok(None)
    }

    /// Cuts the segment at `offset`, which must be the base offset of one of its batches
    /// or its end: the file, the indexes and the timestamps then describe only what is left.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        if offset >= self.next_offset {
            return Ok(());
        }
        let rel = self.relative(offset.max(self.base_offset));
        let mut pos = self.offsets.floor(rel).map_or(0, |e| u64::from(e.position));
        while pos < self.size {
            let h = self.read_header(pos)?;
            if h.base_offset >= offset {
                break;
            }
            pos += h.size as u64;
        }
        self.file.set_len(pos)?;
        self.size = pos;
        self.next_offset = offset.max(self.base_offset);
        let keep = self
            .offsets
            .entries
            .partition_point(|e| e.relative_offset < rel);
        self.offsets.truncate(keep)?;
        let keep = self
            .times
            .entries
            .partition_point(|e| e.relative_offset < rel);
        self.times.truncate(keep)?;
        self.max_timestamp = -1;
        self.first_timestamp = None;
        for h in self.headers()? {
            self.note_timestamps(&h);
        }
        self.bytes_since_entry = self.index_interval;
        self.flush(true)
    }

    /// Deletes the segment's files.
    pub fn remove(self) -> io::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)?;
        self.offsets.remove()?;
        self.times.remove()
    }
}
