//! The cluster's metadata image and the commands that change it: brokers, topics,
//! partitions with their replicas, leader, leader epoch and ISR, and topic configs. Every
//! broker holds the same image because every command goes through the Raft log of the
//! metadata quorum and is applied here, deterministically, in log order.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kafka error codes a command can be refused with.
pub mod codes {
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_REQUEST: i16 = 42;
}

/// "No leader".
pub const NO_LEADER: i32 = -1;

/// A broker as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Registered and not known to be down.
    pub alive: bool,
}

/// One partition's replication state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    pub id: Uuid,
    pub partitions: Vec<PartitionState>,
    /// Overrides of the broker's log defaults, in Kafka's names.
    pub configs: BTreeMap<String, String>,
}

/// The whole replicated metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterImage {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicState>,
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
    /// Replaces a topic's config overrides.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    Rejected { code: i16, message: String },
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
            } => {
                self.brokers.insert(
                    *id,
                    BrokerInfo {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        alive: true,
                    },
                );
                self.broker_up(*id);
                Outcome::Done
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
                Some(_) => Outcome::Done,
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
        }
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
                }
            })
            .collect())
    }

    /// A broker went away: it leaves every ISR it was in (unless it was the last member,
    /// which keeps the record of who has all the data) and loses its leaderships to the
    /// next alive ISR member. With no one left, the partition has no leader — unless the
    /// topic allows unclean leader election, then any alive replica leads.
    fn broker_down(&mut self, id: i32) {
        let alive: BTreeSet<i32> = self
            .brokers
            .values()
            .filter(|b| b.alive)
            .map(|b| b.id)
            .collect();
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
mod tests {
    use super::*;

    fn cluster(racks: &[&str]) -> ClusterImage {
        let mut image = ClusterImage::default();
        for (i, rack) in racks.iter().enumerate() {
            let id = i as i32 + 1;
            image.apply(&Command::RegisterBroker {
                id,
                host: format!("h{id}"),
                port: 9092,
                rack: Some((*rack).to_owned()),
            });
        }
        image
    }

    fn create(image: &mut ClusterImage, name: &str, partitions: i32, rf: i16) -> Outcome {
        image.apply(&Command::CreateTopic {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions,
            replication_factor: rf,
            configs: BTreeMap::new(),
        })
    }

    #[test]
    fn replicas_spread_over_brokers_and_racks_and_leaders_spread_too() {
        let mut image = cluster(&["a", "a", "b", "b", "c", "c"]);
        assert_eq!(create(&mut image, "orders", 12, 3), Outcome::Done);
        let t = &image.topics["orders"];
        let rack = |id: &i32| image.brokers[id].rack.clone();
        let mut leaders = BTreeMap::new();
        for p in &t.partitions {
            let racks: BTreeSet<_> = p.replicas.iter().map(rack).collect();
            assert_eq!(racks.len(), 3, "three racks per partition: {p:?}");
            assert_eq!(p.isr, p.replicas);
            assert_eq!(p.leader, p.replicas[0]);
            *leaders.entry(p.leader).or_insert(0) += 1;
        }
        assert_eq!(
            leaders.len(),
            6,
            "every broker leads some partitions: {leaders:?}"
        );
    }

    #[test]
    fn bad_topics_are_refused_with_kafka_codes() {
        let mut image = cluster(&["a", "b"]);
        assert!(matches!(
            create(&mut image, "t", 1, 3),
            Outcome::Rejected {
                code: codes::INVALID_REPLICATION_FACTOR,
                ..
            }
        ));
        assert!(matches!(
            create(&mut image, "t", 0, 1),
            Outcome::Rejected {
                code: codes::INVALID_PARTITIONS,
                ..
            }
        ));
        assert_eq!(create(&mut image, "t", 1, 2), Outcome::Done);
        assert!(matches!(
            create(&mut image, "t", 1, 2),
            Outcome::Rejected {
                code: codes::TOPIC_ALREADY_EXISTS,
                ..
            }
        ));
        assert!(matches!(
            image.apply(&Command::CreatePartitions {
                name: "t".into(),
                count: 1
            }),
            Outcome::Rejected {
                code: codes::INVALID_PARTITIONS,
                ..
            }
        ));
        assert_eq!(
            image.apply(&Command::CreatePartitions {
                name: "t".into(),
                count: 3
            }),
            Outcome::Done
        );
        assert_eq!(image.topics["t"].partitions.len(), 3);
        assert_eq!(
            image.apply(&Command::DeleteTopic { name: "t".into() }),
            Outcome::Done
        );
        assert!(matches!(
            image.apply(&Command::DeleteTopic { name: "t".into() }),
            Outcome::Rejected {
                code: codes::UNKNOWN_TOPIC_OR_PARTITION,
                ..
            }
        ));
    }

    #[test]
    fn leadership_fails_over_within_the_isr_and_returns_to_the_preferred_leader() {
        let mut image = cluster(&["a", "b", "c"]);
        create(&mut image, "t", 1, 3);
        let first = image.topics["t"].partitions[0].clone();
        let (a, b, c) = (first.replicas[0], first.replicas[1], first.replicas[2]);

        image.apply(&Command::SetBrokerAlive {
            id: a,
            alive: false,
        });
        let p = image.topics["t"].partitions[0].clone();
        assert_eq!((p.leader, p.leader_epoch), (b, 1));
        assert_eq!(p.isr, vec![b, c]);

        image.apply(&Command::SetBrokerAlive {
            id: b,
            alive: false,
        });
        image.apply(&Command::SetBrokerAlive {
            id: c,
            alive: false,
        });
        let p = image.topics["t"].partitions[0].clone();
        assert_eq!(p.leader, NO_LEADER, "no clean candidate: no leader");
        assert_eq!(p.isr, vec![c], "the last ISR member is remembered");

        // A replica outside the ISR coming back does not lead (no unclean election)...
        image.apply(&Command::SetBrokerAlive { id: a, alive: true });
        assert_eq!(image.topics["t"].partitions[0].leader, NO_LEADER);
        // ...the last ISR member does.
        image.apply(&Command::SetBrokerAlive { id: c, alive: true });
        let p = image.topics["t"].partitions[0].clone();
        assert_eq!(p.leader, c);
        assert!(p.leader_epoch > 1);
    }

    #[test]
    fn unclean_election_is_a_topic_choice() {
        let mut image = cluster(&["a", "b"]);
        image.apply(&Command::CreateTopic {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: 1,
            replication_factor: 2,
            configs: [(
                "unclean.leader.election.enable".to_owned(),
                "true".to_owned(),
            )]
            .into(),
        });
        let p = image.topics["t"].partitions[0].clone();
        let (a, b) = (p.replicas[0], p.replicas[1]);
        image.apply(&Command::SetBrokerAlive {
            id: a,
            alive: false,
        });
        image.apply(&Command::SetBrokerAlive {
            id: b,
            alive: false,
        });
        image.apply(&Command::SetBrokerAlive { id: a, alive: true });
        assert_eq!(
            image.topics["t"].partitions[0].leader, a,
            "unclean: any alive replica"
        );
    }
}
