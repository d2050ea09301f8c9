//! One standalone broker of the bundled engine (`broker-agent broker`) on loopback, with
//! its data in a temporary directory: the engine side of the differential tests against
//! Apache Kafka. Dropped, it stops.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context;

use crate::{binary, free_port, Process};

/// A running engine broker.
pub struct EngineBroker {
    _process: Process,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

impl EngineBroker {
    /// Starts a broker with `extra` flags; returns once clients can connect.
    pub fn start(extra: &[&str]) -> anyhow::Result<EngineBroker> {
        let dir = tempfile::tempdir()?;
        let bootstrap = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary("broker-agent")?)
            .args(["broker", "--listen", &bootstrap, "--data-dir"])
            .arg(dir.path().join("data"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the engine")?;
        let mut process = Process {
            child,
            name: "engine broker".into(),
        };
        process.until_listening(&bootstrap, Duration::from_secs(20))?;
        Ok(EngineBroker {
            _process: process,
            bootstrap,
            _dir: dir,
        })
    }
}
