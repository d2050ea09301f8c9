//! The partition leader's side of replication: the high watermark after appends and
//! replica fetches, acks=all and `min.insync.replicas`, and ISR changes proposed to the
//! controller — shrink when a follower lags longer than `replica.lag.time.max.ms`, grow
//! when it has caught up again.

use std::{sync::Arc, time::Duration};

use kafka_protocol::ResponseError;

use crate::{
    broker::{Broker, Partition},
    cluster::image::{Command, PartitionState},
};

/// In-sync replicas acks=all needs when the topic does not say: 2 for three replicas or
/// more (one may fail without losing an acknowledged record), else 1.
pub fn default_min_insync(replication_factor: usize) -> usize {
    if replication_factor >= 3 {
        2
    } else {
        1
    }
}

/// The partition's replication state in the cluster image (None standalone or unknown).
fn state(broker: &Broker, topic: &str, partition: i32) -> Option<(PartitionState, usize)> {
    let image = broker.quorum()?.image();
    let t = image.topics.get(topic)?;
    let p = t.partitions.get(partition as usize)?.clone();
    let min = t
        .configs
        .get("min.insync.replicas")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default_min_insync(p.replicas.len()));
    Some((p, min))
}

fn log_end(partition: &Partition) -> i64 {
    partition
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .log_end_offset()
}

/// Moves the high watermark after the leader's log changed (standalone: to the log end).
pub fn advance(broker: &Broker, topic: &str, index: i32, partition: &Partition) {
    let leo = log_end(partition);
    match state(broker, topic, index) {
        Some((s, _)) if s.leader == broker.config.node_id => {
            partition
                .replica
                .advance(s.leader_epoch, broker.config.node_id, &s.isr, leo)
        }
        Some(_) => {}
        None => partition.replica.set_high_watermark(leo),
    }
}

/// In-sync replicas the leader can count on: the ISR of the image less followers it
/// has not seen caught up within `replica.lag.time.max.ms` (whose removal the quorum
/// may not be able to commit, e.g. when most brokers are down).
fn live_isr(broker: &Broker, s: &PartitionState, partition: &Partition) -> usize {
    let max_lag = broker
        .config
        .cluster
        .as_ref()
        .map_or(Duration::MAX, |m| m.replica_lag_max);
    let lagging = partition
        .replica
        .lagging(s.leader_epoch, broker.config.node_id, &s.isr, max_lag);
    s.isr.len() - lagging.len()
}

/// Refuses an acks=all produce when fewer than `min.insync.replicas` are in sync.
pub fn check_min_insync(
    broker: &Broker,
    topic: &str,
    index: i32,
    partition: &Partition,
) -> Result<(), (i16, String)> {
    let Some((s, min)) = state(broker, topic, index) else {
        return Ok(());
    };
    let live = live_isr(broker, &s, partition);
    if live < min {
        return Err((
            ResponseError::NotEnoughReplicas.code(),
            format!(
                "{topic}-{index} has {live} live in-sync replicas, min.insync.replicas is {min}"
            ),
        ));
    }
    Ok(())
}

/// Waits until the high watermark passes `last_offset` (every ISR member has the
/// records), up to `timeout`. Fails when leadership moves or the ISR falls below
/// `min.insync.replicas` meanwhile.
pub async fn wait_committed(
    broker: &Broker,
    topic: &str,
    index: i32,
    partition: &Partition,
    last_offset: i64,
    timeout: Duration,
) -> Result<(), (i16, String)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let committed = partition.replica.committed.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        if partition.replica.high_watermark() > last_offset {
            return Ok(());
        }
        if let Some((s, min)) = state(broker, topic, index) {
            if s.leader != broker.config.node_id {
                return Err((
                    ResponseError::NotLeaderOrFollower.code(),
                    format!("leadership of {topic}-{index} moved before the records committed"),
                ));
            }
            if live_isr(broker, &s, partition) < min {
                return Err((
                    ResponseError::NotEnoughReplicasAfterAppend.code(),
                    format!("the ISR of {topic}-{index} fell below min.insync.replicas ({min})"),
                ));
            }
        }
        let tick = tokio::time::Instant::now() + Duration::from_millis(100);
        if tokio::time::timeout_at(tick.min(deadline), committed)
            .await
            .is_err()
            && tokio::time::Instant::now() >= deadline
        {
            return Err((
                ResponseError::RequestTimedOut.code(),
                format!("the in-sync replicas of {topic}-{index} did not confirm in time"),
            ));
        }
        advance(broker, topic, index, partition);
    }
}

/// A replica fetch from `follower` reached `fetch_offset`: note it, move the high
/// watermark, and propose the follower back into the ISR once it has caught up.
pub fn on_replica_fetch(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    partition: &Partition,
    follower: i32,
    fetch_offset: i64,
) {
    let Some((s, _)) = state(broker, topic, index) else {
        return;
    };
    let me = broker.config.node_id;
    if s.leader != me || !s.replicas.contains(&follower) {
        return;
    }
    let leo = log_end(partition);
    partition
        .replica
        .record_fetch(s.leader_epoch, follower, fetch_offset, leo);
    partition.replica.advance(s.leader_epoch, me, &s.isr, leo);
    // In sync means having everything committed and everything from before this
    // leader's epoch (KIP-101): a leader's high watermark can lag just after election.
    let epoch_start = partition
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .epoch_start(s.leader_epoch);
    let caught_up =
        fetch_offset >= partition.replica.high_watermark() && fetch_offset >= epoch_start;
    if !s.isr.contains(&follower) && caught_up && partition.replica.may_propose() {
        let mut isr = s.isr.clone();
        isr.push(follower);
        propose_isr(broker, topic, index, &s, isr);
    }
}

fn propose_isr(broker: &Arc<Broker>, topic: &str, index: i32, s: &PartitionState, isr: Vec<i32>) {
    let Some(quorum) = broker.quorum().cloned() else {
        return;
    };
    let command = Command::ChangeIsr {
        topic: topic.to_owned(),
        partition: index,
        leader: s.leader,
        leader_epoch: s.leader_epoch,
        isr: isr.clone(),
    };
    let what = format!("{topic}-{index}");
    tokio::spawn(async move {
        match quorum.propose(command).await {
            Ok(crate::cluster::image::Outcome::Done) => {
                tracing::info!(partition = %what, ?isr, "ISR changed")
            }
            Ok(refused) => tracing::debug!(partition = %what, ?refused, "ISR change refused"),
            Err(e) => tracing::warn!(partition = %what, error = %e, "ISR change not committed"),
        }
    });
}

/// Periodic leader work on every partition this broker leads: refresh the high
/// watermark (the ISR may have shrunk) and drop followers that lag too long from the
/// ISR. Partitions it no longer leads forget their follower state.
pub fn tick(broker: &Arc<Broker>, max_lag: Duration) {
    let Some(quorum) = broker.quorum() else {
        return;
    };
    let image = quorum.image();
    let me = broker.config.node_id;
    for (name, t) in &image.topics {
        for (i, s) in t.partitions.iter().enumerate() {
            let Some(partition) = broker.partition(name, i as i32) else {
                continue;
            };
            if s.leader != me {
                partition.replica.step_down();
                continue;
            }
            partition
                .replica
                .advance(s.leader_epoch, me, &s.isr, log_end(&partition));
            let lagging = partition
                .replica
                .lagging(s.leader_epoch, me, &s.isr, max_lag);
            if !lagging.is_empty() && partition.replica.may_propose() {
                let isr: Vec<i32> = s
                    .isr
                    .iter()
                    .copied()
                    .filter(|r| !lagging.contains(r))
                    .collect();
                tracing::info!(partition = %format!("{name}-{i}"), ?lagging, "followers fell behind");
                propose_isr(broker, name, i as i32, s, isr);
            }
        }
    }
}
