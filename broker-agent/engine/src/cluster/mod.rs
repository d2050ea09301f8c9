//! Cluster mode: the metadata quorum. The voters among a cluster's brokers run
//! Raft (the `openraft` crate) over a replicated metadata log, KRaft-style; the Raft
//! leader is the cluster's controller. Every broker applies the committed log to the same
//! [`ClusterImage`] and sees each new image through a watch channel. Any broker can
//! propose a command: a broker that is not the controller forwards it there.

pub mod image;
pub mod liveness;
pub mod network;
pub mod reassign;
pub mod store;
pub mod sync;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Cursor,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use openraft::{error::ClientWriteError, BasicNode, Config, Raft, ServerState};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use self::{
    image::{ClusterImage, Command, Outcome},
    network::{Network, Reply, Request},
    store::{LogStore, StateMachine},
};

openraft::declare_raft_types!(
    /// The quorum's Raft types: metadata commands in, outcomes out.
    pub TypeConfig:
        D = Command,
        R = Outcome,
);

/// How long a proposal may wait for a controller (an election in progress).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the controller's own decisions may take to commit.
const PROPOSE_AS_CONTROLLER_TIMEOUT: Duration = Duration::from_secs(2);

/// This broker's member of the metadata quorum.
pub struct MetadataQuorum {
    pub node_id: u64,
    /// The cluster id every quorum message carries, and the quorum's TLS.
    pub transport: network::Transport,
    /// Heartbeats heard (on the controller) and this broker's own stopping flag.
    pub liveness: Arc<liveness::Liveness>,
    voters: BTreeMap<u64, String>,
    raft: Raft<TypeConfig>,
    image: watch::Receiver<Arc<ClusterImage>>,
    server: JoinHandle<()>,
    /// This process's run: the image has caught up once it holds this broker's
    /// registration with it.
    pub incarnation: uuid::Uuid,
}

/// Raft timing: heartbeats every 100 ms, elections after 0.5-1 s of silence, so a
/// controller lost with its broker is replaced within about a second.
fn raft_config() -> anyhow::Result<Arc<Config>> {
    let config = Config {
        cluster_name: "tideway-metadata".into(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1000,
        // Snapshot (and compact the log) every 1000 entries.
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
        max_in_snapshot_log_to_keep: 100,
        ..Config::default()
    };
    Ok(Arc::new(config.validate()?))
}

/// The quorum as one node sees it (DescribeQuorum's view).
#[derive(Clone, Debug)]
pub struct QuorumStatus {
    pub leader: Option<u64>,
    /// The Raft term: Kafka's leader epoch of the metadata partition.
    pub term: u64,
    /// The index after the last entry this node applied (committed entries only).
    pub committed_end: i64,
    /// Each voter's log end as far as this node knows: its own always, the others' only
    /// while it leads (from replication progress).
    pub log_ends: BTreeMap<u64, Option<i64>>,
}

impl MetadataQuorum {
    /// Starts this voter: opens its log and snapshot under `dir`, listens for its peers on
    /// `listener`, and, on first start, initializes the quorum with `voters` (id →
    /// controller address; every voter is given the same map).
    pub async fn start(
        transport: network::Transport,
        node_id: u64,
        listener: TcpListener,
        voters: &BTreeMap<u64, String>,
        dir: &Path,
    ) -> anyhow::Result<MetadataQuorum> {
        let log = LogStore::open(dir)?;
        let (machine, image) = StateMachine::open(dir)?;
        let network = Network {
            transport: transport.clone(),
        };
        let raft = Raft::new(node_id, raft_config()?, network, log, machine).await?;
        let forward = {
            let raft = raft.clone();
            move |command: Command| {
                let raft = raft.clone();
                async move { propose_locally(&raft, command).await }
            }
        };
        let liveness = Arc::new(liveness::Liveness::default());
        let server = tokio::spawn(network::serve(
            transport.clone(),
            listener,
            raft.clone(),
            forward,
            liveness.clone(),
        ));
        if !raft.is_initialized().await? {
            tokio::spawn(initialize(raft.clone(), node_id, voters.clone()));
        }
        Ok(MetadataQuorum {
            node_id,
            transport,
            liveness,
            voters: voters.clone(),
            raft,
            image,
            server,
            incarnation: uuid::Uuid::new_v4(),
        })
    }

    /// Whether this broker's image has caught up with the quorum since the process started:
    /// it holds the registration this run made. Until then the local log may be stale
    /// (after a restart it can still name this broker the leader of partitions it lost).
    pub fn caught_up(&self) -> bool {
        self.holds_this_run(&self.image())
    }

    /// Whether `image` holds the registration this run of the process made.
    pub fn holds_this_run(&self, image: &ClusterImage) -> bool {
        let me = self.node_id as i32;
        image
            .brokers
            .get(&me)
            .is_some_and(|b| b.incarnation == Some(self.incarnation))
    }

    /// The latest applied metadata image.
    pub fn image(&self) -> Arc<ClusterImage> {
        self.image.borrow().clone()
    }

    /// A receiver that sees every new image.
    pub fn watch(&self) -> watch::Receiver<Arc<ClusterImage>> {
        self.image.clone()
    }

    /// The controller's node id, if one is known.
    pub fn controller(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn is_controller(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// The controller listener of voter `id`.
    pub fn voter_address(&self, id: u64) -> Option<String> {
        self.voters.get(&id).cloned()
    }

    /// What this node knows of the quorum now, for DescribeQuorum.
    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
        let own_end = m.last_log_index.map_or(0, |i| i as i64 + 1);
        let log_ends = voters
            .iter()
            .map(|id| {
                let end = if *id == self.node_id {
                    Some(own_end)
                } else {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(id))
                        .map(|matched| matched.map_or(0, |l| l.index as i64 + 1))
                };
                (*id, end)
            })
            .collect();
        QuorumStatus {
            leader: m.current_leader,
            term: m.current_term,
            committed_end: m.last_applied.map_or(0, |l| l.index as i64 + 1),
            log_ends,
        }
    }

    /// Voters of the quorum.
    pub fn voters(&self) -> BTreeSet<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Commits `command` through the controller and returns what applying it did. Waits
    /// through elections for up to 15 s.
    pub async fn propose(&self, command: Command) -> Result<Outcome, String> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        let mut backoff =
            crate::backoff::Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            let attempt = match self.raft.client_write(command.clone()).await {
                Ok(r) => return Ok(r.data),
                Err(openraft::error::RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    match f.leader_node {
                        Some(node) => forward(&self.transport, &node.addr, &command).await,
                        None => Err("no controller elected yet".to_owned()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            match attempt {
                Ok(outcome) => return Ok(outcome),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "the metadata quorum did not commit the change: {e}"
                    ))
                }
                Err(e) => {
                    tracing::debug!(error = %e, "proposal not committed yet; retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    /// Commits `command` only if this member is the controller, once, without forwarding
    /// or retrying (for the controller's own decisions, which a successor must remake).
    pub async fn propose_as_controller(&self, command: Command) -> Result<Outcome, String> {
        match tokio::time::timeout(
            PROPOSE_AS_CONTROLLER_TIMEOUT,
            propose_locally(&self.raft, command),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err("not committed in time".to_owned()),
        }
    }

    /// Stops this member (as a broker shutting down or dying would).
    pub async fn shutdown(&self) {
        self.server.abort();
        let _ = self.raft.shutdown().await;
    }
}

/// How long a voter other than the lowest-numbered one waits for the quorum to form
/// before it initializes the quorum itself (the lowest may be down).
const INITIALIZE_FALLBACK: Duration = Duration::from_secs(5);

/// First start of a quorum: the voter with the lowest node id initializes it with the
/// membership; the others normally just join when it contacts them. Voters initializing
/// at the same moment trip openraft's debug assertions (two leaders in one term), so the
/// others only initialize after a pause in which nobody reached them.
async fn initialize(raft: Raft<TypeConfig>, node_id: u64, voters: BTreeMap<u64, String>) {
    let lowest = voters.keys().next().copied() == Some(node_id);
    if !lowest {
        tokio::time::sleep(INITIALIZE_FALLBACK).await;
        if raft.is_initialized().await.unwrap_or(true) {
            return;
        }
    }
    let members: BTreeMap<u64, BasicNode> = voters
        .iter()
        .map(|(id, addr)| (*id, BasicNode::new(addr)))
        .collect();
    if let Err(e) = raft.initialize(members).await {
        tracing::debug!(error = %e, "metadata quorum already initialized");
    }
}

/// Starts cluster mode for `broker`: the quorum member (its log under
/// `<data-dir>/__cluster_metadata`), the task that follows the image, and the broker's
/// registration (retried until a controller commits it).
pub async fn join(
    broker: &Arc<crate::broker::Broker>,
    membership: &crate::config::ClusterMembership,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(membership.controller_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", membership.controller_listen))?;
    let dir = broker.config.data_dir.join("__cluster_metadata");
    let node_id = broker.config.node_id as u64;
    let quorum = Arc::new(
        MetadataQuorum::start(
            network::Transport::new(&broker.cluster_id, quorum_tls(&broker.config)?),
            node_id,
            listener,
            &membership.voters,
            &dir,
        )
        .await?,
    );
    broker.join_quorum(quorum.clone());
    tokio::spawn(sync::follow(broker.clone(), quorum.watch()));
    tokio::spawn(crate::replication::fetcher::run(
        broker.clone(),
        quorum.clone(),
    ));
    tokio::spawn(liveness::heartbeat(quorum.clone(), broker.config.node_id));
    tokio::spawn(liveness::watch_brokers(
        quorum.clone(),
        membership.session_timeout,
    ));
    tokio::spawn(lead_partitions(broker.clone(), membership.replica_lag_max));
    let register = Command::RegisterBroker {
        id: broker.config.node_id,
        host: broker.config.advertised.0.clone(),
        port: broker.config.advertised.1,
        rack: membership.rack.clone(),
        listeners: broker
            .config
            .listeners
            .iter()
            .map(|l| (l.name.clone(), l.advertised_address()))
            .collect(),
        incarnation: Some(quorum.incarnation),
    };
    tokio::spawn(async move {
        let mut backoff =
            crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        loop {
            match quorum.propose(register.clone()).await {
                Ok(_) => {
                    tracing::info!(node_id, "registered with the cluster");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register with the cluster yet");
                    backoff.wait().await;
                }
            }
        }
    });
    tracing::info!(node_id, voters = ?membership.voters, "cluster mode: joined the metadata quorum");
    Ok(())
}

/// The leader side of replication, on a timer: high watermarks and ISR shrinks.
async fn lead_partitions(broker: Arc<crate::broker::Broker>, max_lag: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        crate::replication::leader::tick(&broker, max_lag);
    }
}

/// Mutual TLS for the quorum when brokers replicate over mutual TLS (the main listener
/// is SSL with client certificates required): the broker's certificate both ways.
fn quorum_tls(
    config: &crate::config::BrokerConfig,
) -> anyhow::Result<Option<(tokio_rustls::TlsAcceptor, tokio_rustls::TlsConnector)>> {
    use crate::{config::SecurityProtocol, security::tls::ClientAuth};
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    if config.protocol != SecurityProtocol::Ssl || tls.client_auth != ClientAuth::Required {
        return Ok(None);
    }
    let acceptor = tls
        .server_config_with(ClientAuth::Required)
        .map_err(anyhow::Error::msg)?;
    let connector = tls.client_config().map_err(anyhow::Error::msg)?;
    Ok(Some((
        tokio_rustls::TlsAcceptor::from(acceptor),
        tokio_rustls::TlsConnector::from(connector),
    )))
}

/// Commits on this node if it is the controller; errors otherwise (the caller retries).
async fn propose_locally(raft: &Raft<TypeConfig>, command: Command) -> Result<Outcome, String> {
    raft.client_write(command)
        .await
        .map(|r| r.data)
        .map_err(|e| e.to_string())
}

async fn forward(
    transport: &network::Transport,
    addr: &str,
    command: &Command,
) -> Result<Outcome, String> {
    match network::call(
        transport,
        addr,
        Request::Propose(command.clone()),
        Duration::from_secs(5),
    )
    .await
    {
        Ok(Reply::Proposed(r)) => r,
        Ok(_) => Err(format!("{addr} answered a proposal with something else")),
        Err(e) => Err(format!("cannot reach the controller at {addr}: {e}")),
    }
}

#[cfg(test)]
mod tests;
