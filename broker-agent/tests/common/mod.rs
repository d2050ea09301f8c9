//! Starts the real `broker-agent broker` binary on a free port for a test, and makes
//! rdkafka clients for it.
#![allow(dead_code)]

pub mod cluster;
pub mod kdc;
pub mod raw;
pub mod secure;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::FutureProducer,
    ClientConfig, Offset, TopicPartitionList,
};

/// A running broker process; killed (SIGKILL) when dropped.
pub struct BrokerProcess {
    pub child: Child,
    pub bootstrap: String,
    pub data_dir: PathBuf,
    /// Extra listeners from the config: (name, HOST:PORT).
    pub listeners: Vec<(String, String)>,
}

impl BrokerProcess {
    /// Starts a broker on `data_dir` with extra flags; `listen` picks the address
    /// (127.0.0.1:0 for a fresh port).
    pub fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> BrokerProcess {
        Self::start_with_env(data_dir, listen, extra, &[])
    }

    /// Like `start_on`, with extra environment variables for the broker process.
    pub fn start_with_env(
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> BrokerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_broker-agent"))
            .args(["broker", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", listen])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start broker-agent broker");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut listeners = Vec::new();
        let line = loop {
            let line = lines
                .next()
                .expect("the broker printed its address")
                .expect("utf8");
            // "tideway broker listener NAME PROTOCOL on ADDR advertised as HOST:PORT"
            if line.starts_with("tideway broker listener ") {
                let words: Vec<&str> = line.split(' ').collect();
                listeners.push((words[3].to_owned(), words[words.len() - 1].to_owned()));
                continue;
            }
            break line;
        };
        std::thread::spawn(move || lines.for_each(drop));
        let bootstrap = line.rsplit(' ').next().expect("address").to_owned();
        BrokerProcess {
            child,
            bootstrap,
            data_dir: data_dir.to_owned(),
            listeners,
        }
    }

    pub fn start(data_dir: &Path, extra: &[&str]) -> BrokerProcess {
        Self::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// The address of the extra listener `name`.
    pub fn listener(&self, name: &str) -> String {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("the broker has no listener {name}"))
    }

    /// The port, to restart on the same address.
    pub fn listen(&self) -> String {
        self.bootstrap.clone()
    }

    /// SIGTERM and wait: a clean stop.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "the broker stopped with {status}");
    }

    /// SIGKILL: a crash.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    pub fn producer(&self, extra: &[(&str, &str)]) -> FutureProducer {
        let mut c = self.config();
        c.set("message.timeout.ms", "10000").set("linger.ms", "5");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create().expect("producer")
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.config().create().expect("admin")
    }

    /// A consumer assigned to every partition of `topic` from the beginning (no group).
    pub fn reader(&self, topic: &str, partitions: i32) -> BaseConsumer {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", "tideway-test-reader")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("tpl");
        }
        consumer.assign(&tpl).expect("assign");
        consumer
    }

    /// Creates a topic with configs, failing the test on error.
    pub async fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            t = t.set(k, v);
        }
        let r = self
            .admin()
            .create_topics([&t], &AdminOptions::new())
            .await
            .expect("create_topics");
        r[0].as_ref()
            .unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads messages until `want` arrived or `timeout` passed: (partition, offset, key, value).
pub fn drain(
    consumer: &BaseConsumer,
    want: usize,
    timeout: Duration,
) -> Vec<(i32, i64, String, Vec<u8>)> {
    use rdkafka::Message;
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < want && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.partition(),
                m.offset(),
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => {}
        }
    }
    out
}
