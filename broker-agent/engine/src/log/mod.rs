//! Kafka-style partition logs: segment files of record batches with sparse offset and time
//! indexes, roll by size and time, retention by time and size, a flush policy, and crash
//! recovery (CRC scan of the active segment after an unclean stop).

pub mod batch;
pub mod config;
pub mod epochs;
pub mod index;
pub mod producers;
pub mod segment;

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use bytes::Bytes;

use self::{
    batch::{BatchError, BatchHeader},
    config::LogConfig,
    epochs::EpochCache,
    producers::{Check, ProducerStates, SequenceError},
    segment::Segment,
};

const LOG_START_FILE: &str = "log-start-offset";

/// What can go wrong with a partition log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("offset {requested} is outside the log [{start}, {end}]")]
    OffsetOutOfRange {
        requested: i64,
        start: i64,
        end: i64,
    },
    #[error("a record batch of {size} bytes exceeds max.message.bytes ({max})")]
    RecordTooLarge { size: usize, max: i64 },
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error("a replicated batch starts at offset {got}, but this log ends at {expected}")]
    ReplicaGap { expected: i64, got: i64 },
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
}

/// One partition's log on disk.
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    unflushed_records: u64,
    oldest_unflushed: Option<Instant>,
    producers: ProducerStates,
    epochs: EpochCache,
}

/// How long the active segment has waited to roll, as Kafka counts it: from its first
/// batch's timestamp to the incoming batch's (so data produced with old timestamps, as a
/// replay or a mirror does, does not roll a segment per batch), or, when batches carry no
/// timestamps, from when the segment was opened until now.
fn time_waited_for_roll(first_timestamp: Option<i64>, incoming: i64, opened_ms: i64) -> i64 {
    match first_timestamp {
        Some(first) if first >= 0 && incoming >= 0 => incoming - first,
        _ => now_ms() - opened_ms,
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl PartitionLog {
    /// Opens the log in `dir` (creating it). `recover` asks for a CRC scan of the active
    /// segment, after a stop that was not clean.
    pub fn open(dir: &Path, config: LogConfig, recover: bool) -> Result<PartitionLog, LogError> {
        std::fs::create_dir_all(dir)?;
        let mut bases: Vec<i64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".log"))
                    .and_then(|s| s.parse().ok())
            })
            .collect();
        bases.sort_unstable();
        if bases.is_empty() {
            bases.push(0);
        }
        let interval = config.index_interval_bytes.max(0) as u64;
        let mut segments = BTreeMap::new();
        let last = bases.len() - 1;
        for (i, base) in bases.into_iter().enumerate() {
            segments.insert(
                base,
                Segment::open(dir, base, interval, recover && i == last)?,
            );
        }
        let first_base = *segments.keys().next().unwrap_or(&0);
        let stored_start = std::fs::read_to_string(dir.join(LOG_START_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(first_base);
        let mut log = PartitionLog {
            dir: dir.to_owned(),
            config,
            segments,
            log_start_offset: 0,
            unflushed_records: 0,
            oldest_unflushed: None,
            producers: ProducerStates::default(),
            epochs: EpochCache::open(dir, i64::MAX)?,
        };
        log.log_start_offset = stored_start.clamp(first_base, log.log_end_offset());
        log.epochs.truncate_from(log.log_end_offset())?;
        log.rebuild_producers()?;
        Ok(log)
    }

    /// Producer states at the log end (after open or truncation): the newest snapshot at
    /// or below the active segment's base, then every batch from there on; with no
    /// snapshot (an older data dir), every batch of the log.
    fn rebuild_producers(&mut self) -> Result<(), LogError> {
        let active_base = self.segments.keys().next_back().copied().unwrap_or(0);
        let (from, states) = ProducerStates::latest_snapshot(&self.dir, active_base)?
            .unwrap_or((i64::MIN, ProducerStates::default()));
        self.producers = states;
        let first = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            for h in seg.headers()? {
                if h.base_offset >= from {
                    self.producers.record(&h);
                }
            }
        }
        Ok(())
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has a segment")
    }

    /// The offset the next record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Validates the batches of a produce request, assigns their offsets and the leader
    /// epoch, appends them, and applies the flush policy. Nothing is written unless every
    /// batch is valid.
    pub fn append(&mut self, records: &mut [u8], leader_epoch: i32) -> Result<Appended, LogError> {
        let parts = batch::split(records)?;
        if let Some((_, h)) = parts
            .iter()
            .find(|(_, h)| h.size as i64 > self.config.max_message_bytes)
        {
            return Err(LogError::RecordTooLarge {
                size: h.size,
                max: self.config.max_message_bytes,
            });
        }
        let (mut first_offset, mut last_offset) = (None, None);
        let mut next = self.log_end_offset();
        for (range, h) in parts {
            if h.is_transactional() {
                return Err(BatchError::Invalid(
                    "transactional batches are not supported by this broker",
                )
                .into());
            }
            if h.producer_id >= 0 {
                if let Check::Duplicate {
                    base_offset,
                    last_offset: last,
                } = self.producers.check(&h)?
                {
                    first_offset.get_or_insert(base_offset);
                    last_offset = Some(last);
                    continue;
                }
            }
            let bytes = &mut records[range];
            batch::set_base_offset(bytes, next);
            batch::set_leader_epoch(bytes, leader_epoch);
            let h = BatchHeader {
                base_offset: next,
                leader_epoch,
                ..h
            };
            self.epochs.assign(leader_epoch, next)?;
            self.maybe_roll(h.size as u64, h.max_timestamp)?;
            self.active_mut().append(bytes, &h)?;
            self.producers.record(&h);
            self.unflushed_records += h.records();
            self.oldest_unflushed.get_or_insert_with(Instant::now);
            first_offset.get_or_insert(next);
            last_offset = Some(h.last_offset());
            next = h.next_offset();
        }
        let base_offset = first_offset.unwrap_or(next);
        let last_offset = last_offset.unwrap_or(next - 1);
        self.apply_flush_policy()?;
        Ok(Appended {
            base_offset,
            last_offset,
            log_start_offset: self.log_start_offset,
        })
    }

    fn apply_flush_policy(&mut self) -> Result<(), LogError> {
        if self.unflushed_records >= self.config.flush_messages.max(1) as u64 {
            self.flush()
        } else {
            Ok(self.active_mut().flush(false)?)
        }
    }

    /// Appends batches copied from the partition leader, keeping their offsets and leader
    /// epochs. Batches this log already has are skipped; a gap is an error.
    pub fn append_replica(&mut self, records: &[u8]) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        for (range, h) in batch::split(records)? {
            let end = self.log_end_offset();
            if h.next_offset() <= end {
                continue;
            }
            if h.base_offset != end {
                return Err(LogError::ReplicaGap {
                    expected: end,
                    got: h.base_offset,
                });
            }
            self.epochs.assign(h.leader_epoch, h.base_offset)?;
            self.maybe_roll(h.size as u64, h.max_timestamp)?;
            self.active_mut().append(&records[range], &h)?;
            self.producers.record(&h);
            self.unflushed_records += h.records();
            self.oldest_unflushed.get_or_insert_with(Instant::now);
        }
        self.apply_flush_policy()
    }

    /// The newest leader epoch that wrote to this log.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest()
    }

    /// Where `epoch` ended in this log: (the largest epoch not above it, its end offset).
    pub fn epoch_end(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_of(epoch, self.log_end_offset())
    }

    /// Where leader epoch `epoch` began in this log: the end of the epochs before it.
    pub fn epoch_start(&self, epoch: i32) -> i64 {
        self.epoch_end(epoch - 1)
            .map_or(self.log_start_offset, |(_, end)| end)
    }

    /// Cuts every record at or after `offset` (a follower dropping what a former leader
    /// wrote but the cluster did not commit).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        if offset <= self.log_start_offset {
            return self.reset_to(offset.max(self.log_start_offset));
        }
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                seg.remove()?;
            }
        }
        self.active_mut().truncate_to(offset)?;
        self.epochs.truncate_from(offset)?;
        ProducerStates::remove_snapshots_above(&self.dir, offset)?;
        self.rebuild_producers()?;
        tracing::info!(dir = %self.dir.display(), offset, "truncated the log");
        Ok(())
    }

    /// Empties the log and starts it again at `offset` (a follower too far behind the
    /// leader's log start).
    pub fn reset_to(&mut self, offset: i64) -> Result<(), LogError> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        for base in bases {
            if let Some(seg) = self.segments.remove(&base) {
                seg.remove()?;
            }
        }
        let interval = self.config.index_interval_bytes.max(0) as u64;
        self.segments
            .insert(offset, Segment::open(&self.dir, offset, interval, false)?);
        self.log_start_offset = offset;
        self.write_log_start()?;
        self.epochs.clear()?;
        ProducerStates::remove_snapshots_above(&self.dir, i64::MIN)?;
        self.producers = ProducerStates::default();
        Ok(())
    }

    fn maybe_roll(&mut self, incoming: u64, timestamp: i64) -> Result<(), LogError> {
        let active = self.active();
        let too_big = active.size() + incoming > self.config.segment_bytes;
        let too_old = time_waited_for_roll(active.first_timestamp, timestamp, active.opened_ms)
            >= self.config.segment_ms;
        if active.is_empty() || !(too_big || too_old) {
            return Ok(());
        }
        let base = active.next_offset;
        self.active_mut().flush(true)?;
        self.producers.snapshot(&self.dir, base)?;
        let interval = self.config.index_interval_bytes.max(0) as u64;
        self.segments
            .insert(base, Segment::open(&self.dir, base, interval, false)?);
        Ok(())
    }

    /// Forces everything appended so far to disk.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.active_mut().flush(true)?;
        self.unflushed_records = 0;
        self.oldest_unflushed = None;
        Ok(())
    }

    /// When the oldest unflushed data has waited `flush.ms`: handles to force what was
    /// appended so far to disk once the caller has released the log, so appends and reads
    /// go on during the fsync (as in Kafka, whose flusher does not hold the log either).
    /// Data appended meanwhile waits for the next flush. If the fsync fails the caller
    /// calls `flush_failed`, which arms the next one at once.
    pub fn begin_due_flush(&mut self) -> Result<Option<PendingFlush>, LogError> {
        let due = self
            .oldest_unflushed
            .is_some_and(|t| t.elapsed().as_millis() as i64 >= self.config.flush_ms);
        if !due {
            return Ok(None);
        }
        let files = self.active_mut().sync_handles()?;
        self.unflushed_records = 0;
        self.oldest_unflushed = None;
        Ok(Some(PendingFlush { files }))
    }

    /// A flush begun with `begin_due_flush` failed: the data counts as unflushed again.
    pub fn flush_failed(&mut self) {
        let overdue = Instant::now()
            .checked_sub(Duration::from_millis(self.config.flush_ms.max(0) as u64))
            .unwrap_or_else(Instant::now);
        self.oldest_unflushed = Some(overdue);
    }

    /// Batches from `offset` up to `max_bytes` (at least one batch); `None` at the log end.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Option<Bytes>, LogError> {
        let (start, end) = (self.log_start_offset, self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start,
                end,
            });
        }
        for (_, seg) in self
            .segments
            .range(..=offset)
            .next_back()
            .into_iter()
            .chain(self.segments.range(offset + 1..))
        {
            if let Some(bytes) = seg.read(offset, max_bytes)? {
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }

    /// Like [`read`](Self::read), but only whole batches that end before `limit` (the high
    /// watermark, for consumers).
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        limit: i64,
    ) -> Result<Option<Bytes>, LogError> {
        if offset >= limit && offset <= self.log_end_offset() && offset >= self.log_start_offset {
            return Ok(None);
        }
        let Some(bytes) = self.read(offset, max_bytes)? else {
            return Ok(None);
        };
        let mut end = 0;
        while end < bytes.len() {
            let h = BatchHeader::parse_prefix(&bytes[end..])?;
            if h.next_offset() > limit {
                break;
            }
            end += h.size;
        }
        Ok((end > 0).then(|| bytes.slice(..end)))
    }

    /// The first batch holding a record with a timestamp at or after `timestamp`.
    pub fn batch_at_time(&self, timestamp: i64) -> Result<Option<Bytes>, LogError> {
        for seg in self
            .segments
            .values()
            .filter(|s| s.max_timestamp >= timestamp)
        {
            if let Some(b) = seg.batch_at_time(timestamp)? {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// Largest record timestamp and the partition's size, for ListOffsets and metrics.
    pub fn max_timestamp(&self) -> i64 {
        self.segments
            .values()
            .map(|s| s.max_timestamp)
            .max()
            .unwrap_or(-1)
    }

    /// Deletes whole segments past `retention.ms` or beyond `retention.bytes` (never the
    /// active one) and advances the log start offset. Returns how many were deleted.
    pub fn enforce_retention(&mut self) -> Result<usize, LogError> {
        let now = now_ms();
        let mut size = self.size_bytes() as i64;
        let mut doomed = Vec::new();
        let active_base = self.active().base_offset;
        for (base, seg) in &self.segments {
            if *base == active_base {
                break;
            }
            let expired = self.config.retention_ms >= 0
                && seg.max_timestamp >= 0
                && now - seg.max_timestamp > self.config.retention_ms;
            let oversize = self.config.retention_bytes >= 0
                && size - seg.size() as i64 >= self.config.retention_bytes;
            if !(expired || oversize) {
                break;
            }
            size -= seg.size() as i64;
            doomed.push(*base);
        }
        self.remove_segments(&doomed)
    }

    /// Advances the log start offset to `offset` (DeleteRecords), deleting segments wholly
    /// before it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let end = self.log_end_offset();
        if offset < 0 || offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end,
            });
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.write_log_start()?;
        }
        let active_base = self.active().base_offset;
        let doomed: Vec<i64> = self
            .segments
            .values()
            .filter(|s| s.base_offset != active_base && s.next_offset <= offset)
            .map(|s| s.base_offset)
            .collect();
        self.remove_segments(&doomed)?;
        Ok(self.log_start_offset)
    }

    fn remove_segments(&mut self, bases: &[i64]) -> Result<usize, LogError> {
        for base in bases {
            if let Some(seg) = self.segments.remove(base) {
                seg.remove()?;
            }
        }
        let first = self.segments.values().next().map_or(0, |s| s.base_offset);
        if first > self.log_start_offset {
            self.log_start_offset = first;
            self.write_log_start()?;
        }
        Ok(bases.len())
    }

    fn write_log_start(&self) -> io::Result<()> {
        crate::fsutil::write_atomic(
            &self.dir.join(LOG_START_FILE),
            self.log_start_offset.to_string().as_bytes(),
        )
    }

    /// Deletes the partition's directory.
    pub fn remove(self) -> io::Result<()> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(dir)
    }
}

/// An fsync of a log's active segment to run without holding the log.
pub struct PendingFlush {
    files: [std::fs::File; 3],
}

impl PendingFlush {
    pub fn sync(self) -> std::io::Result<()> {
        for f in &self.files {
            f.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
