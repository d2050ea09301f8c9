//! Durability of the bundled engine: every record acknowledged under the flush-every-batch
//! policy survives kill -9 under load; retention by time and size deletes old segments.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{drain, raw::now_ms, BrokerProcess};
use rdkafka::{consumer::Consumer, producer::FutureRecord};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn acknowledged_records_survive_kill_9_under_load() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker
        .create_topic(
            "durable",
            2,
            &[("flush.messages", "1"), ("segment.bytes", "65536")],
        )
        .await;
    let producer = broker.producer(&[
        ("acks", "all"),
        ("linger.ms", "1"),
        ("message.timeout.ms", "3000"),
        ("retries", "0"),
    ]);
    let acked: Arc<Mutex<Vec<(i32, i64, String)>>> = Arc::default();
    let load = {
        let (producer, acked) = (producer.clone(), acked.clone());
        tokio::spawn(async move {
            for round in 0.. {
                let sends = (0..50).map(|i| {
                    let key = format!("r{round}-{i}");
                    let (producer, acked) = (producer.clone(), acked.clone());
                    async move {
                        let record = FutureRecord::to("durable")
                            .key(&key)
                            .payload("payload-bytes")
                            .partition(i % 2);
                        if let Ok(d) = producer.send(record, Duration::from_secs(3)).await {
                            acked
                                .lock()
                                .expect("lock")
                                .push((d.partition, d.offset, key));
                        }
                    }
                });
                futures::future::join_all(sends).await;
            }
        })
    };
    while acked.lock().expect("lock").len() < 2000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.crash();
    // The producer must be gone before the broker returns: its queued messages would
    // otherwise land during the check. Its last clone lives in the aborted task.
    load.abort();
    let _ = load.await;
    drop(producer);
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 2000);

    // A fresh port too, so nothing left of the old client can reach the new process.
    let broker = BrokerProcess::start(dir.path(), &[]);
    let reader = broker.reader("durable", 2);
    let total: i64 = (0..2)
        .map(|p| {
            reader
                .fetch_watermarks("durable", p, WAIT)
                .expect("watermarks")
                .1
        })
        .sum();
    let stored = drain(&reader, total as usize, WAIT);
    assert_eq!(stored.len() as i64, total);
    let by_position: std::collections::HashMap<(i32, i64), String> =
        stored.into_iter().map(|(p, o, k, _)| ((p, o), k)).collect();
    for (p, o, key) in &acked {
        if by_position.get(&(*p, *o)) != Some(key) {
            let max_acked: Vec<i64> = (0..2)
                .map(|q| {
                    acked
                        .iter()
                        .filter(|a| a.0 == q)
                        .map(|a| a.1)
                        .max()
                        .unwrap_or(-1)
                })
                .collect();
            let ends: Vec<(i64, i64)> = (0..2)
                .map(|q| reader.fetch_watermarks("durable", q, WAIT).expect("wm"))
                .collect();
            let files: Vec<String> = std::fs::read_dir(log_dir(dir.path(), "durable", *p))
                .expect("dir")
                .filter_map(|e| e.ok())
                .map(|e| {
                    format!(
                        "{} {}",
                        e.file_name().to_string_lossy(),
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    )
                })
                .collect();
            let near: Vec<_> = (o - 3..o + 3)
                .map(|x| (x, by_position.get(&(*p, x)).cloned()))
                .collect();
            panic!(
                "acknowledged record {key} at {p}/{o} is missing (found {:?}); highest acked per \
                 partition {max_acked:?}, watermarks {ends:?}, files {files:?}, distinct positions read \
                 {}, near: {near:?}",
                by_position.get(&(*p, *o)),
                by_position.len()
            );
        }
    }
    // Still writable after recovery, at the offsets that follow.
    let producer = broker.producer(&[]);
    let d = producer
        .send(
            FutureRecord::to("durable")
                .key("after")
                .payload("x")
                .partition(0),
            WAIT,
        )
        .await
        .expect("send");
    assert_eq!(
        d.offset,
        reader.fetch_watermarks("durable", 0, WAIT).expect("wm").1 - 1
    );
}

#[tokio::test]
async fn a_clean_restart_keeps_everything() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("kept", 1, &[]).await;
    let producer = broker.producer(&[]);
    for i in 0..100 {
        producer
            .send(
                FutureRecord::to("kept").key(&format!("k{i}")).payload("v"),
                WAIT,
            )
            .await
            .expect("send");
    }
    let listen = broker.listen();
    broker.stop();
    assert!(dir.path().join(".clean-shutdown").exists());
    let broker = BrokerProcess::start_on(dir.path(), &listen, &[]);
    let got = drain(&broker.reader("kept", 1), 100, WAIT);
    assert_eq!(got.len(), 100);
    assert_eq!(got[99], (0, 99, "k99".into(), b"v".to_vec()));
}

#[tokio::test]
async fn retention_by_time_and_by_size_deletes_old_segments() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &["--retention-check-interval", "200ms"]);
    broker
        .create_topic(
            "by-time",
            1,
            &[("segment.bytes", "1024"), ("retention.ms", "60000")],
        )
        .await;
    broker
        .create_topic(
            "by-size",
            1,
            &[("segment.bytes", "1024"), ("retention.bytes", "2048")],
        )
        .await;
    let producer = broker.producer(&[("linger.ms", "0")]);
    let value = "v".repeat(200);
    for i in 0..30 {
        let old = FutureRecord::to("by-time")
            .key("old")
            .payload(&value)
            .timestamp(now_ms() - 3_600_000 + i);
        producer.send(old, WAIT).await.expect("send");
    }
    for _ in 0..5 {
        producer
            .send(FutureRecord::to("by-time").key("new").payload(&value), WAIT)
            .await
            .expect("send");
    }
    for _ in 0..40 {
        producer
            .send(FutureRecord::to("by-size").key("k").payload(&value), WAIT)
            .await
            .expect("send");
    }
    let reader = broker.reader("by-time", 1);
    let deadline = std::time::Instant::now() + WAIT;
    let (mut time_low, mut size_low) = (0, 0);
    while std::time::Instant::now() < deadline && (time_low < 25 || size_low == 0) {
        time_low = reader.fetch_watermarks("by-time", 0, WAIT).expect("wm").0;
        size_low = reader.fetch_watermarks("by-size", 0, WAIT).expect("wm").0;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        (25..=30).contains(&time_low),
        "old records were deleted, new kept: log start {time_low}"
    );
    assert!(size_low > 0, "the size limit deleted old segments");
    // Consumers start at the new log start and every remaining record is there.
    let rest = drain(&reader, (35 - time_low) as usize, WAIT);
    assert_eq!(rest.first().map(|m| m.1), Some(time_low));
    assert_eq!(rest.iter().filter(|m| m.2 == "new").count(), 5);
    let size: u64 = std::fs::read_dir(log_dir(dir.path(), "by-size", 0))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    assert!(size <= 2048 + 1024, "by-size holds {size} bytes");
}

/// Where partition `p` of `topic` keeps its log in `data_dir`.
fn log_dir(data_dir: &std::path::Path, topic: &str, p: i32) -> std::path::PathBuf {
    tideway_engine::log_dirs::find_partition_dir(data_dir, topic, p)
        .expect("topic registry")
        .unwrap_or_else(|| panic!("{topic} has no log dir"))
}
