//! A `broker-agent broker` process for benchmarks: the release binary beside the
//! benchmark's own, on a fresh port, killed when dropped.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{bail, Context};

pub struct Broker {
    child: Child,
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
