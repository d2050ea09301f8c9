//! The TCP side: accept connections on every listener (TLS where the listener's protocol
//! says so), read length-prefixed request frames, answer them in order, and run the
//! background work (flush policy, retention). A malformed or oversized frame closes only
//! its own connection; a throttled client is not read from until its throttle is over.
//! Connections are admitted, timed out and their frames sized by `connections`: a frame's
//! memory is taken from a shared budget and filled as its bytes arrive, so slow or huge
//! frames from many clients cannot grow the broker without bound.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_rustls::TlsAcceptor;

use crate::{
    api::{
        self,
        session::{Listener, Session},
    },
    broker::Broker,
    config::{ListenerConfig, SecurityProtocol},
    connections::{self, Connections},
    security::tls::{principal_of, ClientAuth},
};

/// The most of a frame's memory set aside before its bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often partitions are checked against `flush.ms`.
const FLUSH_TICK: Duration = Duration::from_millis(50);
/// How often group members' sessions are checked.
const SESSION_TICK: Duration = Duration::from_millis(250);
/// How often the traffic counters are written for the agent.
const STATS_TICK: Duration = Duration::from_secs(1);

/// How long a broker stopping gracefully waits for its leaderships to move.
const CONTROLLED_SHUTDOWN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Binds the extra listeners; a listener without an advertised address advertises the
/// address it bound (so port 0 works).
pub async fn bind_listeners(listeners: &mut [ListenerConfig]) -> anyhow::Result<Vec<TcpListener>> {
    let mut bound = Vec::with_capacity(listeners.len());
    for l in listeners.iter_mut() {
        let socket = TcpListener::bind(l.listen).await.map_err(|e| {
            anyhow::anyhow!("listener {}: failed to listen on {}: {e}", l.name, l.listen)
        })?;
        let addr = socket.local_addr()?;
        if l.advertised.is_none() {
            anyhow::ensure!(
                !addr.ip().is_unspecified(),
                "listener {} listens on all addresses: set its advertised HOST:PORT",
                l.name
            );
            l.advertised = Some(addr.to_string());
        }
        l.listen = addr;
        bound.push(socket);
    }
    Ok(bound)
}

/// One listener ready to accept: its socket, what its sessions see, and its TLS.
struct Accepting {
    socket: TcpListener,
    listener: Arc<Listener>,
    tls: Option<TlsAcceptor>,
    limits: Arc<Connections>,
}

/// Serves the main listener and `extra` (bound from `config.listeners`, in order) until
/// `shutdown` turns true, then (in cluster mode) hands its partition leaderships over
/// while still answering, flushes and marks the stop clean.
pub async fn serve(
    broker: Arc<Broker>,
    main: TcpListener,
    extra: Vec<TcpListener>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let tls_for = |protocol: SecurityProtocol, client_auth: Option<ClientAuth>| match (
        &broker.config.tls,
        protocol.tls(),
    ) {
        (Some(t), true) => t
            .server_config_with(client_auth.unwrap_or(t.client_auth))
            .map(|c| Some(TlsAcceptor::from(c)))
            .map_err(anyhow::Error::msg),
        _ => Ok(None),
    };
    let main_listener = Listener {
        name: broker.config.protocol.name().to_owned(),
        protocol: broker.config.protocol,
    };
    let mut listeners = vec![(main, main_listener, tls_for(broker.config.protocol, None)?)];
    for (socket, l) in extra.into_iter().zip(&broker.config.listeners) {
        let listener = Listener {
            name: l.name.clone(),
            protocol: l.protocol,
        };
        listeners.push((socket, listener, tls_for(l.protocol, l.client_auth)?));
    }
    if let Some(membership) = broker.config.cluster.clone() {
        crate::cluster::join(&broker, &membership).await?;
    }
    create_bootstrap_credentials(&broker).await?;
    // Connections and background work stop on `stop`, after the controlled shutdown.
    let (stop_tx, stop) = watch::channel(false);
    let background = tokio::spawn(background(broker.clone(), stop.clone()));
    let mut acceptors = tokio::task::JoinSet::new();
    let limits = Arc::new(Connections::new(broker.config.connections.clone()));
    for (socket, listener, tls) in listeners {
        let accepting = Accepting {
            socket,
            tls,
            listener: Arc::new(listener),
            limits: limits.clone(),
        };
        acceptors.spawn(accept(broker.clone(), accepting, stop.clone()));
    }
    let _ = shutdown.wait_for(|s| *s).await;
    if let Some(q) = broker.quorum() {
        crate::cluster::liveness::leave(q, broker.config.node_id, CONTROLLED_SHUTDOWN_PATIENCE)
            .await;
    }
    let _ = stop_tx.send(true);
    acceptors.join_all().await;
    background.abort();
    if let Some(q) = broker.quorum() {
        q.shutdown().await;
    }
    let b = broker.clone();
    api::blocking(move || b.close()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Creates the configured bootstrap credentials that do not exist yet.
async fn create_bootstrap_credentials(broker: &Arc<Broker>) -> anyhow::Result<()> {
    let wanted = broker
        .config
        .bootstrap_credentials
        .iter()
        .map(|c| c.decode().map(|(m, cred)| (c.user.clone(), m, cred)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    for change in broker.security.missing(&wanted) {
        api::authz::change_security(broker, change)
            .await
            .map_err(|(code, e)| {
                anyhow::anyhow!("cannot create a bootstrap credential ({code}): {e}")
            })?;
    }
    Ok(())
}

async fn accept(broker: Arc<Broker>, on: Accepting, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = on.socket.accept() => match accepted {
                Ok((stream, peer)) => {
                    let admitted = match on.limits.admit(peer.ip()) {
                        Ok(admitted) => admitted,
                        Err(refusal) => {
                            broker.traffic.metrics.connection_refused();
                            tracing::warn!(%peer, listener = %on.listener.name, "refusing a connection: {refusal}");
                            drop(stream);
                            continue;
                        }
                    };
                    let b = broker.clone();
                    let stop = stop.clone();
                    let (listener, tls, limits) =
                        (on.listener.clone(), on.tls.clone(), on.limits.clone());
                    tokio::spawn(async move {
                        let _admitted = admitted;
                        open(b, stream, peer, listener, tls, limits, stop).await
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

async fn background(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut flush = tokio::time::interval(FLUSH_TICK);
    let mut retention = tokio::time::interval(broker.config.retention_check);
    let mut sessions = tokio::time::interval(SESSION_TICK);
    let mut stats = tokio::time::interval(STATS_TICK);
    loop {
        tokio::select! {
            _ = stats.tick() => {
                if let Err(e) = broker.traffic.publish(&broker.config.data_dir) {
                    tracing::warn!(error = %e, "cannot write the stats file");
                }
                let b = broker.clone();
                api::blocking(move || b.persist_high_watermarks()).await;
            }
            _ = flush.tick() => {
                let b = broker.clone();
                api::blocking(move || b.flush_due()).await;
            }
            _ = retention.tick() => {
                let b = broker.clone();
                let deleted = api::blocking(move || b.enforce_retention()).await;
                if deleted > 0 {
                    tracing::info!(segments = deleted, "retention deleted segments");
                }
            }
            _ = sessions.tick() => broker.groups.expire_sessions(),
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs the TLS handshake where the listener needs it, then serves the connection.
async fn open(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<Listener>,
    tls: Option<TlsAcceptor>,
    limits: Arc<Connections>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        let session = Session::new(peer, listener, None);
        return connection(broker, stream, session, &limits, shutdown).await;
    };
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            broker.traffic.authentication_failed();
            tracing::warn!(%peer, listener = %listener.name, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, listener = %listener.name, "TLS handshake timed out");
            return;
        }
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(principal_of);
    let session = Session::new(peer, listener, certificate);
    connection(broker, stream, session, &limits, shutdown).await
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    broker: Arc<Broker>,
    stream: S,
    mut session: Session,
    limits: &Connections,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = session.peer;
    let _open = broker.traffic.metrics.connection();
    let (rd, wr) = tokio::io::split(stream);
    let (mut rd, mut wr) = (BufReader::new(rd), BufWriter::new(wr));
    let max = broker.config.max_request_bytes;
    let limit = &limits.config;
    loop {
        let len = tokio::select! {
            len = tokio::time::timeout(limit.idle, rd.read_i32()) => match len {
                Ok(Ok(len)) => len,
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::info!(%peer, idle = ?limit.idle, "closing an idle connection");
                    return;
                }
            },
            _ = shutdown.changed() => return,
        };
        let len = match connections::check_frame(len, session.logged_in(), max) {
            Ok(len) => len,
            Err(refusal) => {
                tracing::warn!(%peer, "closing the connection: {refusal}");
                return;
            }
        };
        // Memory for the frame comes from the shared budget and grows only as its bytes
        // arrive; a frame not sent whole in time closes the connection.
        let _reserved = limits.reserve(len).await;
        let mut body = Vec::with_capacity(len.min(READ_CHUNK));
        let mut frame = (&mut rd).take(len as u64);
        match tokio::time::timeout(limit.frame_read_timeout, frame.read_to_end(&mut body)).await {
            Ok(Ok(n)) if n == len => {}
            Ok(_) => return,
            Err(_) => {
                tracing::warn!(%peer, len, "closing a connection whose frame did not arrive in time");
                return;
            }
        }
        let reply = match api::handle(&broker, &mut session, Bytes::from(body)).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(%peer, "closing the connection: {e}");
                return;
            }
        };
        if let Some(response) = reply.frame {
            if wr.write_all(&response).await.is_err() || wr.flush().await.is_err() {
                return;
            }
        }
        if reply.close {
            return;
        }
        if !reply.throttle.is_zero() {
            broker.traffic.metrics.throttled(reply.throttle);
            tokio::select! {
                _ = tokio::time::sleep(reply.throttle) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
