//! The end-to-end harness: starts the real binaries and the real servers the suites use
//! (a fresh PostgreSQL database, slapd, Ceph, NFS-Ganesha, the control plane, Chromium
//! through chromedriver), hosts in network namespaces, and stops them when dropped.

pub mod browser;
pub mod differences;
pub mod engine_broker;
pub mod history;
pub mod java_client;
pub mod netns;
pub mod platform;
pub mod prometheus;
pub mod reference_kafka;
pub mod slapd;
pub mod storage_servers;

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context};

/// The directory holding the workspace binaries: `TIDEWAY_BIN_DIR`, or the target directory
/// this test runs from.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TIDEWAY_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .to_path_buf()
}

/// A path to a workspace binary, checked to exist.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(name);
    if !path.exists() {
        bail!(
            "{} is missing; run `cargo build --bins` first (./tideway test does)",
            path.display()
        );
    }
    Ok(path)
}

/// A free TCP port on 127.0.0.1 (for servers that cannot listen on port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `n` distinct free ports: every listener is held until all are picked, so no two calls
/// can hand out the same port (as two `free_port` calls in a row sometimes do).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// A fresh database on the PostgreSQL named by `DATABASE_URL`, dropped afterwards.
pub struct Database {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl Database {
    pub async fn create() -> anyhow::Result<Database> {
        let admin_url = std::env::var("DATABASE_URL")
            .context("DATABASE_URL must name a PostgreSQL server (./tideway test starts one)")?;
        let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await?;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let mut url = url::Url::parse(&admin_url)?;
        url.set_path(&name);
        Ok(Database {
            admin_url,
            url: url.to_string(),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Best effort on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .ok()?;
                sqlx::Executor::execute(
                    &mut conn,
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                )
                .await
                .ok()
            })
        })
        .join();
    }
}

/// A child process killed when dropped.
pub struct Process {
    pub child: Child,
    pub name: String,
}

impl Process {
    /// Waits until something accepts connections on `addr`; an error when the process
    /// exits first or `within` passes.
    pub fn until_listening(
        &mut self,
        addr: &str,
        within: std::time::Duration,
    ) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + within;
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited at start with {status}", self.name);
            }
            if std::time::Instant::now() > deadline {
                bail!("{} did not listen on {addr} within {within:?}", self.name);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first platform admin's password in control planes the harness starts.
pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// A running `control-plane serve` on its own database and a port of its own.
pub struct ControlPlane {
    pub url: String,
    pub process: Process,
    pub db: Database,
    flags: Vec<String>,
}

impl ControlPlane {
    /// Starts the real binary with `extra` flags, on port 0, and waits until it is ready.
    pub async fn start(extra: &[&str]) -> anyhow::Result<ControlPlane> {
        Self::start_listening("127.0.0.1:0", extra).await
    }

    /// The same on another listen address (`0.0.0.0:0` for agents in namespaces).
    pub async fn start_listening(listen: &str, extra: &[&str]) -> anyhow::Result<ControlPlane> {
        let db = Database::create().await?;
        let mut flags: Vec<String> = vec!["--listen".into(), listen.into()];
        flags.extend(extra.iter().map(|f| f.to_string()));
        let (url, process) = Self::spawn(&db.url, &flags).await?;
        Ok(ControlPlane {
            url,
            process,
            db,
            flags,
        })
    }

    /// Kills the process (SIGKILL) and starts a new one on the same database and flags
    /// (at a new address).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        (self.url, self.process) = Self::spawn(&self.db.url, &self.flags).await?;
        Ok(())
    }

    async fn spawn(db_url: &str, flags: &[String]) -> anyhow::Result<(String, Process)> {
        let mut child = Command::new(binary("control-plane")?)
            .arg("serve")
            .args(["--database-url", db_url])
            .args([
                "--jwt-secret",
                "e2e-secret-e2e-secret-e2e-secret-e2e-secret",
            ])
            .args(["--admin-password", ADMIN_PASSWORD])
            .args(flags)
            // A sealing key of its own, apart from the signing secret.
            .env("TIDEWAY_SEAL_KEYS", "e2e-sealing-key-e2e-sealing-key-e2e")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("failed to start control-plane")?;
        let stdout = child.stdout.take().context("stdout")?;
        let process = Process {
            child,
            name: "control-plane".into(),
        };
        let line = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            // Keep draining so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            first
        })
        .await?;
        let line = match line {
            Some(Ok(l)) => l,
            _ => bail!("control-plane exited before it listened"),
        };
        let url = line.rsplit(' ').next().context("listen line")?.to_owned();
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{url}/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok((url, process));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("control-plane at {url} never became ready")
    }

    /// A typed API client (no token yet).
    pub fn client(&self) -> tideway_api::client::Client {
        tideway_api::client::Client::new(&self.url)
    }

    /// A client logged in as the first platform admin.
    pub async fn admin(&self) -> anyhow::Result<tideway_api::client::Client> {
        Ok(self.client().login("admin", ADMIN_PASSWORD).await?)
    }
}

/// Runs a command and fails with its output when it does not succeed.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `broker-agent run` as host `name` against the control plane at `url`.
pub fn start_agent(
    url: &str,
    token: &str,
    name: &str,
    root: &std::path::Path,
) -> anyhow::Result<Process> {
    start_agent_with(url, token, name, root, "19100-19199")
}

/// The same with the ports brokers may use (`FIRST-LAST`).
pub fn start_agent_with(
    url: &str,
    token: &str,
    name: &str,
    root: &std::path::Path,
    ports: &str,
) -> anyhow::Result<Process> {
    start_agent_args(url, token, name, root, ports, &[])
}

/// The same with extra flags (e.g. `--storage local-ssd=loop:DIR`).
pub fn start_agent_args(
    url: &str,
    token: &str,
    name: &str,
    root: &std::path::Path,
    ports: &str,
    extra: &[&str],
) -> anyhow::Result<Process> {
    start_agent_on(None, url, token, name, root, ports, extra)
}

/// The same on a host of its own: run inside `ns` (if any), brokers advertised at the
/// namespace's address.
pub fn start_agent_on(
    ns: Option<&netns::Netns>,
    url: &str,
    token: &str,
    name: &str,
    root: &std::path::Path,
    ports: &str,
    extra: &[&str],
) -> anyhow::Result<Process> {
    let exe = binary("broker-agent")?;
    let (mut cmd, address) = match ns {
        Some(ns) => (
            ns.command(exe.to_str().context("utf8 path")?),
            ns.ip.as_str(),
        ),
        None => (Command::new(exe), "127.0.0.1"),
    };
    let child = cmd
        .args([
            "run",
            "--control-plane",
            url,
            "--name",
            name,
            "--address",
            address,
        ])
        .arg("--data-root")
        .arg(root)
        .args(["--labels", &format!("rack={name}"), "--port-range", ports])
        .args(extra)
        .env("TIDEWAY_AGENT_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("failed to start broker-agent run")?;
    Ok(Process {
        child,
        name: format!("agent {name}"),
    })
}

/// The spec of a 1-broker cluster on 1 GiB of local storage, as the end-to-end tests and
/// benchmarks request it.
pub fn one_broker_spec() -> tideway_api::clusters::ClusterSpec {
    use tideway_api::clusters::{ClusterSpec, HardwareProfile, StorageBackend};
    ClusterSpec {
        security: tideway_api::clusters::ClusterSecurity::Plaintext,
        broker_count: Some(1),
        storage_backend: StorageBackend::LocalSsd,
        storage_gib: 1,
        hardware_profile: HardwareProfile::Virtual,
        topic_defaults: None,
        auto_create_topics: false,
    }
}
