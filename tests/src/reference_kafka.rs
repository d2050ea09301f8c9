//! Apache Kafka as the reference the engine is compared with: the jars pinned in
//! `tests/reference-kafka/pom.xml`, fetched by `./tideway test` through Maven into a
//! cache outside the clone, and started here as KRaft nodes (broker and controller in
//! one process; one node, or several forming one quorum) on loopback, with their data in
//! a temporary directory. Dropped, it stops.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context};

use crate::{free_ports, Process};

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

/// How to start the reference: how many nodes, where, and what to add to each node's
/// `server.properties`.
pub struct KafkaOptions<'a> {
    /// KRaft nodes, each broker and controller in one process (all are voters).
    pub nodes: usize,
    /// Where the data directory goes (a temporary directory inside it); the system's
    /// temporary directory when None.
    pub parent_dir: Option<&'a Path>,
    /// Lines appended to every node's properties.
    pub extra_properties: &'a str,
    /// JVM flags; the heap Kafka's start script gives a broker when empty.
    pub jvm: &'a [&'a str],
    /// More arguments to `kafka-storage format`, e.g. `--add-scram` for a first user.
    pub format_args: &'a [&'a str],
}

impl Default for KafkaOptions<'_> {
    fn default() -> Self {
        KafkaOptions {
            nodes: 1,
            parent_dir: None,
            extra_properties: "",
            jvm: &["-Xmx512m"],
            format_args: &[],
        }
    }
}

/// What `kafka-server-start.sh` gives a broker by default: a 1 GiB heap and G1 tuned
/// for short pauses.
pub const KAFKA_START_SCRIPT_JVM: &[&str] = &[
    "-Xmx1G",
    "-Xms1G",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
];

/// A running Apache Kafka: one or more KRaft nodes.
pub struct ReferenceKafka {
    processes: Vec<Process>,
    /// Every node's client address, comma-separated.
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

/// Kafka's cluster id form: URL-safe base64 of 16 random bytes, unpadded; like Kafka's
/// own Uuid.randomUuid, never one starting with '-', which the format tool would take
/// for an option.
fn new_cluster_id() -> String {
    loop {
        use base64::Engine;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            break id;
        }
    }
}

impl ReferenceKafka {
    /// One node with its data in a temporary directory; returns once clients can connect.
    pub fn start() -> anyhow::Result<ReferenceKafka> {
        Self::start_with(&KafkaOptions::default())
    }

    /// Formats fresh data dirs and starts the nodes; returns once every node listens.
    pub fn start_with(options: &KafkaOptions<'_>) -> anyhow::Result<ReferenceKafka> {
        let libs = libs_dir()?;
        if !libs.join(format!("kafka_2.13-{}.jar", version()?)).exists() {
            bail!(
                "Apache Kafka's jars are not in {}; ./tideway test fetches them with Maven",
                libs.display()
            );
        }
        let classpath = format!("{}/*", libs.display());
        let dir = match options.parent_dir {
            Some(parent) => tempfile::tempdir_in(parent)?,
            None => tempfile::tempdir()?,
        };
        let n = options.nodes.max(1);
        let ports: Vec<(u16, u16)> = free_ports(2 * n)
            .chunks(2)
            .map(|pair| (pair[0], pair[1]))
            .collect();
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect();
        let cluster_id = new_cluster_id();
        let internal_rf = n.min(3);
        let mut processes = Vec::with_capacity(n);
        let mut addresses = Vec::with_capacity(n);
        for (i, (port, controller)) in ports.iter().enumerate() {
            let config = dir.path().join(format!("server-{}.properties", i + 1));
            std::fs::write(
                &config,
                format!(
                    "process.roles=broker,controller\nnode.id={}\n\
                     controller.quorum.voters={}\n\
                     listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                     advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                     controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
                     log.dirs={}\noffsets.topic.replication.factor={internal_rf}\n\
                     transaction.state.log.replication.factor={internal_rf}\n\
                     transaction.state.log.min.isr=1\n\
                     group.initial.rebalance.delay.ms=0\nauto.create.topics.enable=false\n{}\n",
                    i + 1,
                    voters.join(","),
                    dir.path().join(format!("data-{}", i + 1)).display(),
                    options.extra_properties,
                ),
            )?;
            let format = Command::new("java")
                .args(["-cp", &classpath, "kafka.tools.StorageTool", "format", "-t"])
                .arg(&cluster_id)
                .arg("-c")
                .arg(&config)
                .args(options.format_args)
                .output()
                .context("cannot run java")?;
            if !format.status.success() {
                bail!(
                    "formatting Kafka's storage failed: {}",
                    String::from_utf8_lossy(&format.stderr)
                );
            }
            let child = Command::new("java")
                .args(options.jvm)
                .args(["-cp", &classpath, "kafka.Kafka"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start Kafka")?;
            processes.push(Process {
                child,
                name: format!("reference Kafka node {}", i + 1),
            });
            addresses.push(format!("127.0.0.1:{port}"));
        }
        for (process, address) in processes.iter_mut().zip(&addresses) {
            process.until_listening(address, Duration::from_secs(90))?;
        }
        Ok(ReferenceKafka {
            processes,
            bootstrap: addresses.join(","),
            _dir: dir,
        })
    }

    /// The nodes' process ids (for CPU and memory accounting).
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(|p| p.child.id()).collect()
    }
}
