//! Pure rebalance proposals, in Cruise Control's spirit: given where every partition's
//! replicas are and which brokers are to keep them, propose new replica lists that
//! 1. move every replica off brokers being removed (drained);
//! 2. keep each partition's replicas on distinct racks where the racks allow it;
//! 3. spread replicas evenly over the kept brokers (counts within one of each other),
//!    moving the smallest partitions first so the fewest bytes move;
//! 4. spread preferred leaders (first replicas) evenly, by reordering replicas, which
//!    moves no data.
//!
//! The proposal says what moves and how many bytes before anything moves; executing it
//! is a reassignment per changed partition (AlterPartitionReassignments).

use std::collections::{BTreeMap, BTreeSet};

/// One partition as the cluster reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLoad {
    pub topic: String,
    pub partition: i32,
    /// Replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// Bytes one replica holds (what moving it copies).
    pub bytes: u64,
}

/// A broker that keeps (or receives) replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerSlot {
    pub id: i32,
    pub rack: Option<String>,
}

/// One partition's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub topic: String,
    pub partition: i32,
    pub from: Vec<i32>,
    pub to: Vec<i32>,
    /// Bytes copied: one replica's bytes for each broker in `to` not in `from`.
    pub bytes: u64,
}

/// What a rebalance would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposal {
    pub moves: Vec<Move>,
    /// Replicas copied to a new broker.
    pub replicas_moved: usize,
    pub bytes_moved: u64,
    /// Partitions whose preferred leader changes (without copying data).
    pub leaders_moved: usize,
}

/// Why no proposal can be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RebalanceError {
    #[error("{topic} has replication factor {replication_factor}, but only {brokers} brokers would remain")]
    ReplicationFactorTooHigh {
        topic: String,
        replication_factor: usize,
        brokers: usize,
    },
    #[error("no broker would remain")]
    NoBrokers,
}

/// Replicas and leaders per broker while the proposal is built.
struct Load<'a> {
    brokers: &'a [BrokerSlot],
    replicas: BTreeMap<i32, usize>,
    bytes: BTreeMap<i32, u64>,
}

impl Load<'_> {
    fn rack(&self, id: i32) -> Option<&str> {
        self.brokers
            .iter()
            .find(|b| b.id == id)
            .and_then(|b| b.rack.as_deref())
    }

    fn distinct_racks(&self, replicas: &[i32]) -> usize {
        replicas
            .iter()
            .map(|r| self.rack(*r))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The best kept broker to take a replica of a partition now on `others`: a new rack
    /// first, then the fewest replicas, the fewest bytes, the lowest id.
    fn best_for(&self, others: &[i32]) -> Option<i32> {
        let used: BTreeSet<Option<&str>> = others.iter().map(|r| self.rack(*r)).collect();
        self.brokers
            .iter()
            .filter(|b| !others.contains(&b.id))
            .min_by_key(|b| {
                (
                    used.contains(&b.rack.as_deref()),
                    self.replicas[&b.id],
                    self.bytes[&b.id],
                    b.id,
                )
            })
            .map(|b| b.id)
    }

    fn shift(&mut self, from: Option<i32>, to: i32, bytes: u64) {
        if let Some(from) = from {
            if let Some(n) = self.replicas.get_mut(&from) {
                *n -= 1;
            }
            if let Some(b) = self.bytes.get_mut(&from) {
                *b -= bytes;
            }
        }
        *self.replicas.entry(to).or_default() += 1;
        *self.bytes.entry(to).or_default() += bytes;
    }
}

/// The next replica to move to even out counts: (from, to, partition index), taking the
/// fullest giver and emptiest taker that have a partition (smallest first, in `order`)
/// that can move between them without losing a rack.
fn next_move(load: &Load<'_>, target: &[Vec<i32>], order: &[usize]) -> Option<(i32, i32, usize)> {
    let mut givers: Vec<(i32, usize)> = load.replicas.iter().map(|(b, n)| (*b, *n)).collect();
    givers.sort_by_key(|(b, n)| (std::cmp::Reverse(*n), *b));
    let mut takers = givers.clone();
    takers.reverse();
    for &(full, most) in &givers {
        for &(empty, _) in takers.iter().filter(|(_, least)| least + 1 < most) {
            let found = order.iter().copied().find(|i| {
                let replicas = &target[*i];
                if !replicas.contains(&full) || replicas.contains(&empty) {
                    return false;
                }
                let swapped: Vec<i32> = replicas
                    .iter()
                    .map(|r| if *r == full { empty } else { *r })
                    .collect();
                load.distinct_racks(&swapped) >= load.distinct_racks(replicas)
            });
            if let Some(i) = found {
                return Some((full, empty, i));
            }
        }
    }
    None
}

/// Proposes new replica lists spreading `partitions` over `keep`.
pub fn propose(
    partitions: &[PartitionLoad],
    keep: &[BrokerSlot],
) -> Result<Proposal, RebalanceError> {
    if keep.is_empty() {
        return Err(RebalanceError::NoBrokers);
    }
    if let Some(p) = partitions.iter().find(|p| p.replicas.len() > keep.len()) {
        return Err(RebalanceError::ReplicationFactorTooHigh {
            topic: p.topic.clone(),
            replication_factor: p.replicas.len(),
            brokers: keep.len(),
        });
    }
    let kept: BTreeSet<i32> = keep.iter().map(|b| b.id).collect();
    let mut load = Load {
        brokers: keep,
        replicas: kept.iter().map(|id| (*id, 0)).collect(),
        bytes: kept.iter().map(|id| (*id, 0)).collect(),
    };
    let mut target: Vec<Vec<i32>> = partitions
        .iter()
        .map(|p| {
            p.replicas
                .iter()
                .copied()
                .filter(|r| kept.contains(r))
                .collect()
        })
        .collect();
    for (p, replicas) in partitions.iter().zip(&target) {
        for r in replicas {
            load.shift(None, *r, p.bytes);
        }
    }
    // 1. Replicas on removed brokers go to the best kept broker, in place (so a drained
    // preferred leader's slot stays first).
    for (p, replicas) in partitions.iter().zip(target.iter_mut()) {
        for (slot, old) in p.replicas.iter().enumerate() {
            if kept.contains(old) {
                continue;
            }
            let Some(to) = load.best_for(replicas) else {
                continue;
            };
            load.shift(None, to, p.bytes);
            replicas.insert(slot.min(replicas.len()), to);
        }
    }
    // 2. Rack awareness: a replica sharing a rack with an earlier one moves to a rack the
    // partition lacks, while the kept brokers have one.
    let racks = keep
        .iter()
        .map(|b| b.rack.as_deref())
        .collect::<BTreeSet<_>>()
        .len();
    for (p, replicas) in partitions.iter().zip(target.iter_mut()) {
        while load.distinct_racks(replicas) < replicas.len().min(racks) {
            let Some(slot) = (1..replicas.len()).rev().find(|i| {
                let rack = load.rack(replicas[*i]);
                replicas[..*i].iter().any(|r| load.rack(*r) == rack)
            }) else {
                break;
            };
            let Some(to) = load.best_for(replicas) else {
                break;
            };
            let from = replicas[slot];
            replicas[slot] = to;
            load.shift(Some(from), to, p.bytes);
        }
    }
    // 3. Even replica counts: from the fullest broker to the emptiest, smallest partition
    // first, never onto a broker the partition has and never losing a rack.
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|i| (partitions[*i].bytes, *i));
    // Rack awareness can make an even spread impossible (two racks of unequal size);
    // then replicas even out as far as it allows: any fuller broker gives to any emptier
    // one where some partition can move without losing a rack.
    while let Some((full, empty, i)) = next_move(&load, &target, &order) {
        for r in target[i].iter_mut().filter(|r| **r == full) {
            *r = empty;
        }
        load.shift(Some(full), empty, partitions[i].bytes);
    }
    // 4. Even preferred leaders, by reordering.
    let mut leaders: BTreeMap<i32, usize> = kept.iter().map(|id| (*id, 0)).collect();
    for replicas in &target {
        if let Some(first) = replicas.first() {
            *leaders.entry(*first).or_default() += 1;
        }
    }
    for replicas in target.iter_mut() {
        let Some(&first) = replicas.first() else {
            continue;
        };
        let lighter = replicas
            .iter()
            .copied()
            .skip(1)
            .min_by_key(|r| (leaders[r], *r))
            .filter(|r| leaders[r] + 1 < leaders[&first]);
        if let Some(to) = lighter {
            let at = replicas.iter().position(|r| *r == to).expect("a replica");
            replicas.swap(0, at);
            *leaders.entry(first).or_default() -= 1;
            *leaders.entry(to).or_default() += 1;
        }
    }
    let mut proposal = Proposal::default();
    for (p, to) in partitions.iter().zip(target) {
        if to == p.replicas {
            continue;
        }
        let added = to.iter().filter(|r| !p.replicas.contains(r)).count();
        if added == 0 {
            proposal.leaders_moved += 1;
        }
        proposal.replicas_moved += added;
        proposal.bytes_moved += added as u64 * p.bytes;
        proposal.moves.push(Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            bytes: added as u64 * p.bytes,
            to,
        });
    }
    Ok(proposal)
}

#[cfg(test)]
#[path = "rebalance_tests.rs"]
mod tests;
