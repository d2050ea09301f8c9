//! The broker's Prometheus endpoint: after real rdkafka traffic, `/metrics` on the port
//! the broker publishes for its agent shows the records and bytes per topic, requests and
//! latencies per API, open connections and each partition's log size.

mod common;

use std::time::{Duration, Instant};

use common::{drain, BrokerProcess};
use rdkafka::producer::FutureRecord;

/// The value of the sample `name{labels}` (labels as written, e.g. `topic="t"`).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// The metrics port from the stats file the broker rewrites every second.
async fn metrics_port(data_dir: &std::path::Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(port) =
            tideway_engine::stats::read_published(data_dir).and_then(|s| s.metrics_port)
        {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "the broker never published its metrics port"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn metrics_count_what_clients_did() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    broker.create_topic("metered", 2, &[]).await;
    let producer = broker.producer(&[("acks", "all")]);
    let payload = "m".repeat(100);
    for i in 0..60 {
        producer
            .send(
                FutureRecord::to("metered")
                    .key("k")
                    .payload(&payload)
                    .partition(i % 2),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }
    let reader = broker.reader("metered", 2);
    let read = drain(&reader, 60, Duration::from_secs(20));
    assert_eq!(read.len(), 60);

    let port = metrics_port(dir.path()).await;
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let topic = r#"topic="metered""#;
    assert_eq!(
        sample(&text, "kafka_server_messages_in_total", topic),
        Some(60.0),
        "{text}"
    );
    let bytes_in = sample(&text, "kafka_server_bytes_in_total", topic).expect("bytes in");
    assert!(
        bytes_in > 6000.0,
        "60 records of 100 bytes plus batch headers: {bytes_in}"
    );
    let bytes_out = sample(&text, "kafka_server_bytes_out_total", topic).expect("bytes out");
    assert!(
        bytes_out >= bytes_in,
        "every record was fetched: {bytes_out} < {bytes_in}"
    );
    let produces = sample(&text, "kafka_network_requests_total", r#"api="Produce""#)
        .expect("produce requests");
    assert!(
        produces >= 60.0,
        "one request per acks=all send at least: {produces}"
    );
    assert_eq!(
        sample(
            &text,
            "kafka_network_request_duration_seconds_count",
            r#"api="Produce""#
        ),
        Some(produces),
        "every request is timed"
    );
    assert!(
        sample(&text, "kafka_network_requests_total", r#"api="Fetch""#).is_some_and(|n| n >= 1.0)
    );
    for partition in 0..2 {
        let size = sample(
            &text,
            "kafka_log_size_bytes",
            &format!(r#"topic="metered",partition="{partition}""#),
        )
        .expect("log size");
        assert!(size > 3000.0, "30 records of 100 bytes on disk: {size}");
    }
    assert!(
        sample(&text, "kafka_server_connections", "").is_some_and(|n| n >= 1.0),
        "clients are connected"
    );
    assert_eq!(
        sample(&text, "kafka_server_under_replicated_partitions", ""),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "kafka_server_failed_authentications_total", ""),
        Some(0.0)
    );
    drop((producer, reader));
}
