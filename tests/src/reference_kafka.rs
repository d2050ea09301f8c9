//! Apache Kafka as the reference the engine is compared with: the jars pinned in
//! `tests/reference-kafka/pom.xml`, fetched by `./tideway test` through Maven into a
//! cache outside the clone, and started here as one KRaft node (broker and controller in
//! one process) on loopback, with its data in a temporary directory. Dropped, it stops.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context};

use crate::{free_port, Process};

/// The Kafka version the pom pins (its `<kafka.version>`).
pub fn version() -> anyhow::Result<String> {
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference-kafka/pom.xml");
    let text = std::fs::read_to_string(&pom).with_context(|| format!("{}", pom.display()))?;
    let start = text
        .find("<kafka.version>")
        .context("the pom names no <kafka.version>")?
        + "<kafka.version>".len();
    let end = text[start..]
        .find('<')
        .context("<kafka.version> is not closed")?;
    Ok(text[start..start + end].trim().to_owned())
}

/// Where the jars are: `TIDEWAY_REFERENCE_KAFKA_LIBS`, else the cache `./tideway test`
/// fills.
pub fn libs_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("TIDEWAY_REFERENCE_KAFKA_LIBS") {
        return Ok(PathBuf::from(dir));
    }
    Ok(PathBuf::from(format!(
        "/var/cache/tideway/reference-kafka/{}/libs",
        version()?
    )))
}

/// Runs one of Kafka's command-line tools (its main class, e.g.
/// `org.apache.kafka.tools.TopicCommand`) with `args`, feeding it `stdin`: the output.
pub fn run_tool(class: &str, args: &[&str], stdin: &str) -> anyhow::Result<std::process::Output> {
    use std::io::Write;
    let mut child = Command::new("java")
        .args(["-cp", &format!("{}/*", libs_dir()?.display()), class])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {class}"))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    Ok(child.wait_with_output()?)
}

/// A running Apache Kafka node.
pub struct ReferenceKafka {
    _process: Process,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

impl ReferenceKafka {
    /// Formats a fresh data dir and starts the node; returns once clients can connect.
    pub fn start() -> anyhow::Result<ReferenceKafka> {
        let libs = libs_dir()?;
        if !libs.join(format!("kafka_2.13-{}.jar", version()?)).exists() {
            bail!(
                "Apache Kafka's jars are not in {}; ./tideway test fetches them with Maven",
                libs.display()
            );
        }
        let classpath = format!("{}/*", libs.display());
        let dir = tempfile::tempdir()?;
        let (port, controller) = (free_port(), free_port());
        let config = dir.path().join("server.properties");
        std::fs::write(
            &config,
            format!(
                "process.roles=broker,controller\nnode.id=1\n\
                 controller.quorum.voters=1@127.0.0.1:{controller}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
                 log.dirs={}\noffsets.topic.replication.factor=1\n\
                 transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\nauto.create.topics.enable=false\n",
                dir.path().join("data").display()
            ),
        )?;
        // Kafka's cluster id form: URL-safe base64 of 16 random bytes, unpadded; like
        // Kafka's own Uuid.randomUuid, never one starting with '-', which the format
        // tool would take for an option.
        let cluster_id = loop {
            use base64::Engine;
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(uuid::Uuid::new_v4().as_bytes());
            if !id.starts_with('-') {
                break id;
            }
        };
        let format = Command::new("java")
            .args(["-cp", &classpath, "kafka.tools.StorageTool", "format", "-t"])
            .arg(&cluster_id)
            .arg("-c")
            .arg(&config)
            .output()
            .context("cannot run java")?;
        if !format.status.success() {
            bail!(
                "formatting Kafka's storage failed: {}",
                String::from_utf8_lossy(&format.stderr)
            );
        }
        let child = Command::new("java")
            .args(["-Xmx512m", "-cp", &classpath, "kafka.Kafka"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Kafka")?;
        let mut process = Process {
            child,
            name: "reference Kafka".into(),
        };
        let bootstrap = format!("127.0.0.1:{port}");
        process.until_listening(&bootstrap, Duration::from_secs(60))?;
        Ok(ReferenceKafka {
            _process: process,
            bootstrap,
            _dir: dir,
        })
    }
}
