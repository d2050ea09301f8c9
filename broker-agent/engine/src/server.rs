//! The TCP side: accept connections, read length-prefixed request frames, answer them in
//! order, and run the background work (flush policy, retention). A malformed or oversized
//! frame closes only its own connection.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::{api, broker::Broker};

/// How often partitions are checked against `flush.ms`.
const FLUSH_TICK: Duration = Duration::from_millis(50);
/// How often group members' sessions are checked.
const SESSION_TICK: Duration = Duration::from_millis(250);
/// How often the traffic counters are written for the agent.
const STATS_TICK: Duration = Duration::from_secs(1);

/// How long a broker stopping gracefully waits for its leaderships to move.
const CONTROLLED_SHUTDOWN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `listener` until `shutdown` turns true, then (in cluster mode) hands its
/// partition leaderships over while still answering, flushes and marks the stop clean.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if let Some(membership) = broker.config.cluster.clone() {
        crate::cluster::join(&broker, &membership).await?;
    }
    // Connections and background work stop on `stop`, after the controlled shutdown.
    let (stop_tx, stop) = watch::channel(false);
    let background = tokio::spawn(background(broker.clone(), stop.clone()));
    let acceptor = tokio::spawn(accept(broker.clone(), listener, stop.clone()));
    let _ = shutdown.wait_for(|s| *s).await;
    if let Some(q) = broker.quorum() {
        crate::cluster::liveness::leave(q, broker.config.node_id, CONTROLLED_SHUTDOWN_PATIENCE)
            .await;
    }
    let _ = stop_tx.send(true);
    let _ = acceptor.await;
    background.abort();
    if let Some(q) = broker.quorum() {
        q.shutdown().await;
    }
    let b = broker.clone();
    api::blocking(move || b.close()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn accept(broker: Arc<Broker>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let b = broker.clone();
                    let stop = stop.clone();
                    tokio::spawn(async move { connection(b, stream, peer, stop).await });
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

async fn connection(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (mut rd, mut wr) = (BufReader::new(rd), BufWriter::new(wr));
    let max = broker.config.max_request_bytes;
    loop {
        let len = tokio::select! {
            len = rd.read_i32() => match len {
                Ok(len) => len,
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        if len < 0 || len as usize > max {
            tracing::warn!(%peer, len, max, "closing a connection that sent an invalid or oversized frame");
            return;
        }
        let mut body = vec![0u8; len as usize];
        if rd.read_exact(&mut body).await.is_err() {
            return;
        }
        match api::handle(&broker, peer, Bytes::from(body)).await {
            Ok(Some(response)) => {
                if wr.write_all(&response).await.is_err() || wr.flush().await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%peer, "closing the connection: {e}");
                return;
            }
        }
    }
}
