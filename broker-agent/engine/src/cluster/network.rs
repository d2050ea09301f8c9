//! The quorum's own transport between brokers: length-prefixed JSON frames over TCP on
//! the controller listener — over mutual TLS when the brokers replicate over mutual TLS
//! (each side presents its broker certificate), so only the cluster's brokers can speak
//! for it. Carries Raft's AppendEntries, Vote and InstallSnapshot, and commands a broker
//! forwards to the controller (the Raft leader).

// openraft's trait signatures fix these (large) error types.
#![allow(clippy::result_large_err)]

use std::{sync::Arc, time::Duration};

use openraft::{
    error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable},
    network::{RPCOption, RaftNetwork, RaftNetworkFactory},
    raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    },
    BasicNode, Raft,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{
    image::{Command, Outcome},
    TypeConfig,
};

type NodeId = u64;

/// Who the quorum's connections are for: the cluster, and (mutual TLS) how to prove it.
#[derive(Clone)]
pub struct Transport {
    pub cluster: Arc<str>,
    tls: Option<(TlsAcceptor, TlsConnector)>,
}

impl Transport {
    pub fn new(cluster: &str, tls: Option<(TlsAcceptor, TlsConnector)>) -> Transport {
        Transport {
            cluster: Arc::from(cluster),
            tls,
        }
    }

    async fn connect(&self, addr: &str) -> std::io::Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let Some((_, connector)) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_matches(['[', ']']);
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(Box::new(connector.connect(name, tcp).await?))
    }

    async fn accept(&self, tcp: TcpStream) -> std::io::Result<Box<dyn Stream>> {
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((acceptor, _)) => Ok(Box::new(acceptor.accept(tcp).await?)),
        }
    }
}

/// A connection to or from a peer: TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// Largest frame accepted (a snapshot of a big cluster's metadata fits easily).
const MAX_FRAME: usize = 64 << 20;

/// Every frame names the cluster it belongs to: a broker reusing an old cluster's ports
/// must never take Raft messages meant for that cluster (openraft would follow a foreign
/// leader).
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    cluster: std::borrow::Cow<'a, str>,
    request: Request,
}

#[derive(Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A command for the controller, from a broker that is not it.
    Propose(Command),
    /// A broker's heartbeat to the controller.
    Heartbeat {
        id: i32,
        stopping: bool,
    },
}

#[derive(Serialize, Deserialize)]
pub enum Reply {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Proposed(Result<Outcome, String>),
    HeartbeatAck,
}

async fn write_frame<T: Serialize>(s: &mut Box<dyn Stream>, value: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(value)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    s.write_all(&frame).await
}

async fn read_frame<T: DeserializeOwned>(s: &mut Box<dyn Stream>) -> std::io::Result<T> {
    let len = s.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is too big"
        )));
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// One request to a member of `cluster`, one reply, over a fresh connection.
pub async fn call(
    transport: &Transport,
    addr: &str,
    request: Request,
    timeout: Duration,
) -> std::io::Result<Reply> {
    Link::new(transport, addr).call(request, timeout).await
}

/// A connection to one peer kept across requests (one at a time), so the steady
/// heartbeats and AppendEntries do not open a socket each — which would churn through
/// the ephemeral ports brokers on the same host may want to listen on. Any failure drops
/// the connection; the next request reconnects.
pub struct Link {
    transport: Transport,
    addr: String,
    stream: Option<Box<dyn Stream>>,
}

impl Link {
    pub fn new(transport: &Transport, addr: &str) -> Link {
        Link {
            transport: transport.clone(),
            addr: addr.to_owned(),
            stream: None,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `request` and reads its reply within `timeout`.
    pub async fn call(&mut self, request: Request, timeout: Duration) -> std::io::Result<Reply> {
        let addr = self.addr.clone();
        let envelope = Envelope {
            cluster: std::borrow::Cow::Borrowed(&*self.transport.cluster),
            request,
        };
        let (stream, transport) = (&mut self.stream, &self.transport);
        let exchange = async {
            let s = match stream {
                Some(s) => s,
                None => stream.insert(transport.connect(&addr).await?),
            };
            write_frame(s, &envelope).await?;
            read_frame(s).await
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{addr} did not answer in time"),
            )),
        };
        if result.is_err() {
            self.stream = None;
        }
        result
    }
}

/// Answers quorum requests of `cluster` on `listener` for `raft`; `propose` handles
/// forwarded commands and `liveness` records heartbeats. A connection that speaks for
/// another cluster is closed.
pub async fn serve<F, Fut>(
    transport: Transport,
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    propose: F,
    liveness: Arc<super::liveness::Liveness>,
) where
    F: Fn(Command) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Outcome, String>> + Send,
{
    // Connections end with the server: a stopped member must not keep answering on
    // connections its peers hold open.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let (raft, propose, liveness) = (raft.clone(), propose.clone(), liveness.clone());
        let transport = transport.clone();
        connections.spawn(async move {
            let mut s = match transport.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, "refusing a quorum connection: {e}");
                    return;
                }
            };
            let cluster = transport.cluster.clone();
            while let Ok(envelope) = read_frame::<Envelope>(&mut s).await {
                if *envelope.cluster != *cluster {
                    tracing::warn!(from = %envelope.cluster, "closing a quorum connection of another cluster");
                    break;
                }
                let reply = match envelope.request {
                    Request::Append(r) => Reply::Append(raft.append_entries(r).await),
                    Request::Vote(r) => Reply::Vote(raft.vote(r).await),
                    Request::Snapshot(r) => Reply::Snapshot(raft.install_snapshot(r).await),
                    Request::Propose(c) => Reply::Proposed(propose(c).await),
                    Request::Heartbeat { id, stopping } => {
                        liveness.beat(id, stopping);
                        Reply::HeartbeatAck
                    }
                };
                if write_frame(&mut s, &reply).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Makes a client per peer of `cluster`.
#[derive(Clone)]
pub struct Network {
    pub transport: Transport,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            link: Link::new(&self.transport, &node.addr),
        }
    }
}

/// The client side towards one peer.
pub struct Peer {
    target: NodeId,
    link: Link,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Peer {
    async fn send(
        &mut self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Reply, std::io::Error> {
        self.link.call(request, option.hard_ttl()).await
    }

    fn remote<T, E: std::error::Error>(
        &self,
        r: Result<T, RaftError<NodeId, E>>,
    ) -> RpcResult<T, E> {
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Any failure to reach a peer (refused, no route, timed out) is reported as
/// Unreachable, so openraft backs off instead of retrying in a tight loop.
fn unreachable<E: std::error::Error>(
    e: std::io::Error,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Unreachable(Unreachable::new(&e))
}

fn unexpected<E: std::error::Error>() -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(
        "unexpected reply",
    )))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self
            .send(Request::Append(rpc), &option)
            .await
            .map_err(unreachable)?
        {
            Reply::Append(r) => self.remote(r),
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self
            .send(Request::Snapshot(rpc), &option)
            .await
            .map_err(unreachable)?
        {
            Reply::Snapshot(r) => self.remote(r),
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self
            .send(Request::Vote(rpc), &option)
            .await
            .map_err(unreachable)?
        {
            Reply::Vote(r) => self.remote(r),
            _ => Err(unexpected()),
        }
    }
}
