//! The cluster's metadata image and the commands that change it: brokers, topics,
//! partitions with their replicas, leader, leader epoch and ISR, and topic configs. Every
//! broker holds the same image because every command goes through the Raft log of the
//! metadata quorum and is applied here, deterministically, in log order.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::groups::store::Committed;

/// Kafka error codes a command can be refused with.
pub mod codes {
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_REQUEST: i16 = 42;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
}

/// "No leader".
pub const NO_LEADER: i32 = -1;

/// The first producer id the quorum hands out: above any id a broker of an older version
/// gave out from its own counter, so ids from before and after never meet.
pub const FIRST_CLUSTER_PRODUCER_ID: i64 = 1 << 32;

/// A broker as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Registered and not known to be down.
    pub alive: bool,
    /// Addresses of the broker's other listeners, by listener name.
    #[serde(default)]
    pub listeners: BTreeMap<String, (String, u16)>,
    /// The run of the broker process that registered (new at every start).
    #[serde(default)]
    pub incarnation: Option<Uuid>,
}

impl BrokerInfo {
    /// Where clients of `listener` reach this broker (the main address if it has no
    /// listener of that name).
    pub fn endpoint(&self, listener: &str) -> (String, u16) {
        self.listeners
            .get(listener)
            .cloned()
            .unwrap_or_else(|| (self.host.clone(), self.port))
    }
}

/// One partition's replication state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Replicas a reassignment is adding (they are in `replicas` too).
    #[serde(default)]
    pub adding: Vec<i32>,
    /// Replicas a reassignment will remove once the added ones are in sync.
    #[serde(default)]
    pub removing: Vec<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    pub id: Uuid,
    pub partitions: Vec<PartitionState>,
    /// Overrides of the broker's log defaults, in Kafka's names.
    pub configs: BTreeMap<String, String>,
}

/// Committed offsets of one group: topic → partition → offset.
pub type GroupOffsets = BTreeMap<String, BTreeMap<i32, Committed>>;

/// The whole replicated metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterImage {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicState>,
    /// Consumer groups' committed offsets, so they outlive their coordinator.
    #[serde(default)]
    pub offsets: BTreeMap<String, GroupOffsets>,
    /// SCRAM credentials, ACLs and client quotas.
    #[serde(default)]
    pub security: crate::security::SecurityState,
    /// The next producer id no broker has been given (0: none given yet).
    #[serde(default)]
    pub next_producer_id: i64,
}

/// A change to the image, proposed to the controller and applied on every broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A broker starts (or restarts) and says where clients reach it.
    RegisterBroker {
        id: i32,
        host: String,
        port: u16,
        rack: Option<String>,
        #[serde(default)]
        listeners: BTreeMap<String, (String, u16)>,
        /// The registering process's run, so it knows when its image has caught up.
        #[serde(default)]
        incarnation: Option<Uuid>,
    },
    /// The controller lost (or regained) contact with a broker.
    SetBrokerAlive {
        id: i32,
        alive: bool,
    },
    CreateTopic {
        name: String,
        id: Uuid,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
    },
    /// Changes credentials, ACLs or quotas.
    Security(crate::security::SecurityChange),
    /// Replaces a topic's config overrides.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// A partition leader shrinks or grows its ISR; fenced by leader and leader epoch.
    ChangeIsr {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
    },
    /// A group's coordinator accepted these offsets.
    CommitOffsets {
        group: String,
        offsets: Vec<(String, i32, Committed)>,
    },
    /// A group was deleted with its offsets.
    DeleteGroup {
        group: String,
    },
    /// A broker takes the next block of producer ids (Kafka's AllocateProducerIds), so
    /// no two brokers ever give a producer the same id.
    AllocateProducerIds {
        broker: i32,
        count: i32,
    },
    /// Moves a partition to `to` (KIP-455), or cancels its reassignment with `None`.
    Reassign {
        topic: String,
        partition: i32,
        to: Option<Vec<i32>>,
    },
    /// Elects a leader: the preferred replica, or with `unclean` any alive replica of a
    /// leaderless partition.
    ElectLeader {
        topic: String,
        partition: i32,
        unclean: bool,
    },
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    Rejected {
        code: i16,
        message: String,
    },
    /// The block of producer ids a broker was given: `count` ids from `start`.
    ProducerIds {
        start: i64,
        count: i32,
    },
}

fn rejected(code: i16, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        code,
        message: message.into(),
    }
}

/// A hash of `text` that every broker computes the same way.
pub fn stable_hash(text: &str) -> usize {
    text.bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
}

/// The topic lets an out-of-sync replica lead rather than stay unavailable.
fn unclean_allowed(topic: &TopicState) -> bool {
    topic
        .configs
        .get("unclean.leader.election.enable")
        .is_some_and(|v| v == "true")
}

impl ClusterImage {
    /// Applies one committed command. Deterministic: same image and command, same result.
    pub fn apply(&mut self, command: &Command) -> Outcome {
        match command {
            Command::RegisterBroker {
                id,
                host,
                port,
                rack,
                listeners,
                incarnation,
            } => {
                // A broker that registers again restarted: it gives up its leaderships
                // and ISR places and earns them back as a follower that caught up.
                if let Some(b) = self.brokers.get_mut(id).filter(|b| b.alive) {
                    b.alive = false;
                    self.broker_down(*id);
                }
                self.brokers.insert(
                    *id,
                    BrokerInfo {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        alive: true,
                        listeners: listeners.clone(),
                        incarnation: *incarnation,
                    },
                );
                self.broker_up(*id);
                Outcome::Done
            }
            Command::AllocateProducerIds { broker, count } => {
                if *count < 1 || !self.brokers.contains_key(broker) {
                    return rejected(
                        codes::INVALID_REQUEST,
                        format!("broker {broker} cannot take {count} producer ids"),
                    );
                }
                let start = self.next_producer_id.max(FIRST_CLUSTER_PRODUCER_ID);
                self.next_producer_id = start + i64::from(*count);
                Outcome::ProducerIds {
                    start,
                    count: *count,
                }
            }
            Command::SetBrokerAlive { id, alive } => {
                let Some(b) = self.brokers.get_mut(id) else {
                    return rejected(
                        codes::INVALID_REQUEST,
                        format!("broker {id} is not registered"),
                    );
                };
                b.alive = *alive;
                if *alive {
                    self.broker_up(*id);
                } else {
                    self.broker_down(*id);
                }
                Outcome::Done
            }
            Command::CreateTopic {
                name,
                id,
                partitions,
                replication_factor,
                configs,
            } => {
                if self.topics.contains_key(name) {
                    return rejected(
                        codes::TOPIC_ALREADY_EXISTS,
                        format!("topic {name:?} already exists"),
                    );
                }
                if *partitions < 1 {
                    return rejected(
                        codes::INVALID_PARTITIONS,
                        "a topic needs at least one partition",
                    );
                }
                let assigned = match self.assign(name, 0, *partitions, *replication_factor) {
                    Ok(a) => a,
                    Err(o) => return o,
                };
                self.topics.insert(
                    name.clone(),
                    TopicState {
                        id: *id,
                        partitions: assigned,
                        configs: configs.clone(),
                    },
                );
                Outcome::Done
            }
            Command::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => {
                    for group in self.offsets.values_mut() {
                        group.remove(name);
                    }
                    Outcome::Done
                }
                None => rejected(
                    codes::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("no topic {name:?}"),
                ),
            },
            Command::CreatePartitions { name, count } => {
                let Some(topic) = self.topics.get(name) else {
                    return rejected(
                        codes::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("no topic {name:?}"),
                    );
                };
                let have = topic.partitions.len() as i32;
                if *count <= have {
                    return rejected(
                        codes::INVALID_PARTITIONS,
                        format!(
                            "topic {name:?} has {have} partitions; the new count must be higher"
                        ),
                    );
                }
                let rf = topic.partitions[0].replicas.len() as i16;
                let more = match self.assign(name, have, count - have, rf) {
                    Ok(a) => a,
                    Err(o) => return o,
                };
                if let Some(t) = self.topics.get_mut(name) {
                    t.partitions.extend(more);
                }
                Outcome::Done
            }
            Command::SetTopicConfigs { name, configs } => match self.topics.get_mut(name) {
                Some(t) => {
                    t.configs = configs.clone();
                    Outcome::Done
                }
                None => rejected(
                    codes::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("no topic {name:?}"),
                ),
            },
            Command::ChangeIsr {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
            } => self.change_isr(topic, *partition, *leader, *leader_epoch, isr),
            Command::CommitOffsets { group, offsets } => {
                let stored = self.offsets.entry(group.clone()).or_default();
                for (topic, partition, c) in offsets {
                    stored
                        .entry(topic.clone())
                        .or_default()
                        .insert(*partition, c.clone());
                }
                Outcome::Done
            }
            Command::DeleteGroup { group } => {
                self.offsets.remove(group);
                Outcome::Done
            }
            Command::Reassign {
                topic,
                partition,
                to,
            } => self.apply_reassign(topic, *partition, to.as_deref()),
            Command::ElectLeader {
                topic,
                partition,
                unclean,
            } => self.apply_elect(topic, *partition, *unclean),
            Command::Security(change) => match self.security.apply(change) {
                Ok(()) => Outcome::Done,
                Err(message) => rejected(codes::INVALID_REQUEST, message),
            },
        }
    }

    /// Applies an ISR change from the partition's current leader; then, when the
    /// preferred leader is back in the ISR and alive, hands it the leadership.
    fn change_isr(
        &mut self,
        topic: &str,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: &[i32],
    ) -> Outcome {
        let alive = self.alive_ids();
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
        else {
            return rejected(
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                format!("no partition {topic}-{partition}"),
            );
        };
        if p.leader != leader || p.leader_epoch != leader_epoch {
            return rejected(
                codes::FENCED_LEADER_EPOCH,
                format!(
                    "{topic}-{partition} is led by {} at epoch {}, not {leader} at {leader_epoch}",
                    p.leader, p.leader_epoch
                ),
            );
        }
        if !isr.contains(&leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
            return rejected(
                codes::INVALID_REQUEST,
                format!(
                    "ISR {isr:?} must hold the leader and only replicas of {topic}-{partition}"
                ),
            );
        }
        p.isr = p
            .replicas
            .iter()
            .copied()
            .filter(|r| isr.contains(r))
            .collect();
        super::reassign::complete_if_in_sync(p, &alive);
        if let Some(&preferred) = p.replicas.first() {
            if preferred != leader && p.isr.contains(&preferred) && alive.contains(&preferred) {
                p.leader = preferred;
                p.leader_epoch += 1;
            }
        }
        Outcome::Done
    }

    /// Brokers ordered so that neighbours sit on different racks where possible: racks
    /// taken in turn, brokers within a rack by id.
    fn rack_alternating(&self) -> Vec<i32> {
        let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for b in self.brokers.values() {
            by_rack
                .entry(b.rack.as_deref().unwrap_or(""))
                .or_default()
                .push(b.id);
        }
        let mut out = Vec::with_capacity(self.brokers.len());
        let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
        for i in 0..longest {
            out.extend(by_rack.values().filter_map(|ids| ids.get(i)));
        }
        out
    }

    /// Replicas for partitions `first..first+count` of `topic`: consecutive brokers of the
    /// rack-alternating order, the start shifted per partition so leaders spread too.
    fn assign(
        &self,
        topic: &str,
        first: i32,
        count: i32,
        replication_factor: i16,
    ) -> Result<Vec<PartitionState>, Outcome> {
        let order = self.rack_alternating();
        let rf = replication_factor as usize;
        if replication_factor < 1 || rf > order.len() {
            return Err(rejected(
                codes::INVALID_REPLICATION_FACTOR,
                format!(
                    "replication factor {replication_factor} is not possible with {} registered brokers",
                    order.len()
                ),
            ));
        }
        // A stable per-topic offset, so topics do not all start on the same broker.
        let shift = stable_hash(topic);
        Ok((first..first + count)
            .map(|p| {
                let start = shift.wrapping_add(p as usize) % order.len();
                let replicas: Vec<i32> =
                    (0..rf).map(|k| order[(start + k) % order.len()]).collect();
                let alive: Vec<i32> = replicas
                    .iter()
                    .copied()
                    .filter(|r| self.brokers.get(r).is_some_and(|b| b.alive))
                    .collect();
                PartitionState {
                    leader: alive.first().copied().unwrap_or(NO_LEADER),
                    isr: if alive.is_empty() {
                        replicas.clone()
                    } else {
                        alive
                    },
                    replicas,
                    leader_epoch: 0,
                    adding: Vec::new(),
                    removing: Vec::new(),
                }
            })
            .collect())
    }

    /// Ids of the brokers not known to be down.
    pub(super) fn alive_ids(&self) -> BTreeSet<i32> {
        self.brokers
            .values()
            .filter(|b| b.alive)
            .map(|b| b.id)
            .collect()
    }

    /// A broker went away: it leaves every ISR it was in (unless it was the last member,
    /// which keeps the record of who has all the data) and loses its leaderships to the
    /// next alive ISR member. With no one left, the partition has no leader — unless the
    /// topic allows unclean leader election, then any alive replica leads.
    fn broker_down(&mut self, id: i32) {
        let alive = self.alive_ids();
        for topic in self.topics.values_mut() {
            let unclean = unclean_allowed(topic);
            for p in &mut topic.partitions {
                if p.isr.len() > 1 {
                    p.isr.retain(|r| *r != id);
                }
                if p.leader != id {
                    continue;
                }
                let next = p.isr.iter().copied().find(|r| alive.contains(r));
                let next = next.or_else(|| {
                    unclean
                        .then(|| p.replicas.iter().copied().find(|r| alive.contains(r)))
                        .flatten()
                });
                p.leader = next.unwrap_or(NO_LEADER);
                p.leader_epoch += 1;
                if let Some(l) = next {
                    if !p.isr.contains(&l) {
                        p.isr = vec![l];
                    }
                }
            }
        }
    }

    /// A broker is back: partitions without a leader that it can lead (it is in the ISR,
    /// or the topic allows unclean election and it is a replica) get it as leader, and it
    /// takes back the partitions it is the preferred leader of when it is in their ISR
    /// (preferred-leader election).
    fn broker_up(&mut self, id: i32) {
        for topic in self.topics.values_mut() {
            let unclean = unclean_allowed(topic);
            for p in &mut topic.partitions {
                let in_isr = p.isr.contains(&id);
                let leaderless = p.leader == NO_LEADER;
                let preferred = p.replicas.first() == Some(&id) && p.leader != id;
                if in_isr && (leaderless || preferred) {
                    p.leader = id;
                    p.leader_epoch += 1;
                } else if leaderless && unclean && p.replicas.contains(&id) {
                    p.leader = id;
                    p.leader_epoch += 1;
                    p.isr = vec![id];
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
