//! Three `broker-agent broker` processes forming one cluster (a metadata quorum of
//! three voters) on loopback, for the cluster-mode tests.

use std::{net::TcpListener, path::Path, time::Duration};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::BrokerProcess;

/// A free port below Linux's ephemeral range (32768+). Brokers restart on the same
/// ports; a port from the ephemeral range could meanwhile be taken as the local end of
/// some outgoing connection (even one connecting to itself), and the restart would fail.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() % 1000) as u16 * 12;
    loop {
        let port = 20_000 + (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    pub ports: Vec<u16>,
    /// The brokers' controller (quorum) ports.
    pub controllers: Vec<u16>,
    pub brokers: Vec<Option<BrokerProcess>>,
}

impl Cluster {
    /// Starts brokers 1-3; `extra` is added to each `[cluster]` section.
    pub fn start(extra: &str) -> Cluster {
        Self::start_with("", extra)
    }

    /// Like `start`, with `top` (settings and tables) before the `[cluster]` section.
    pub fn start_with(top: &str, extra: &str) -> Cluster {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let controllers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let voters: Vec<String> = controllers
            .iter()
            .enumerate()
            .map(|(i, p)| format!("\"{}@127.0.0.1:{p}\"", i + 1))
            .collect();
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
        for (i, dir) in dirs.iter().enumerate() {
            std::fs::write(
                dir.path().join("broker.toml"),
                format!(
                    "node-id = {}\ncluster-id = \"e2ecluster\"\n{top}\n[cluster]\nvoters = [{}]\n\
                     controller-listen = \"127.0.0.1:{}\"\nrack = \"rack-{}\"\n{extra}\n",
                    i + 1,
                    voters.join(", "),
                    controllers[i],
                    i + 1
                ),
            )
            .expect("config");
        }
        let mut c = Cluster {
            dirs,
            ports,
            controllers,
            brokers: Vec::new(),
        };
        for i in 0..3 {
            let b = c.spawn(i);
            c.brokers.push(Some(b));
        }
        c
    }

    pub fn spawn(&self, i: usize) -> BrokerProcess {
        let dir: &Path = self.dirs[i].path();
        let config = dir.join("broker.toml");
        BrokerProcess::start_on(
            &dir.join("data"),
            &format!("127.0.0.1:{}", self.ports[i]),
            &["--config", config.to_str().expect("utf8")],
        )
    }

    /// Broker `i`'s data dir.
    pub fn data_dir(&self, i: usize) -> std::path::PathBuf {
        self.dirs[i].path().join("data")
    }

    pub fn broker(&self, i: usize) -> &BrokerProcess {
        self.brokers[i].as_ref().expect("running")
    }

    /// Waits until broker `i` describes `n` brokers.
    pub fn until_brokers(&self, i: usize, n: usize) {
        let consumer: BaseConsumer = self.broker(i).config().create().expect("client");
        for _ in 0..100 {
            if let Ok(m) = consumer.fetch_metadata(None, Duration::from_secs(2)) {
                if m.brokers().len() == n {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("broker {} never described {n} brokers", i + 1);
    }
}

impl Cluster {
    /// Every running broker's address, for a client's bootstrap list.
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .flatten()
            .map(|b| b.bootstrap.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client config bootstrapped on every running broker.
    pub fn client(&self) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        c
    }

    /// (leader, ISR) of every partition of `topic`, as a running broker describes them.
    pub fn partitions(&self, topic: &str) -> Vec<(i32, Vec<i32>)> {
        let consumer: BaseConsumer = self.client().create().expect("client");
        match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(m) => m.topics()[0]
                .partitions()
                .iter()
                .map(|p| (p.leader(), p.isr().to_vec()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until every partition of `topic` has a leader and `isr` in-sync replicas.
    pub fn until_isr(&self, topic: &str, isr: usize, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let parts = self.partitions(topic);
            if !parts.is_empty() && parts.iter().all(|(l, i)| *l >= 0 && i.len() == isr) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{topic} never had {isr} in-sync replicas everywhere: {parts:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
