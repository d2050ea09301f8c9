//! `broker-agent broker`: flags and an optional TOML file become a `BrokerConfig`; the
//! broker serves until SIGINT or SIGTERM, then flushes and marks its stop clean.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use tideway_engine::{
    broker::Broker,
    config::{
        default_sasl_mechanisms, parse_host_port, BrokerConfig, FileConfig,
        DEFAULT_MAX_REQUEST_BYTES, DEFAULT_RETENTION_CHECK,
    },
    groups::GroupConfig,
    log::config::LogConfig,
    server,
};

/// Where a broker listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:9092";
const DEFAULT_NODE_ID: i32 = 1;

/// Flags of `broker-agent broker`; each wins over the same setting in `--config`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Directory holding the logs and metadata (created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:9092; port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HOST:PORT clients are told to connect to (default: the listen address).
    #[arg(long)]
    advertised: Option<String>,
    /// This broker's node id (default 1).
    #[arg(long)]
    node_id: Option<i32>,
    /// Cluster id (generated and kept in the data dir when absent).
    #[arg(long)]
    cluster_id: Option<String>,
    /// Create topics on first use (off by default).
    #[arg(long)]
    auto_create_topics: bool,
    /// How often retention is enforced, e.g. 5m or 500ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    retention_check_interval: Option<Duration>,
    /// How long a new group waits for more members before its first rebalance (default 3s).
    #[arg(long, value_parser = humantime::parse_duration)]
    group_initial_rebalance_delay: Option<Duration>,
    /// Address to serve Prometheus metrics on (`/metrics`; port 0 picks a free port).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// TOML file with the same settings and `[topic-defaults]` in Kafka's names.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl BrokerArgs {
    /// The settings from flags over the file over defaults, checked.
    fn resolve(self, bound: Option<SocketAddr>) -> Result<BrokerConfig, String> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default"));
        let listen = bound.unwrap_or(listen);
        let data_dir = self
            .data_dir
            .or(file.data_dir.clone())
            .ok_or("--data-dir (or data-dir in --config) is required")?;
        let advertised = match self.advertised.or(file.advertised.clone()) {
            Some(a) => parse_host_port(&a)?,
            None if listen.ip().is_unspecified() => {
                return Err(
                    "listening on all addresses: set --advertised HOST:PORT for clients".into(),
                )
            }
            None => (listen.ip().to_string(), listen.port()),
        };
        let log = LogConfig::default()
            .with_overrides(&file.topic_default_strings())
            .map_err(|e| format!("[topic-defaults]: {e}"))?;
        let node_id = self.node_id.or(file.node_id).unwrap_or(DEFAULT_NODE_ID);
        let cluster = file
            .cluster
            .as_ref()
            .map(|c| c.membership(node_id))
            .transpose()?;
        let max_request_bytes = file.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
        let config = BrokerConfig {
            connections: file.connections.config(max_request_bytes)?,
            storage: file.storage.clone(),
            cluster,
            data_dir,
            listen,
            advertised,
            node_id,
            cluster_id: self.cluster_id.or(file.cluster_id.clone()),
            auto_create_topics: self.auto_create_topics || file.auto_create_topics.unwrap_or(false),
            default_partitions: file.default_partitions.unwrap_or(1),
            max_request_bytes,
            retention_check: self
                .retention_check_interval
                .or(file.retention_check_interval)
                .unwrap_or(DEFAULT_RETENTION_CHECK),
            log,
            group: group_config(self.group_initial_rebalance_delay, &file),
            protocol: file.security_protocol.unwrap_or_default(),
            listeners: file.listeners.clone(),
            tls: file.tls.clone(),
            authorizer: file.authorizer.config(),
            sasl_mechanisms: file
                .sasl_mechanisms
                .clone()
                .unwrap_or_else(default_sasl_mechanisms),
            bootstrap_credentials: file.bootstrap_credentials.clone(),
            kerberos: file.kerberos.clone(),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
        };
        config.validate()?;
        Ok(config)
    }

    fn listen_addr(&self) -> Result<SocketAddr, String> {
        if let Some(l) = self.listen {
            return Ok(l);
        }
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Ok(file
            .listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")))
    }
}

fn group_config(delay: Option<Duration>, file: &FileConfig) -> GroupConfig {
    let defaults = GroupConfig::default();
    GroupConfig {
        initial_rebalance_delay: delay
            .or(file.group_initial_rebalance_delay)
            .unwrap_or(defaults.initial_rebalance_delay),
        min_session_timeout: file
            .group_min_session_timeout
            .unwrap_or(defaults.min_session_timeout),
        ..defaults
    }
}

pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    // The GSSAPI library finds the service key through KRB5_KTNAME; set it while this
    // process still has one thread.
    if let Some(path) = &args.config {
        if let Some(kerberos) = FileConfig::load(path).map_err(anyhow::Error::msg)?.kerberos {
            std::env::set_var("KRB5_KTNAME", format!("FILE:{}", kerberos.keytab.display()));
        }
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listen = args.listen_addr().map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("failed to listen on {listen}: {e}"))?;
        let bound = listener.local_addr()?;
        let mut config = args.resolve(Some(bound)).map_err(anyhow::Error::msg)?;
        let extra = server::bind_listeners(&mut config.listeners).await?;
        for (l, socket) in config.listeners.iter().zip(&extra) {
            // Printed before the main line, which tells the reader that all are up.
            println!(
                "tideway broker listener {} {} on {} advertised as {}",
                l.name,
                l.protocol.name(),
                socket.local_addr()?,
                l.advertised.as_deref().unwrap_or_default()
            );
        }
        let (host, port) = config.advertised.clone();
        let metrics = match config.metrics_listen {
            Some(addr) => Some(tideway_engine::metrics::bind(addr).await?),
            None => None,
        };
        let broker = Broker::open(config)?;
        // The harness and the agent read this line to learn the port.
        println!("tideway broker listening on {bound} advertised as {host}:{port}");
        tracing::info!(%bound, cluster_id = %broker.cluster_id, "broker started");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        if let Some(socket) = metrics {
            let addr = socket.local_addr()?;
            broker.traffic.serving_metrics_on(addr.port());
            println!("tideway broker metrics on http://{addr}/metrics");
            let (b, stop) = (broker.clone(), stopped.clone());
            tokio::spawn(async move {
                if let Err(e) = tideway_engine::metrics::serve(b, socket, stop).await {
                    tracing::warn!(error = %e, "the metrics endpoint stopped");
                }
            });
        }
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        server::serve(broker, listener, extra, stopped).await
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
