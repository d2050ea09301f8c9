//! The follower's side of replication: one task per peer broker fetches, with Kafka
//! replica fetches (Fetch with this broker's id as `replica_id`), every partition this
//! broker follows and the peer leads. Before fetching a partition at a new leader epoch it
//! asks the leader where its own last epoch ended (OffsetForLeaderEpoch) and cuts its log
//! there, so records a former leader wrote but never committed do not survive.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use kafka_protocol::{
    messages::{
        fetch_request::{FetchPartition, FetchTopic},
        offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic},
        BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName,
    },
    protocol::StrBytes,
    ResponseError,
};

use crate::client::{ClientSecurity, KafkaConnection};
use crate::{api::blocking, broker::Broker, cluster::MetadataQuorum};

const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 3;
/// How long the leader may hold a replica fetch waiting for data.
const MAX_WAIT_MS: i32 = 500;
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const RESPONSE_MAX_BYTES: i32 = 16 << 20;
/// Pause after a failed exchange before trying again.
/// The first wait after a failure towards a leader, doubling up to `MAX_BACKOFF`.
const BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// (topic, partition) → the leader epoch the log was reconciled with.
type Reconciled = HashMap<(String, i32), i32>;

/// Per-partition request entries grouped by topic, as the Kafka requests carry them.
fn by_topic<P>(entries: Vec<(&str, P)>) -> Vec<(TopicName, Vec<P>)> {
    let mut grouped: HashMap<&str, Vec<P>> = HashMap::new();
    for (topic, entry) in entries {
        grouped.entry(topic).or_default().push(entry);
    }
    grouped
        .into_iter()
        .map(|(t, ps)| (TopicName(StrBytes::from_string(t.to_owned())), ps))
        .collect()
}

/// Starts a fetcher for every peer broker of the cluster, as peers appear.
pub async fn run(broker: Arc<Broker>, quorum: Arc<MetadataQuorum>) {
    let me = broker.config.node_id;
    let mut started = HashSet::new();
    let mut images = quorum.watch();
    loop {
        let peers: Vec<i32> = images.borrow_and_update().brokers.keys().copied().collect();
        for peer in peers.into_iter().filter(|p| *p != me) {
            if started.insert(peer) {
                tokio::spawn(follow_leader(broker.clone(), quorum.clone(), peer));
            }
        }
        if images.changed().await.is_err() {
            return;
        }
    }
}

/// The partitions `leader` leads that this broker follows: (topic, partition, epoch).
fn followed(broker: &Broker, quorum: &MetadataQuorum, leader: i32) -> Vec<(String, i32, i32)> {
    let me = broker.config.node_id;
    let image = quorum.image();
    let mut out = Vec::new();
    for (name, t) in &image.topics {
        for (i, p) in t.partitions.iter().enumerate() {
            if p.leader == leader
                && p.replicas.contains(&me)
                && broker.partition(name, i as i32).is_some()
            {
                out.push((name.clone(), i as i32, p.leader_epoch));
            }
        }
    }
    out
}

/// How a follower reaches a leader's main listener: plaintext, or (SSL) TLS with this
/// broker's own certificate as its identity.
fn peer_security(
    config: &crate::config::BrokerConfig,
    host: &str,
) -> anyhow::Result<ClientSecurity> {
    if config.protocol != crate::config::SecurityProtocol::Ssl {
        return Ok(ClientSecurity::default());
    }
    let tls = config
        .tls
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no [tls] section"))?;
    Ok(ClientSecurity {
        tls: Some(tls.peer_tls(host).map_err(anyhow::Error::msg)?),
        sasl: None,
    })
}

async fn follow_leader(broker: Arc<Broker>, quorum: Arc<MetadataQuorum>, leader: i32) {
    let mut conn: Option<KafkaConnection> = None;
    let mut reconciled = Reconciled::new();
    let mut images = quorum.watch();
    let mut backoff = crate::backoff::Backoff::new(BACKOFF, MAX_BACKOFF);
    loop {
        images.borrow_and_update();
        let parts = followed(&broker, &quorum, leader);
        if parts.is_empty() {
            conn = None;
            let _ = tokio::time::timeout(Duration::from_secs(1), images.changed()).await;
            continue;
        }
        if conn.is_none() {
            let Some((host, port)) = quorum
                .image()
                .brokers
                .get(&leader)
                .map(|b| (b.host.clone(), b.port))
            else {
                backoff.wait().await;
                continue;
            };
            let security = match peer_security(&broker.config, &host) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(leader, error = %e, "cannot set up TLS towards the leader");
                    backoff.wait().await;
                    continue;
                }
            };
            match KafkaConnection::connect(
                &format!("{host}:{port}"),
                &format!("tideway-replica-{}", broker.config.node_id),
                &security,
            )
            .await
            {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(leader, error = %e, "cannot reach the leader");
                    backoff.wait().await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let result = async {
            reconcile(&broker, c, &parts, &mut reconciled).await?;
            fetch_once(&broker, &quorum, c, &parts, &mut reconciled).await
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(leader, error = %e, "replica fetch failed");
            conn = None;
            backoff.wait().await;
        } else {
            backoff.reset();
        }
    }
}

/// Cuts each newly followed partition's log where the leader says this broker's last
/// epoch ended (KIP-101 and KIP-279).
async fn reconcile(
    broker: &Arc<Broker>,
    conn: &mut KafkaConnection,
    parts: &[(String, i32, i32)],
    reconciled: &mut Reconciled,
) -> anyhow::Result<()> {
    let mut asks: Vec<(String, i32, i32, i32)> = Vec::new();
    for (topic, p, epoch) in parts {
        if reconciled.get(&(topic.clone(), *p)) == Some(epoch) {
            continue;
        }
        let Some(partition) = broker.partition(topic, *p) else {
            continue;
        };
        let latest = partition
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latest_epoch();
        match latest {
            Some(mine) => asks.push((topic.clone(), *p, *epoch, mine)),
            None => {
                reconciled.insert((topic.clone(), *p), *epoch);
            }
        }
    }
    if asks.is_empty() {
        return Ok(());
    }
    let entries = asks
        .iter()
        .map(|(topic, p, epoch, mine)| {
            let entry = OffsetForLeaderPartition::default()
                .with_partition(*p)
                .with_current_leader_epoch(*epoch)
                .with_leader_epoch(*mine);
            (topic.as_str(), entry)
        })
        .collect();
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_topics(
            by_topic(entries)
                .into_iter()
                .map(|(t, ps)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(t)
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = conn
        .send(&request, EPOCH_VERSION, Duration::from_secs(5))
        .await?;
    for t in response.topics {
        let topic = t.topic.0.to_string();
        for r in t.partitions {
            let Some((_, _, epoch, _)) = asks.iter().find(|a| a.0 == topic && a.1 == r.partition)
            else {
                continue;
            };
            if r.error_code != 0 {
                tracing::debug!(%topic, partition = r.partition, code = r.error_code, "epoch lookup refused");
                continue;
            }
            let Some(partition) = broker.partition(&topic, r.partition) else {
                continue;
            };
            let (leader_epoch, leader_end) = (r.leader_epoch, r.end_offset);
            let cut = blocking(move || {
                let mut log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
                let target = if leader_epoch < 0 || leader_end < 0 {
                    partition.replica.high_watermark()
                } else {
                    let mine = log
                        .epoch_end(leader_epoch)
                        .map_or(leader_end, |(_, end)| end);
                    leader_end.min(mine)
                };
                let before = log.log_end_offset();
                log.truncate_to(target)
                    .map(|()| (before, log.log_end_offset()))
            })
            .await?;
            if cut.0 != cut.1 {
                tracing::info!(%topic, partition = r.partition, from = cut.0, to = cut.1,
                    "cut records the new leader does not have");
            }
            reconciled.insert((topic.clone(), r.partition), *epoch);
        }
    }
    Ok(())
}

/// One replica fetch of every reconciled partition; appends what the leader sent.
async fn fetch_once(
    broker: &Arc<Broker>,
    quorum: &MetadataQuorum,
    conn: &mut KafkaConnection,
    parts: &[(String, i32, i32)],
    reconciled: &mut Reconciled,
) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for (topic, p, epoch) in parts {
        if reconciled.get(&(topic.clone(), *p)) != Some(epoch) {
            continue;
        }
        let Some(partition) = broker.partition(topic, *p) else {
            continue;
        };
        let (leo, start) = {
            let log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
            (log.log_end_offset(), log.log_start_offset())
        };
        let entry = FetchPartition::default()
            .with_partition(*p)
            .with_current_leader_epoch(*epoch)
            .with_fetch_offset(leo)
            .with_log_start_offset(start)
            .with_partition_max_bytes(PARTITION_MAX_BYTES);
        entries.push((topic.as_str(), entry));
    }
    if entries.is_empty() {
        tokio::time::sleep(BACKOFF).await;
        return Ok(());
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_MAX_BYTES)
        .with_session_epoch(-1)
        .with_topics(
            by_topic(entries)
                .into_iter()
                .map(|(t, ps)| FetchTopic::default().with_topic(t).with_partitions(ps))
                .collect(),
        );
    let response = conn
        .send(
            &request,
            FETCH_VERSION,
            Duration::from_millis(MAX_WAIT_MS as u64 + 5000),
        )
        .await?;
    let mut backoff = false;
    // The epochs each partition was fetched at: a response that arrives after leadership
    // moved (this broker may lead now) must not touch the log or the high watermark.
    let fetched_at: HashMap<(String, i32), i32> = parts
        .iter()
        .map(|(t, p, e)| ((t.clone(), *p), *e))
        .collect();
    let image = quorum.image();
    for t in response.responses {
        let topic = t.topic.0.to_string();
        for d in t.partitions {
            let Some(partition) = broker.partition(&topic, d.partition_index) else {
                continue;
            };
            let key = (topic.clone(), d.partition_index);
            let current = image
                .topics
                .get(&topic)
                .and_then(|t| t.partitions.get(d.partition_index as usize))
                .map(|p| (p.leader, p.leader_epoch));
            let expected = fetched_at.get(&key).copied();
            if current.map(|(_, e)| e) != expected
                || current.is_some_and(|(l, _)| l == broker.config.node_id)
            {
                continue;
            }
            match ResponseError::try_from_code(d.error_code) {
                None => {
                    let records = d.records.unwrap_or_else(Bytes::new);
                    let (hw, leader_start) = (d.high_watermark, d.log_start_offset);
                    let applied = blocking(move || {
                        let mut log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
                        log.append_replica(&records)?;
                        if leader_start > log.log_start_offset()
                            && leader_start <= log.log_end_offset()
                        {
                            log.delete_records_before(leader_start)?;
                        }
                        partition
                            .replica
                            .set_high_watermark(hw.min(log.log_end_offset()));
                        Ok::<_, crate::log::LogError>(())
                    })
                    .await;
                    if let Err(e) = applied {
                        tracing::warn!(%topic, partition = key.1, error = %e, "cannot apply replicated records; reconciling again");
                        reconciled.remove(&key);
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    // Behind the leader's log start: start over there. Past its end (an
                    // unclean election): cut back to what the leader has committed.
                    let (leader_start, leader_hw) = (d.log_start_offset, d.high_watermark);
                    let fixed = blocking(move || {
                        let mut log = partition.log.lock().unwrap_or_else(|e| e.into_inner());
                        if log.log_end_offset() < leader_start {
                            log.reset_to(leader_start)
                        } else {
                            log.truncate_to(leader_hw.max(0))
                        }
                    })
                    .await;
                    if let Err(e) = fixed {
                        tracing::warn!(%topic, partition = key.1, error = %e, "cannot realign the log with the leader");
                    }
                    reconciled.remove(&key);
                }
                Some(e) => {
                    tracing::debug!(%topic, partition = key.1, error = ?e, "replica fetch refused");
                    backoff = true;
                }
            }
        }
    }
    if backoff {
        tokio::time::sleep(BACKOFF).await;
    }
    Ok(())
}
