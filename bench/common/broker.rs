//! A `broker-agent broker` process for benchmarks: the release binary beside the
//! benchmark's own, on a fresh port, killed when dropped.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{bail, Context};

pub struct Broker {
    pub child: Child,
    pub bootstrap: String,
    /// Extra listeners: (name, HOST:PORT); only the engine benchmark reads them.
    #[allow(dead_code)]
    pub listeners: Vec<(String, String)>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_broker(data: &Path) -> anyhow::Result<Broker> {
    start_broker_with(data, "127.0.0.1:0", &[])
}

/// Starts `broker-agent broker` on `listen` with extra flags.
pub fn start_broker_with(data: &Path, listen: &str, extra: &[&str]) -> anyhow::Result<Broker> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("target dir")?.join("broker-agent");
    if !bin.exists() {
        bail!(
            "{} is missing: cargo build --release -p broker-agent",
            bin.display()
        );
    }
    let mut child = Command::new(bin)
        .args(["broker", "--listen", listen, "--data-dir"])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn,openraft=off")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut listeners = Vec::new();
    let line = loop {
        let line = lines.next().context("no address")??;
        // "tideway broker listener NAME PROTOCOL on ADDR advertised as HOST:PORT"
        match line.strip_prefix("tideway broker listener ") {
            Some(rest) => {
                let name = rest.split(' ').next().context("listener name")?;
                let addr = rest.rsplit(' ').next().context("listener address")?;
                listeners.push((name.to_owned(), addr.to_owned()));
            }
            None => break line,
        }
    };
    let bootstrap = line.split(' ').nth(4).context("address")?.to_owned();
    Ok(Broker {
        child,
        bootstrap,
        listeners,
    })
}

/// A free loopback port below the ephemeral range.
#[allow(dead_code)]
fn port() -> anyhow::Result<u16> {
    (21_000..32_000)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .ok_or_else(|| anyhow::anyhow!("no free port"))
}

/// Three brokers of one cluster (one metadata quorum) on this machine.
#[allow(dead_code)]
pub fn start_cluster(dir: &Path) -> anyhow::Result<Vec<Broker>> {
    let mut ports = Vec::new();
    while ports.len() < 6 {
        let p = port()?;
        // Hold each port until all are chosen, so none is picked twice.
        ports.push((p, TcpListener::bind(("127.0.0.1", p))?));
    }
    let voters: Vec<String> = (0..3)
        .map(|i| format!("\"{}@127.0.0.1:{}\"", i + 1, ports[3 + i].0))
        .collect();
    let mut configs = Vec::new();
    for i in 0..3 {
        let config = dir.join(format!("broker-{}.toml", i + 1));
        std::fs::write(
            &config,
            format!(
                "node-id = {}\ncluster-id = \"bench\"\n[cluster]\nvoters = [{}]\ncontroller-listen = \"127.0.0.1:{}\"\n",
                i + 1,
                voters.join(", "),
                ports[3 + i].0
            ),
        )?;
        configs.push(config);
    }
    let listens: Vec<String> = (0..3)
        .map(|i| format!("127.0.0.1:{}", ports[i].0))
        .collect();
    drop(ports);
    (0..3)
        .map(|i| {
            let config = configs[i].to_str().unwrap_or_default();
            start_broker_with(
                &dir.join(format!("broker-{}", i + 1)),
                &listens[i],
                &["--config", config],
            )
        })
        .collect()
}
