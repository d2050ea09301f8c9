//! Cluster mode on one broker: follow the quorum's image — open the logs of the
//! partitions this broker holds replicas of, drop topics the image no longer has — and
//! make topic changes by proposing them to the controller.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use kafka_protocol::ResponseError;
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    image::{ClusterImage, Command, Outcome},
    MetadataQuorum,
};
use crate::{
    api::blocking,
    broker::{Broker, TopicError},
    groups::store::Committed,
    topics::TopicMeta,
};

/// How long a change may take to reach this broker's image after it committed.
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// Brings the broker's local topics and logs to each new image, until the quorum stops.
pub async fn follow(broker: Arc<Broker>, mut images: watch::Receiver<Arc<ClusterImage>>) {
    let mut previous: Option<Arc<ClusterImage>> = None;
    loop {
        let image = images.borrow_and_update().clone();
        let (b, before, now) = (broker.clone(), previous.take(), image.clone());
        blocking(move || apply(&b, before.as_deref(), &now)).await;
        previous = Some(image);
        if images.changed().await.is_err() {
            return;
        }
    }
}

/// Applies `image`; `before` is the image applied last, so offsets of groups that did
/// not change are not copied again on every metadata change.
fn apply(broker: &Broker, before: Option<&ClusterImage>, image: &ClusterImage) {
    let me = broker.config.node_id;
    let current = broker.quorum().is_some_and(|q| q.holds_this_run(image));
    for (name, t) in &image.topics {
        let local: Vec<i32> = (0..t.partitions.len() as i32)
            .filter(|p| t.partitions[*p as usize].replicas.contains(&me))
            .collect();
        let meta = TopicMeta {
            name: name.clone(),
            id: t.id,
            partitions: t.partitions.len() as i32,
            configs: t.configs.clone(),
        };
        if let Err(e) = broker.adopt_topic(meta, &local) {
            tracing::warn!(topic = %name, error = %e, "cannot open the topic's partitions");
        }
    }
    for t in broker.topics() {
        match image.topics.get(&t.name) {
            None => {
                let _ = broker.delete_topic(&t.name);
            }
            // A reassignment moved these replicas away: their logs go, but only once the
            // image is this run's (an image replayed after a restart may predate the move
            // that brought a replica here).
            Some(state) if current => {
                for p in 0..t.partitions {
                    let assigned = state
                        .partitions
                        .get(p as usize)
                        .is_some_and(|s| s.replicas.contains(&me));
                    if !assigned {
                        broker.drop_partition(&t, p);
                    }
                }
            }
            Some(_) => {}
        }
    }
    broker.security.adopt(&image.security);
    for (group, topics) in &image.offsets {
        if before.and_then(|b| b.offsets.get(group)) == Some(topics) {
            continue;
        }
        let offsets = topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(|(p, c)| ((t.clone(), *p), c.clone())))
            .collect();
        broker.groups.adopt_offsets(group, offsets);
    }
}

/// Replicates offsets a coordinator accepted through the quorum; stored on every broker
/// when this returns. The Kafka error code when the quorum cannot commit them.
pub async fn commit_offsets(
    quorum: &MetadataQuorum,
    group: &str,
    offsets: &[((String, i32), Committed)],
) -> Result<(), i16> {
    let command = Command::CommitOffsets {
        group: group.to_owned(),
        offsets: offsets
            .iter()
            .map(|((t, p), c)| (t.clone(), *p, c.clone()))
            .collect(),
    };
    commit(quorum, command).await.map_err(|e| {
        tracing::warn!(group, error = %e, "offsets not replicated");
        ResponseError::CoordinatorNotAvailable.code()
    })?;
    applied(quorum, |i| {
        let Some(g) = i.offsets.get(group) else {
            return false;
        };
        offsets
            .iter()
            .all(|((t, p), c)| g.get(t).and_then(|ps| ps.get(p)) == Some(c))
    })
    .await;
    Ok(())
}

/// Forgets a deleted group's offsets on every broker.
pub async fn delete_group(quorum: &MetadataQuorum, group: &str) -> Result<(), TopicError> {
    commit(
        quorum,
        Command::DeleteGroup {
            group: group.to_owned(),
        },
    )
    .await
}

/// Commits `command`; a refusal carries the controller's Kafka error code.
async fn commit(quorum: &MetadataQuorum, command: Command) -> Result<(), TopicError> {
    match quorum.propose(command).await {
        Ok(Outcome::Rejected { code, message }) => Err(TopicError::Refused { code, message }),
        Ok(_) => Ok(()),
        Err(message) => Err(TopicError::Refused {
            code: ResponseError::RequestTimedOut.code(),
            message,
        }),
    }
}

/// Waits until this broker's image satisfies `done` (the change reached it).
async fn applied(quorum: &MetadataQuorum, done: impl Fn(&ClusterImage) -> bool) {
    let mut images = quorum.watch();
    let _ = tokio::time::timeout(APPLY_WAIT, images.wait_for(|i| done(i))).await;
}

/// Replicas of a topic created without a replication factor: three where the cluster
/// has three brokers (as managed Kafka services do), else as many as there are.
pub fn default_replication_factor(brokers: usize) -> i16 {
    brokers.clamp(1, 3) as i16
}

/// CreateTopics in cluster mode.
pub async fn create_topic(
    broker: &Broker,
    quorum: &MetadataQuorum,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<TopicMeta, TopicError> {
    let partitions = broker.check_new_topic(name, partitions, &configs)?;
    let brokers = quorum.image().brokers.len();
    let replication_factor = match replication_factor.filter(|rf| *rf != -1) {
        Some(rf) => rf,
        None => default_replication_factor(brokers),
    };
    if quorum.image().topics.contains_key(name) {
        return Err(TopicError::AlreadyExists(name.to_owned()));
    }
    let meta = TopicMeta {
        name: name.to_owned(),
        id: Uuid::new_v4(),
        partitions,
        configs: configs.clone(),
    };
    if validate_only {
        return Ok(meta);
    }
    commit(
        quorum,
        Command::CreateTopic {
            name: name.to_owned(),
            id: meta.id,
            partitions,
            replication_factor,
            configs,
        },
    )
    .await?;
    applied(quorum, |i| {
        i.topics.get(name).is_some_and(|t| t.id == meta.id)
    })
    .await;
    Ok(meta)
}

/// DeleteTopics in cluster mode.
pub async fn delete_topic(quorum: &MetadataQuorum, name: &str) -> Result<TopicMeta, TopicError> {
    let Some(t) = quorum.image().topics.get(name).cloned() else {
        return Err(TopicError::NotFound(name.to_owned()));
    };
    commit(
        quorum,
        Command::DeleteTopic {
            name: name.to_owned(),
        },
    )
    .await?;
    applied(quorum, |i| !i.topics.contains_key(name)).await;
    Ok(TopicMeta {
        name: name.to_owned(),
        id: t.id,
        partitions: t.partitions.len() as i32,
        configs: t.configs,
    })
}

/// AlterConfigs and IncrementalAlterConfigs of a topic in cluster mode.
pub async fn set_topic_configs(
    broker: &Broker,
    quorum: &MetadataQuorum,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), TopicError> {
    broker.config.log.with_overrides(&configs)?;
    if !quorum.image().topics.contains_key(name) {
        return Err(TopicError::NotFound(name.to_owned()));
    }
    if validate_only {
        return Ok(());
    }
    let wanted = configs.clone();
    commit(
        quorum,
        Command::SetTopicConfigs {
            name: name.to_owned(),
            configs,
        },
    )
    .await?;
    applied(quorum, |i| {
        i.topics.get(name).is_some_and(|t| t.configs == wanted)
    })
    .await;
    Ok(())
}

/// CreatePartitions in cluster mode.
pub async fn create_partitions(
    quorum: &MetadataQuorum,
    name: &str,
    count: i32,
    validate_only: bool,
) -> Result<(), TopicError> {
    let have = match quorum.image().topics.get(name) {
        Some(t) => t.partitions.len() as i32,
        None => return Err(TopicError::NotFound(name.to_owned())),
    };
    if count <= have || count > crate::broker::MAX_PARTITIONS {
        return Err(TopicError::InvalidPartitions(format!(
            "topic {name:?} has {have} partitions; the new count must be larger, got {count}"
        )));
    }
    if validate_only {
        return Ok(());
    }
    commit(
        quorum,
        Command::CreatePartitions {
            name: name.to_owned(),
            count,
        },
    )
    .await?;
    applied(quorum, |i| {
        i.topics
            .get(name)
            .is_some_and(|t| t.partitions.len() as i32 >= count)
    })
    .await;
    Ok(())
}

/// Starts, replaces or (with `to` None) cancels the reassignment of one partition.
pub async fn reassign(
    quorum: &MetadataQuorum,
    topic: &str,
    partition: i32,
    to: Option<Vec<i32>>,
) -> Result<(), TopicError> {
    let command = Command::Reassign {
        topic: topic.to_owned(),
        partition,
        to,
    };
    commit(quorum, command).await
}

/// Elects a leader for one partition: the preferred replica, or any alive one.
pub async fn elect_leader(
    quorum: &MetadataQuorum,
    topic: &str,
    partition: i32,
    unclean: bool,
) -> Result<(), TopicError> {
    let command = Command::ElectLeader {
        topic: topic.to_owned(),
        partition,
        unclean,
    };
    commit(quorum, command).await
}
