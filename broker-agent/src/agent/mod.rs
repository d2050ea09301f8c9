//! `broker-agent run`: registers this host with the control plane, then loops — heartbeat,
//! fetch the desired state when its generation moved, apply it, report what was applied —
//! retrying with backoff whenever the control plane cannot be reached. The data path never
//! depends on the control plane being up.

mod broker_process;
mod broker_security;
mod host;
mod metrics;
mod probe;
mod supervisor;
mod volumes;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use clap::Args;
use tideway_api::{
    agents::{Heartbeat, PortRange, RegisterHost},
    client::{Client, ClientError},
    clusters::HardwareProfile,
    Generation, HostId,
};

use self::{
    supervisor::Supervisor,
    volumes::{LocalLayout, Storage},
};

/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Flags of `broker-agent run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Control plane URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "TIDEWAY_CONTROL_PLANE")]
    control_plane: String,
    /// File holding the agent token a platform admin issued (mode 0600 or stricter). The
    /// token may come from the environment variable TIDEWAY_AGENT_TOKEN instead; it is
    /// never taken on the command line, where `ps` would show it to every local user.
    #[arg(long, env = "TIDEWAY_AGENT_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// This host's unique name.
    #[arg(long)]
    name: String,
    /// Address clients reach this host's brokers at.
    #[arg(long)]
    address: String,
    /// Directory for the agent's own state.
    #[arg(long)]
    data_root: PathBuf,
    /// A storage backend this host serves, BACKEND=LOCATION (repeatable): local-ssd=PATH
    /// (a directory per broker), local-ssd=loop:PATH (an ext4-formatted loop device per
    /// broker), ceph-rbd=CONF,POOL[,attach=auto|krbd|nbd|fuse][,id=USER][,fs=ext4|xfs],
    /// nfs=SERVER:/EXPORT[,MOUNT-OPTION...]; default local-ssd under the data root.
    #[arg(long = "storage")]
    storage: Vec<String>,
    /// Ports brokers may listen on, FIRST-LAST.
    #[arg(long, default_value = "19092-19191")]
    port_range: String,
    /// physical or virtual.
    #[arg(long, default_value = "virtual")]
    profile: String,
    /// Labels, k=v,k=v (e.g. rack=r1).
    #[arg(long, default_value = "")]
    labels: String,
    /// Address to serve the agent's Prometheus metrics on (`/metrics`; port 0 picks one).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
}

/// The validated settings of an agent.
struct Agent {
    client: Client,
    registration: RegisterHost,
    storage: Vec<Storage>,
    data_root: PathBuf,
    metrics_listen: Option<std::net::SocketAddr>,
    metrics: std::sync::Arc<metrics::AgentMetrics>,
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), if readable.
fn ephemeral_ports() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Whether broker ports in `range` may be taken as the local end of outgoing connections.
fn overlaps_ephemeral(range: &PortRange, ephemeral: (u16, u16)) -> bool {
    range.first <= ephemeral.1 && ephemeral.0 <= range.last
}

fn parse_port_range(text: &str) -> Result<PortRange, String> {
    let (a, b) = text
        .split_once('-')
        .ok_or_else(|| format!("--port-range {text:?} must be FIRST-LAST"))?;
    let (first, last): (u16, u16) = (
        a.trim()
            .parse()
            .map_err(|_| format!("--port-range: {a:?} is not a port"))?,
        b.trim()
            .parse()
            .map_err(|_| format!("--port-range: {b:?} is not a port"))?,
    );
    if first == 0 || first > last {
        return Err(format!(
            "--port-range {text:?}: FIRST must be at least 1 and not above LAST"
        ));
    }
    Ok(PortRange { first, last })
}

/// The environment variable that may carry the agent token.
const TOKEN_ENV: &str = "TIDEWAY_AGENT_TOKEN";

/// Reads the agent token from `file`, or else from `TIDEWAY_AGENT_TOKEN`. A file that other
/// users could read is refused, as ssh refuses such a key.
fn read_token(file: Option<&std::path::Path>) -> Result<String, String> {
    let token = match file {
        Some(path) => {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "--token-file {}: mode {mode:o} lets other users read the token; chmod 600 it",
                    path.display()
                ));
            }
            std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: {e}", path.display()))?
        }
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            format!("give the agent token with --token-file FILE or the {TOKEN_ENV} environment variable")
        })?,
    };
    let token = token.trim();
    if token.is_empty() {
        return Err("the agent token is empty".into());
    }
    Ok(token.to_owned())
}

fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("label {p:?} must be k=v"))
        })
        .collect()
}

impl RunArgs {
    fn into_agent(self) -> Result<Agent, String> {
        let token = read_token(self.token_file.as_deref())?;
        let mut storage: Vec<Storage> = self
            .storage
            .iter()
            .map(|s| volumes::parse_storage(s, &self.data_root))
            .collect::<Result<_, _>>()?;
        if storage.is_empty() {
            storage.push(std::sync::Arc::new(LocalLayout::Directory(
                self.data_root.join("volumes"),
            )));
        }
        std::fs::create_dir_all(&self.data_root)
            .map_err(|e| format!("cannot create {}: {e}", self.data_root.display()))?;
        let registration = RegisterHost {
            name: self.name,
            address: self.address,
            hardware_profile: self
                .profile
                .parse::<HardwareProfile>()
                .map_err(|e| format!("--profile: {e}"))?,
            labels: parse_labels(&self.labels)?,
            capacity: host::capacity(),
            storage: Vec::new(),
            port_range: {
                let range = parse_port_range(&self.port_range)?;
                if let Some(eph) = ephemeral_ports().filter(|e| overlaps_ephemeral(&range, *e)) {
                    tracing::warn!(
                        port_range = %self.port_range,
                        ephemeral = %format!("{}-{}", eph.0, eph.1),
                        "the broker port range overlaps the kernel's ephemeral ports: an \
                         outgoing connection may hold a broker's port when it starts"
                    );
                }
                range
            },
            agent_version: env!("CARGO_PKG_VERSION").into(),
        };
        Ok(Agent {
            client: Client::agent(self.control_plane.trim_end_matches('/'), token),
            registration,
            storage,
            data_root: self.data_root,
            metrics_listen: self.metrics_listen,
            metrics: Default::default(),
        })
    }
}

impl Agent {
    fn storage_report(&self) -> Vec<tideway_api::agents::StorageCapacity> {
        self.storage
            .iter()
            .filter_map(|s| {
                s.capacity()
                    .map_err(|e| tracing::warn!(error = %e, "cannot read storage capacity"))
                    .ok()
            })
            .collect()
    }

    async fn register(&self) -> (HostId, Duration) {
        let mut backoff = Duration::from_millis(500);
        loop {
            let registration = RegisterHost {
                storage: self.storage_report(),
                ..self.registration.clone()
            };
            match self.client.register(&registration).await {
                Ok(r) => {
                    tracing::info!(host_id = %r.host_id, "registered with the control plane");
                    return (r.host_id, Duration::from_secs(r.heartbeat_interval_secs));
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "registration failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Fetches the desired state and brings the brokers to it. Returns the generation
    /// applied, or `None` when it could not be applied yet (retried on the next beat).
    async fn apply(
        &self,
        host: HostId,
        supervisor: &mut Supervisor,
    ) -> Result<Option<Generation>, ClientError> {
        let desired = self.client.desired(host).await?;
        match supervisor.apply(&desired.brokers) {
            Ok(()) => Ok(Some(desired.generation)),
            Err(e) => {
                tracing::warn!(error = %e, "could not apply the desired state yet");
                Ok(None)
            }
        }
    }

    async fn run(self) -> anyhow::Result<()> {
        let mut supervisor = Supervisor::new(
            &self.data_root,
            self.storage.clone(),
            self.registration.address.clone(),
        )?;
        if let Some(addr) = self.metrics_listen {
            metrics::serve(self.metrics.clone(), addr).await?;
        }
        let mut sampler = host::HostSampler::default();
        let (mut host, mut interval) = self.register().await;
        let mut applied: Option<Generation> = None;
        let mut backoff = interval;
        loop {
            supervisor.tick();
            let brokers = supervisor.observe().await;
            let running = brokers.iter().filter(|b| b.running).count() as u32;
            let host_metrics = sampler.sample(running);
            let storage = self.storage_report();
            self.metrics.observe(&host_metrics, &storage);
            let hb = Heartbeat {
                observed_generation: applied,
                storage,
                brokers,
                metrics: Some(host_metrics),
            };
            let outcome = match self.client.heartbeat(host, &hb).await {
                Ok(ack) if applied != Some(ack.desired_generation) => self
                    .apply(host, &mut supervisor)
                    .await
                    .map(|g| applied = g.or(applied)),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => backoff = interval,
                Err(e) if e.status() == Some(404) => {
                    tracing::warn!("the control plane forgot this host; registering again");
                    (host, interval) = self.register().await;
                    applied = None;
                }
                Err(e) => {
                    self.metrics.heartbeat_failed();
                    tracing::warn!(error = %e, retry_in = ?backoff, "heartbeat failed");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            supervisor.tick();
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let agent = args.into_agent().map_err(anyhow::Error::msg)?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        tokio::select! {
            r = agent.run() => r,
            _ = crate::broker_cmd::wait_for_signal() => {
                tracing::info!("stopping; brokers keep running");
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_inside_the_ephemeral_range_are_recognised() {
        let range = |first, last| PortRange { first, last };
        let linux = (32768, 60999);
        assert!(!overlaps_ephemeral(&range(19092, 19191), linux));
        assert!(overlaps_ephemeral(&range(32000, 33000), linux));
        assert!(overlaps_ephemeral(&range(40000, 40100), linux));
        assert!(!overlaps_ephemeral(&range(61000, 61100), linux));
    }

    #[test]
    fn flags_parse_with_clear_errors() {
        assert_eq!(
            parse_port_range("19000-19010"),
            Ok(PortRange {
                first: 19000,
                last: 19010
            })
        );
        assert!(parse_port_range("19010-19000").is_err());
        assert!(parse_port_range("a-b")
            .expect_err("bad")
            .contains("not a port"));
        assert_eq!(parse_labels("rack=r1, zone=z").expect("labels").len(), 2);
        assert!(parse_labels("rack").is_err());
        assert!(parse_labels("").expect("empty").is_empty());
    }
}
