//! Moving replicas and electing leaders, Kafka's way (KIP-455), as pure changes to the
//! metadata image:
//! - A reassignment to `target` makes the replica set `target` plus the replicas being
//!   removed, with `adding` and `removing` recorded. The new replicas open the partition
//!   and fetch from the leader like any follower.
//! - The reassignment completes when the ISR holds every target replica: the replica set
//!   becomes `target`, the ISR keeps only target replicas, and if the leader is being
//!   removed, leadership moves to the first target replica in the ISR.
//! - Cancelling puts the original replicas back; a new leader is chosen among them if
//!   the leader was an added replica.
//! - Preferred election hands leadership to the first replica when it is alive and in
//!   sync; unclean election gives a leaderless partition to any alive replica.

use std::collections::BTreeSet;

use super::image::{codes, ClusterImage, Outcome, PartitionState, NO_LEADER};

/// More Kafka error codes for reassignments and elections.
pub mod reassign_codes {
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    pub const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
    pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
    pub const ELECTION_NOT_NEEDED: i16 = 84;
    pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
}
use reassign_codes::*;

fn rejected(code: i16, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        code,
        message: message.into(),
    }
}

/// Why `target` cannot be a replica set, given the registered brokers.
pub fn check_target(target: &[i32], registered: &BTreeSet<i32>) -> Result<(), Outcome> {
    if target.is_empty() {
        return Err(rejected(
            INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes an empty replica list.",
        ));
    }
    if let Some(twice) = target
        .iter()
        .enumerate()
        .find_map(|(i, b)| target[..i].contains(b).then_some(*b))
    {
        return Err(rejected(
            INVALID_REPLICA_ASSIGNMENT,
            format!("The manual partition assignment includes the broker {twice} more than once."),
        ));
    }
    if let Some(missing) = target.iter().find(|b| !registered.contains(b)) {
        return Err(rejected(
            INVALID_REPLICA_ASSIGNMENT,
            format!(
                "The manual partition assignment includes broker {missing}, but no such broker \
                 is registered."
            ),
        ));
    }
    Ok(())
}

/// The partition's replicas before its reassignment began.
fn original(p: &PartitionState) -> Vec<i32> {
    p.replicas
        .iter()
        .copied()
        .filter(|r| !p.adding.contains(r))
        .collect()
}

/// The replicas a reassignment ends with.
fn target(p: &PartitionState) -> Vec<i32> {
    p.replicas
        .iter()
        .copied()
        .filter(|r| !p.removing.contains(r))
        .collect()
}

/// Leadership moves to the first of `candidates` in the ISR and alive, if the current
/// leader is not among them (a new epoch either way it changes).
fn lead_among(p: &mut PartitionState, candidates: &[i32], alive: &BTreeSet<i32>) {
    if candidates.contains(&p.leader) {
        return;
    }
    let next = candidates
        .iter()
        .copied()
        .find(|r| p.isr.contains(r) && alive.contains(r));
    p.leader = next.unwrap_or(NO_LEADER);
    p.leader_epoch += 1;
}

/// Puts the replicas from before the reassignment back: the ISR keeps only them (all of
/// them if none of them was in it), and one of them leads.
fn restore(p: &mut PartitionState, alive: &BTreeSet<i32>) {
    let back = original(p);
    p.isr.retain(|r| back.contains(r));
    if p.isr.is_empty() {
        p.isr = back.clone();
    }
    p.replicas = back.clone();
    p.adding.clear();
    p.removing.clear();
    lead_among(p, &back, alive);
}

/// Starts (or replaces) a reassignment of `p` to `to`, or cancels it with `None`.
pub fn reassign(p: &mut PartitionState, to: Option<&[i32]>, alive: &BTreeSet<i32>) -> Outcome {
    let reassigning = !p.adding.is_empty() || !p.removing.is_empty();
    let Some(to) = to else {
        if !reassigning {
            // Kafka gives no message with this code.
            return rejected(NO_REASSIGNMENT_IN_PROGRESS, "");
        }
        restore(p, alive);
        return Outcome::Done;
    };
    // A reassignment replacing another counts from the replicas before the first one.
    let from = original(p);
    if from == to {
        // Back to where it started (or a no-op): nothing to move.
        restore(p, alive);
        return Outcome::Done;
    }
    p.adding = to.iter().copied().filter(|r| !from.contains(r)).collect();
    p.removing = from.iter().copied().filter(|r| !to.contains(r)).collect();
    p.replicas = to.iter().chain(&p.removing).copied().collect();
    let replicas = p.replicas.clone();
    p.isr.retain(|r| replicas.contains(r));
    complete_if_in_sync(p, alive);
    Outcome::Done
}

/// Ends the reassignment of `p` once every target replica is in the ISR.
pub fn complete_if_in_sync(p: &mut PartitionState, alive: &BTreeSet<i32>) {
    if p.adding.is_empty() && p.removing.is_empty() {
        return;
    }
    let to = target(p);
    if !to.iter().all(|r| p.isr.contains(r)) {
        return;
    }
    p.isr.retain(|r| to.contains(r));
    p.replicas = to.clone();
    p.adding.clear();
    p.removing.clear();
    lead_among(p, &to, alive);
}

/// Elects a leader for `p`: the preferred (first) replica, or with `unclean` any alive
/// replica of a partition that has no leader.
pub fn elect(p: &mut PartitionState, unclean: bool, alive: &BTreeSet<i32>) -> Outcome {
    if unclean {
        if p.leader != NO_LEADER {
            return rejected(
                ELECTION_NOT_NEEDED,
                "Leader election not needed for topic partition.",
            );
        }
        let Some(next) = p.replicas.iter().copied().find(|r| alive.contains(r)) else {
            return rejected(
                ELIGIBLE_LEADERS_NOT_AVAILABLE,
                "No replica of the partition is alive.",
            );
        };
        p.leader = next;
        p.leader_epoch += 1;
        if !p.isr.contains(&next) {
            p.isr = vec![next];
        }
        return Outcome::Done;
    }
    let Some(&preferred) = p.replicas.first() else {
        return rejected(codes::INVALID_REQUEST, "the partition has no replicas");
    };
    if p.leader == preferred {
        return rejected(
            ELECTION_NOT_NEEDED,
            "Leader election not needed for topic partition.",
        );
    }
    if !p.isr.contains(&preferred) || !alive.contains(&preferred) {
        return rejected(
            PREFERRED_LEADER_NOT_AVAILABLE,
            format!("Failed to elect leader for partition: the preferred replica {preferred} is not in sync or not alive."),
        );
    }
    p.leader = preferred;
    p.leader_epoch += 1;
    Outcome::Done
}

impl ClusterImage {
    /// Applies a reassignment (or its cancellation) of one partition.
    pub(super) fn apply_reassign(
        &mut self,
        topic: &str,
        partition: i32,
        to: Option<&[i32]>,
    ) -> Outcome {
        let registered: BTreeSet<i32> = self.brokers.keys().copied().collect();
        if let Some(to) = to {
            if let Err(refused) = check_target(to, &registered) {
                return refused;
            }
        }
        let alive = self.alive_ids();
        match self.partition_mut(topic, partition) {
            Some(p) => reassign(p, to, &alive),
            None => rejected(
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.",
            ),
        }
    }

    /// Applies a leader election on one partition.
    pub(super) fn apply_elect(&mut self, topic: &str, partition: i32, unclean: bool) -> Outcome {
        let alive = self.alive_ids();
        match self.partition_mut(topic, partition) {
            Some(p) => elect(p, unclean, &alive),
            None => rejected(
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.",
            ),
        }
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionState> {
        usize::try_from(partition)
            .ok()
            .and_then(|i| self.topics.get_mut(topic)?.partitions.get_mut(i))
    }
}

#[cfg(test)]
#[path = "reassign_tests.rs"]
mod tests;
