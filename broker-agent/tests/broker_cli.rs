//! `broker-agent broker` refuses bad configuration with the reason and a non-zero exit,
//! and takes its settings from a TOML file.

mod common;

use std::process::Command;

use common::BrokerProcess;
use rdkafka::admin::{AdminOptions, ResourceSpecifier};

fn broker(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_broker-agent"))
        .arg("broker")
        .args(args)
        .output()
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf8").to_owned()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--listen".into(), "127.0.0.1:0".into()], "--data-dir"),
        (
            vec![
                "--data-dir".into(),
                data.into(),
                "--listen".into(),
                "0.0.0.0:0".into(),
            ],
            "--advertised",
        ),
        (
            vec![
                "--data-dir".into(),
                data.into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--advertised".into(),
                "nohost".into(),
            ],
            "HOST:PORT",
        ),
        (
            vec![
                "--data-dir".into(),
                data.into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--config".into(),
                write("a.toml", "colour = 'blue'\n"),
            ],
            "unknown field",
        ),
        (
            vec![
                "--data-dir".into(),
                data.into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--config".into(),
                write("b.toml", "[topic-defaults]\n\"retention.ms\" = \"soon\"\n"),
            ],
            "retention.ms",
        ),
        (
            vec![
                "--data-dir".into(),
                data.into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--config".into(),
                "/nonexistent.toml".into(),
            ],
            "cannot read",
        ),
        (
            vec![
                "--data-dir".into(),
                data.into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--node-id=-3".into(),
            ],
            "node id",
        ),
    ];
    for (args, reason) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = broker(&args);
        assert!(!ok, "{args:?} must fail");
        assert!(
            err.contains(reason),
            "{args:?}: expected {reason:?} in {err:?}"
        );
    }
}

#[tokio::test]
async fn a_toml_file_sets_node_id_topic_defaults_and_auto_creation() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        "node-id = 7\ncluster-id = \"tideway-test\"\nauto-create-topics = true\ndefault-partitions = 3\n\n[topic-defaults]\n\"retention.ms\" = 60000\n",
    )
    .expect("write");
    let broker = BrokerProcess::start(
        dir.path().join("data").as_path(),
        &["--config", config.to_str().expect("utf8")],
    );
    // A producer's metadata request creates the topic with the configured defaults.
    let producer = broker.producer(&[]);
    let md = rdkafka::producer::Producer::client(&producer)
        .fetch_metadata(Some("auto"), std::time::Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(md.brokers()[0].id(), 7);
    assert_eq!(md.topics()[0].partitions().len(), 3);
    let described = broker
        .admin()
        .describe_configs([&ResourceSpecifier::Topic("auto")], &AdminOptions::new())
        .await
        .expect("describe");
    assert_eq!(
        described[0]
            .as_ref()
            .expect("topic")
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("60000")
    );
    // The data dir remembers its cluster: another cluster id is refused.
    let listen = broker.listen();
    broker.stop();
    let (ok, err) = broker_on(&dir.path().join("data"), &listen);
    assert!(!ok);
    assert!(err.contains("belongs to cluster tideway-test"), "{err}");
}

fn broker_on(data: &std::path::Path, listen: &str) -> (bool, String) {
    broker(&[
        "--data-dir",
        data.to_str().expect("utf8"),
        "--listen",
        listen,
        "--node-id",
        "7",
        "--cluster-id",
        "other",
    ])
}

#[tokio::test]
async fn two_brokers_never_share_a_data_dir() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let first = BrokerProcess::start(&data, &[]);
    let (ok, err) = broker(&[
        "--data-dir",
        data.to_str().expect("utf8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok, "the second broker must not start");
    assert!(
        err.contains(&format!(
            "{} is in use by another broker (it holds {}/.lock); two brokers never share a data dir",
            data.display(),
            data.display()
        )),
        "{err}"
    );
    // Once the first has stopped, the data dir is free again: a new broker serves from it.
    first.stop();
    let again = BrokerProcess::start(&data, &[]);
    again.create_topic("after", 1, &[]).await;
    again.crash();
}
