//! Idempotent producers: InitProducerId hands out ids; retried batches are stored once
//! (also after a restart), sequence gaps and fenced epochs are refused on the wire;
//! librdkafka's idempotent producer stores each record once, in order.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    drain,
    raw::{self, call, connect},
    BrokerProcess,
};
use kafka_protocol::{
    messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId},
    protocol::StrBytes,
    ResponseError,
};
use rdkafka::{consumer::Consumer, producer::FutureRecord};

const WAIT: Duration = Duration::from_secs(20);

/// A batch of `n` records from producer `pid`/`epoch` starting at sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32, n: i32) -> Bytes {
    raw::batch(
        raw::Writer {
            producer_id: pid,
            epoch,
            sequence: seq,
        },
        n,
        1,
    )
    .freeze()
}

/// Produces one batch to idem-0: (error code, base offset).
fn produce(broker: &BrokerProcess, records: Bytes) -> (i16, i64) {
    produce_to(broker, "idem", records)
}

/// Produces one batch to partition 0 of `topic`: (error code, base offset).
fn produce_to(broker: &BrokerProcess, topic: &str, records: Bytes) -> (i16, i64) {
    let p = raw::produce(broker, topic, records);
    (p.error_code, p.base_offset)
}

fn init(broker: &BrokerProcess, pid: i64, epoch: i16) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60000)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let r: InitProducerIdResponse = call(&mut connect(broker), &req, 4);
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

#[tokio::test]
async fn retries_are_stored_once_and_gaps_and_old_epochs_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("idem", 1, &[]).await;
    let (pid, epoch) = init(&broker, -1, -1);
    assert_eq!(epoch, 0);
    assert_ne!(
        init(&broker, -1, -1).0,
        pid,
        "every producer gets its own id"
    );

    assert_eq!(produce(&broker, batch(pid, 0, 0, 3)), (0, 0));
    assert_eq!(
        produce(&broker, batch(pid, 0, 0, 3)),
        (0, 0),
        "a retry gets the original offset"
    );
    assert_eq!(
        produce(&broker, batch(pid, 0, 5, 1)).0,
        ResponseError::OutOfOrderSequenceNumber.code()
    );
    assert_eq!(produce(&broker, batch(pid, 0, 3, 2)), (0, 3));

    // Producer state is rebuilt after a restart: the retry is still recognised.
    let listen = broker.listen();
    broker.stop();
    let broker = BrokerProcess::start_on(dir.path(), &listen, &[]);
    assert_eq!(produce(&broker, batch(pid, 0, 3, 2)), (0, 3));

    // Naming an id and epoch (anyone's) gets a new id at epoch 0, as Kafka answers without
    // a transactional id: nobody can bump, and so fence, another producer's epoch.
    let (other, other_epoch) = init(&broker, pid, 0);
    assert_ne!(other, pid);
    assert_eq!(other_epoch, 0);
    assert_eq!(
        produce(&broker, batch(pid, 0, 5, 1)),
        (0, 5),
        "the producer goes on unfenced"
    );
    // Once a newer epoch of the id wrote, the old one is fenced.
    assert_eq!(produce(&broker, batch(pid, 1, 0, 1)), (0, 6));
    assert_eq!(
        produce(&broker, batch(pid, 0, 6, 1)).0,
        ResponseError::InvalidProducerEpoch.code()
    );

    let reader = broker.reader("idem", 1);
    assert_eq!(
        reader.fetch_watermarks("idem", 0, WAIT).expect("wm"),
        (0, 7)
    );
    let keys: Vec<String> = drain(&reader, 7, WAIT).into_iter().map(|m| m.2).collect();
    assert_eq!(keys, vec!["s0", "s1", "s2", "s3", "s4", "s5", "s0"]);

    // Transactions are not coordinated here: a transactional id is refused.
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(kafka_protocol::messages::TransactionalId(
            StrBytes::from_static_str("tx"),
        )))
        .with_transaction_timeout_ms(60000);
    let r: InitProducerIdResponse = call(&mut connect(&broker), &req, 4);
    assert_eq!(r.error_code, ResponseError::CoordinatorNotAvailable.code());
}

#[tokio::test]
async fn librdkafka_idempotent_producer_stores_each_record_once_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("exactly", 2, &[]).await;
    let producer = broker.producer(&[("enable.idempotence", "true"), ("linger.ms", "2")]);
    let sends = (0..500).map(|i| {
        let producer = producer.clone();
        async move {
            let key = format!("{i:04}");
            producer
                .send(
                    FutureRecord::to("exactly")
                        .key(&key)
                        .payload("v")
                        .partition(i % 2),
                    WAIT,
                )
                .await
                .map_err(|(e, _)| e)
        }
    });
    for r in futures::future::join_all(sends).await {
        r.expect("send");
    }
    let got = drain(&broker.reader("exactly", 2), 500, WAIT);
    assert_eq!(got.len(), 500);
    for p in 0..2 {
        let keys: Vec<&String> = got.iter().filter(|m| m.0 == p).map(|m| &m.2).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            keys, sorted,
            "partition {p} holds each record once, in send order"
        );
        assert_eq!(keys.len(), 250);
    }
}

#[test]
fn producer_ids_are_unique_across_a_cluster_and_its_restarts() {
    let mut cluster = common::cluster::Cluster::start("");
    for i in 0..3 {
        cluster.until_brokers(i, 3);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut take = |cluster: &common::cluster::Cluster, i: usize| {
        let (id, epoch) = init(cluster.broker(i), -1, -1);
        assert_eq!(epoch, 0);
        assert!(seen.insert(id), "producer id {id} was given twice");
        id
    };
    for i in [0, 1, 2, 0, 1, 2] {
        take(&cluster, i);
    }
    // A restarted broker takes a new block: it never hands out its old ids again.
    cluster.brokers[1].take().expect("running").stop();
    let again = cluster.spawn(1);
    cluster.brokers[1] = Some(again);
    cluster.until_brokers(1, 3);
    for i in [1, 1, 0, 2] {
        take(&cluster, i);
    }
}

#[tokio::test]
async fn a_retry_is_recognised_after_segments_rolled_and_the_broker_crashed() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    // Tiny segments: every batch or two rolls a new one.
    broker
        .create_topic(
            "rolled",
            1,
            &[("segment.bytes", "200"), ("flush.messages", "1")],
        )
        .await;
    let (pid, _) = init(&broker, -1, -1);
    for seq in 0..10 {
        assert_eq!(
            produce_to(&broker, "rolled", batch(pid, 0, seq, 1)),
            (0, i64::from(seq))
        );
    }
    let segments = std::fs::read_dir(
        tideway_engine::log_dirs::find_partition_dir(dir.path(), "rolled", 0)
            .expect("registry")
            .expect("rolled has a log dir"),
    )
    .expect("partition dir")
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
    })
    .count();
    assert!(segments >= 4, "the log rolled: {segments} segments");

    // kill -9, then the producer retries a batch whose segment is no longer the active
    // one, and one from the last segment: both are answered with their first offsets.
    let listen = broker.listen();
    broker.crash();
    let broker = BrokerProcess::start_on(dir.path(), &listen, &[]);
    assert_eq!(
        produce_to(&broker, "rolled", batch(pid, 0, 5, 1)),
        (0, 5),
        "a retry"
    );
    assert_eq!(
        produce_to(&broker, "rolled", batch(pid, 0, 9, 1)),
        (0, 9),
        "a retry"
    );
    assert_eq!(
        produce_to(&broker, "rolled", batch(pid, 0, 12, 1)).0,
        ResponseError::OutOfOrderSequenceNumber.code(),
        "the producer's place is known"
    );
    assert_eq!(produce_to(&broker, "rolled", batch(pid, 0, 10, 1)), (0, 10));
    let reader = broker.reader("rolled", 1);
    assert_eq!(
        reader.fetch_watermarks("rolled", 0, WAIT).expect("wm"),
        (0, 11),
        "nothing was stored twice"
    );
}
