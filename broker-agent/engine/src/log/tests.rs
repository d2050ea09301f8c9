//! Partition log tests on real files: offsets, reads, roll, retention, delete-records and
//! crash recovery.

use std::{fs::OpenOptions, io::Write};

use kafka_protocol::records::{Compression, RecordBatchDecoder};

use super::{batch::tests::batch, config::LogConfig, LogError, PartitionLog};

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

fn now() -> i64 {
    super::now_ms()
}

/// Offsets of every record in `bytes`, decoded by the protocol crate.
fn offsets(mut bytes: bytes::Bytes) -> Vec<i64> {
    RecordBatchDecoder::decode_all(&mut bytes)
        .expect("decodable")
        .into_iter()
        .flat_map(|set| set.records.into_iter().map(|r| r.offset))
        .collect()
}

#[test]
fn appends_assign_offsets_and_reads_return_them() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    for i in 0..20 {
        let mut b = batch(
            3,
            now(),
            if i % 2 == 0 {
                Compression::None
            } else {
                Compression::Lz4
            },
        );
        let a = log.append(&mut b, 0).expect("append");
        assert_eq!((a.base_offset, a.last_offset), (i * 3, i * 3 + 2));
    }
    assert_eq!(log.log_end_offset(), 60);
    assert!(log.segment_count() > 1, "2 KiB segments must have rolled");

    // Reading from any offset returns the batch that holds it, then what follows.
    for start in [0, 1, 29, 31, 59] {
        let got = offsets(log.read(start, 1 << 20).expect("read").expect("data"));
        assert_eq!(
            got.first().copied(),
            Some(start - start % 3),
            "start {start}"
        );
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1));
    }
    // A small max_bytes still returns one whole batch.
    assert_eq!(
        offsets(log.read(30, 1).expect("read").expect("data")),
        vec![30, 31, 32]
    );
    assert!(log.read(60, 100).expect("read").is_none());
    assert!(matches!(
        log.read(61, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));

    // Everything survives a clean reopen (indexes trusted).
    drop(log);
    let log = PartitionLog::open(dir.path(), small_segments(), false).expect("reopen");
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(
        offsets(log.read(44, 1 << 20).expect("read").expect("data"))[0],
        42
    );
}

#[test]
fn oversized_and_corrupt_batches_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let config = LogConfig {
        max_message_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config, false).expect("open");
    let mut big = batch(10, now(), Compression::None);
    assert!(matches!(
        log.append(&mut big, 0),
        Err(LogError::RecordTooLarge { .. })
    ));
    let mut bad = batch(1, now(), Compression::None);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(log.append(&mut bad, 0), Err(LogError::Batch(_))));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn retention_by_size_and_time_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    let old = now() - 3_600_000;
    for _ in 0..10 {
        log.append(&mut batch(3, old, Compression::None), 0)
            .expect("append");
    }
    for _ in 0..10 {
        log.append(&mut batch(3, now(), Compression::None), 0)
            .expect("append");
    }
    let segments = log.segment_count();
    log.set_config(LogConfig {
        retention_ms: 60_000,
        ..small_segments()
    });
    let deleted = log.enforce_retention().expect("retention");
    assert!(deleted > 0 && log.segment_count() == segments - deleted);
    assert!(log.log_start_offset() > 0 && log.log_start_offset() <= 30);
    assert!(matches!(
        log.read(0, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));

    log.set_config(LogConfig {
        retention_bytes: 2048,
        retention_ms: -1,
        ..small_segments()
    });
    log.enforce_retention().expect("retention");
    assert!(
        log.size_bytes() <= 2048 + 2048,
        "at most the active segment beyond the limit"
    );
    assert_eq!(
        log.log_end_offset(),
        60,
        "retention never loses the log end"
    );

    // The log start offset is durable.
    let start = log.log_start_offset();
    drop(log);
    assert_eq!(
        PartitionLog::open(dir.path(), small_segments(), false)
            .expect("reopen")
            .log_start_offset(),
        start
    );
}

#[test]
fn delete_records_moves_the_log_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    for _ in 0..20 {
        log.append(&mut batch(3, now(), Compression::None), 0)
            .expect("append");
    }
    assert_eq!(log.delete_records_before(31).expect("delete"), 31);
    assert!(matches!(
        log.read(30, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        offsets(log.read(31, 1).expect("read").expect("data"))[0],
        30,
        "the batch holding 31"
    );
    assert!(log.delete_records_before(61).is_err());
}

#[test]
fn a_torn_tail_is_cut_on_recovery_and_earlier_batches_survive() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    for _ in 0..5 {
        log.append(&mut batch(4, now(), Compression::Gzip), 0)
            .expect("append");
    }
    log.flush().expect("flush");
    drop(log);
    // Half a batch at the end, as a crash mid-write leaves it.
    let seg = dir
        .path()
        .join(format!("{}.log", super::segment::file_stem(0)));
    let half = &batch(4, now(), Compression::None)[..40];
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("seg")
        .write_all(half)
        .expect("write");

    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), true).expect("recover");
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(
        offsets(log.read(0, 1 << 20).expect("read").expect("data")).len(),
        20
    );
    let a = log
        .append(&mut batch(1, now(), Compression::None), 0)
        .expect("append after recovery");
    assert_eq!(a.base_offset, 20);
}

#[test]
fn a_corrupt_batch_in_the_active_segment_is_cut_with_what_follows() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    let mut sizes = Vec::new();
    for _ in 0..4 {
        let mut b = batch(2, now(), Compression::None);
        sizes.push(b.len());
        log.append(&mut b, 0).expect("append");
    }
    drop(log);
    let seg = dir
        .path()
        .join(format!("{}.log", super::segment::file_stem(0)));
    let mut bytes = std::fs::read(&seg).expect("read");
    let third = sizes[0] + sizes[1] + 70;
    bytes[third] ^= 0xff;
    std::fs::write(&seg, bytes).expect("write");
    let log = PartitionLog::open(dir.path(), LogConfig::default(), true).expect("recover");
    assert_eq!(
        log.log_end_offset(),
        4,
        "batches after the corrupt one are cut too"
    );
}

#[test]
fn timestamps_find_the_batch_to_search() {
    let dir = tempfile::tempdir().expect("dir");
    let mut log = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    for i in 0..20 {
        log.append(&mut batch(3, 1_000 * i, Compression::None), 0)
            .expect("append");
    }
    let b = log.batch_at_time(7_001).expect("lookup").expect("found");
    assert_eq!(offsets(b), vec![21, 22, 23]);
    assert!(log.batch_at_time(20_000).expect("lookup").is_none());
    assert_eq!(log.max_timestamp(), 19_002);
}

#[test]
fn a_follower_copies_batches_and_cuts_back_to_an_epoch_boundary() {
    let dir = tempfile::tempdir().expect("dir");
    // Tiny segments, so truncation crosses segment boundaries.
    let open = |path: &std::path::Path| {
        let config = LogConfig {
            segment_bytes: 150,
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        PartitionLog::open(path, config, false).expect("open")
    };
    let mut leader = open(dir.path().join("leader").as_path());
    for epoch in [0, 0, 1, 1, 2] {
        let mut b = batch(3, now(), Compression::None);
        leader.append(&mut b, epoch).expect("append");
    }
    assert_eq!(leader.log_end_offset(), 15);
    assert_eq!(leader.epoch_end(0), Some((0, 6)));
    assert_eq!(leader.epoch_end(1), Some((1, 12)));

    let mut follower = open(dir.path().join("follower").as_path());
    let mut all = Vec::new();
    while follower.log_end_offset() < leader.log_end_offset() {
        let from = follower.log_end_offset();
        let chunk = leader
            .read(from, usize::MAX)
            .expect("read")
            .expect("batches");
        follower.append_replica(&chunk).expect("replica append");
        follower
            .append_replica(&chunk)
            .expect("already-held batches are skipped");
        all.extend_from_slice(&chunk);
    }
    assert_eq!(follower.log_end_offset(), 15);
    assert_eq!(follower.latest_epoch(), Some(2));
    let gap = leader.read(12, usize::MAX).expect("read").expect("batch");
    let mut other = open(dir.path().join("other").as_path());
    assert!(matches!(
        other.append_replica(&gap),
        Err(LogError::ReplicaGap {
            expected: 0,
            got: 12
        })
    ));

    follower.truncate_to(9).expect("truncate");
    assert_eq!(follower.log_end_offset(), 9);
    assert_eq!(follower.latest_epoch(), Some(1));
    assert_eq!(follower.epoch_end(1), Some((1, 9)));
    let left = follower
        .read(0, usize::MAX)
        .expect("read")
        .expect("batches");
    assert_eq!(
        &left[..],
        &all[..left.len()],
        "copies are byte for byte the leader's"
    );
    let below = follower
        .read_below(0, usize::MAX, 6)
        .expect("read")
        .expect("batches");
    assert!(
        offsets(below).iter().all(|o| *o < 6),
        "nothing past the limit"
    );
    assert_eq!(follower.read_below(6, usize::MAX, 6).expect("read"), None);
    assert_eq!(
        follower.read_below(0, usize::MAX, 2).expect("read"),
        None,
        "a batch crossing the limit is held back whole"
    );
    let reopened = open(dir.path().join("follower").as_path());
    assert_eq!(
        (reopened.log_end_offset(), reopened.latest_epoch()),
        (9, Some(1))
    );
}

#[test]
fn a_due_flush_runs_without_the_log_and_a_failed_one_is_due_again() {
    let dir = tempfile::tempdir().expect("dir");
    let config = LogConfig {
        flush_ms: 60_000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config, false).expect("open");
    assert!(
        log.begin_due_flush().expect("begin").is_none(),
        "nothing to flush"
    );
    log.append(&mut batch(3, now(), Compression::None), 0)
        .expect("append");
    assert!(
        log.begin_due_flush().expect("begin").is_none(),
        "not due before flush.ms"
    );
    log.flush_failed();
    let pending = log.begin_due_flush().expect("begin").expect("due again");
    // The log is free while the fsync runs: appends go on.
    log.append(&mut batch(2, now(), Compression::None), 0)
        .expect("append during the flush");
    pending.sync().expect("fsync");
    assert!(
        log.begin_due_flush().expect("begin").is_none(),
        "the next flush waits flush.ms from the append made during this one"
    );
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn time_based_roll_counts_between_batch_timestamps_as_kafka_does() {
    let hour = 3_600_000;
    let opened = now();
    // (first batch's timestamp, incoming batch's, what has been waited at least / most)
    let cases = [
        (Some(0), hour, hour, hour),
        (
            Some(now() - 30 * 24 * hour),
            now() - 30 * 24 * hour + 5,
            5,
            5,
        ),
        (Some(10 * hour), 9 * hour, -hour, -hour),
        (None, now(), 0, hour),
        (Some(-1), now(), 0, hour),
        (Some(0), -1, 0, hour),
    ];
    for (first, incoming, least, most) in cases {
        let waited = super::time_waited_for_roll(first, incoming, opened);
        assert!(
            (least..=most).contains(&waited),
            "first {first:?}, incoming {incoming}: waited {waited}"
        );
    }
}

#[test]
fn batches_with_old_timestamps_share_a_segment() {
    let dir = tempfile::tempdir().expect("dir");
    let config = LogConfig {
        segment_ms: 24 * 3_600_000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config, false).expect("open");
    let last_year = now() - 365 * 24 * 3_600_000;
    for i in 0..10 {
        log.append(&mut batch(3, last_year + i, Compression::None), 0)
            .expect("append");
    }
    assert_eq!(
        log.segment_count(),
        1,
        "a replay of old records must not roll"
    );
    log.append(
        &mut batch(3, last_year + 2 * 24 * 3_600_000, Compression::None),
        0,
    )
    .expect("append");
    assert_eq!(log.segment_count(), 2, "a batch two days later rolls");
    assert_eq!(
        offsets(log.read(0, 1 << 20).expect("read").expect("data")).len(),
        30
    );
}
