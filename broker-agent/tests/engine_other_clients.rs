//! Three more independent client implementations against the bundled engine: kcat
//! (librdkafka 2.0, as Debian ships it), confluent-kafka (librdkafka 2.x wheels) and
//! kafka-python (its own protocol code), all producing to and consuming one topic.

mod common;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use common::BrokerProcess;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/clients/python_clients.py"
);

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn kcat_confluent_kafka_and_kafka_python_share_a_topic() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = BrokerProcess::start(dir.path(), &[]);
    broker.create_topic("shared", 3, &[]).await;
    let b = broker.bootstrap.as_str();

    let mut kcat = Command::new("kcat")
        .args(["-b", b, "-t", "shared", "-P", "-K", ":", "-z", "snappy"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat is installed (./tideway test installs it)");
    let lines: String = (0..20)
        .map(|i| format!("kcat-{i}:from kcat {i}\n"))
        .collect();
    kcat.stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("write");
    assert!(kcat.wait().expect("kcat").success());
    run(Command::new("python3").args([SCRIPT, b, "shared", "produce-confluent"]));
    run(Command::new("python3").args([SCRIPT, b, "shared", "produce-kafka-python"]));

    let seen_by_kcat = run(Command::new("kcat").args([
        "-b",
        b,
        "-t",
        "shared",
        "-C",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k %s\n",
    ]));
    let python = run(Command::new("python3").args([SCRIPT, b, "shared", "consume", "60"]));
    for client in ["kcat", "confluent", "kafka-python"] {
        for i in 0..20 {
            let line = format!(
                "{client}-{i} from {} {i}",
                if client == "confluent" {
                    "confluent-kafka"
                } else {
                    client
                }
            );
            assert!(
                seen_by_kcat.lines().any(|l| l == line),
                "kcat did not see {line:?}"
            );
            for reader in ["confluent-kafka", "kafka-python"] {
                assert!(
                    python.lines().any(|l| l == format!("{reader} {line}")),
                    "{reader} did not see {line:?}"
                );
            }
        }
    }
    assert_eq!(seen_by_kcat.lines().count(), 60);
}
