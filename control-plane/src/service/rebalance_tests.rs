//! Table tests of rebalance proposals: scale up, drain, refusals, leaders, bytes.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn brokers(racks: &[(i32, &str)]) -> Vec<BrokerSlot> {
    racks
        .iter()
        .map(|(id, rack)| BrokerSlot {
            id: *id,
            rack: Some((*rack).to_owned()),
        })
        .collect()
}

/// `count` partitions of `topic` with `rf` replicas laid out round-robin over `on`.
fn topic(topic: &str, count: i32, rf: usize, on: &[i32], bytes: u64) -> Vec<PartitionLoad> {
    (0..count)
        .map(|p| PartitionLoad {
            topic: topic.to_owned(),
            partition: p,
            replicas: (0..rf).map(|k| on[(p as usize + k) % on.len()]).collect(),
            bytes,
        })
        .collect()
}

/// The replica lists after applying `proposal`.
fn after(partitions: &[PartitionLoad], proposal: &Proposal) -> Vec<Vec<i32>> {
    partitions
        .iter()
        .map(|p| {
            proposal
                .moves
                .iter()
                .find(|m| m.topic == p.topic && m.partition == p.partition)
                .map_or(p.replicas.clone(), |m| m.to.clone())
        })
        .collect()
}

fn counts(lists: &[Vec<i32>], of: impl Fn(&Vec<i32>) -> Vec<i32>) -> BTreeMap<i32, usize> {
    let mut n = BTreeMap::new();
    for l in lists {
        for r in of(l) {
            *n.entry(r).or_default() += 1;
        }
    }
    n
}

/// Checks what every proposal must hold: distinct replicas, the replication factor kept,
/// only kept brokers, counts within one, racks no fewer than before where possible.
fn check(case: &str, partitions: &[PartitionLoad], keep: &[BrokerSlot], proposal: &Proposal) {
    let lists = after(partitions, proposal);
    let kept: BTreeSet<i32> = keep.iter().map(|b| b.id).collect();
    let rack = |id: &i32| {
        keep.iter()
            .find(|b| b.id == *id)
            .and_then(|b| b.rack.clone())
    };
    for (p, l) in partitions.iter().zip(&lists) {
        assert_eq!(l.len(), p.replicas.len(), "{case}: RF of {p:?}");
        assert_eq!(
            l.iter().collect::<BTreeSet<_>>().len(),
            l.len(),
            "{case}: {l:?}"
        );
        assert!(
            l.iter().all(|r| kept.contains(r)),
            "{case}: {l:?} on a removed broker"
        );
        let racks = l.iter().map(rack).collect::<BTreeSet<_>>().len();
        let all_racks = keep
            .iter()
            .map(|b| b.rack.clone())
            .collect::<BTreeSet<_>>()
            .len();
        assert_eq!(racks, l.len().min(all_racks), "{case}: racks of {l:?}");
    }
    // Within each rack replica and leader counts differ by at most one; across racks too
    // when the racks are of one size (else rack awareness wins over evenness).
    let mut by_rack: BTreeMap<Option<String>, Vec<i32>> = BTreeMap::new();
    for b in keep {
        by_rack.entry(b.rack.clone()).or_default().push(b.id);
    }
    let sizes: BTreeSet<usize> = by_rack.values().map(Vec::len).collect();
    let mut groups: Vec<Vec<i32>> = by_rack.into_values().collect();
    if sizes.len() == 1 {
        groups.push(kept.iter().copied().collect());
    }
    let replicas = counts(&lists, |l| l.clone());
    let leaders = counts(&lists, |l| vec![l[0]]);
    for group in &groups {
        for (what, n) in [("replica", &replicas), ("leader", &leaders)] {
            let of = |b: &i32| n.get(b).copied().unwrap_or(0);
            let (lo, hi) = (group.iter().map(of).min(), group.iter().map(of).max());
            assert!(
                hi.unwrap_or(0) - lo.unwrap_or(0) <= 1,
                "{case}: {what} counts {n:?} over {group:?}"
            );
        }
    }
    let bytes: u64 = proposal.moves.iter().map(|m| m.bytes).sum();
    assert_eq!(bytes, proposal.bytes_moved, "{case}");
}

#[test]
fn scaling_and_draining_spread_replicas_and_leaders_over_racks() {
    let three = brokers(&[(1, "a"), (2, "b"), (3, "a")]);
    let five = brokers(&[(1, "a"), (2, "b"), (3, "a"), (4, "b"), (5, "a")]);
    // (case, partitions, brokers to keep, fewest and most replicas that may move). The
    // bounds are the least any proposal meeting the goals could move: 3 to 5 over two
    // racks fixes 4 partitions on one rack and fills broker 4 to 6 and broker 5 to 4;
    // RF 3 fills the two new brokers to 6 each; 5 to 3 empties two brokers of 4 each.
    let cases = [
        (
            "3 to 5 brokers over 2 racks, RF 2",
            topic("t", 12, 2, &[1, 2, 3], 100),
            five.clone(),
            10,
            10,
        ),
        (
            "3 to 5 brokers, RF 3",
            topic("t", 10, 3, &[1, 2, 3], 100),
            five.clone(),
            12,
            12,
        ),
        (
            "5 to 3 brokers, RF 2",
            topic("t", 10, 2, &[1, 2, 3, 4, 5], 100),
            three.clone(),
            8,
            8,
        ),
        (
            "balanced already over 3 racks",
            topic("t", 6, 2, &[1, 2, 3], 100),
            brokers(&[(1, "a"), (2, "b"), (3, "c")]),
            0,
            0,
        ),
    ];
    for (case, partitions, keep, least, most) in cases {
        let proposal = propose(&partitions, &keep).expect(case);
        check(case, &partitions, &keep, &proposal);
        assert!(
            (least..=most).contains(&proposal.replicas_moved),
            "{case}: {} replicas moved",
            proposal.replicas_moved
        );
        assert_eq!(
            proposal.bytes_moved,
            proposal.replicas_moved as u64 * 100,
            "{case}"
        );
    }
}

#[test]
fn draining_refuses_when_a_topic_would_not_fit() {
    let partitions = topic("orders", 3, 3, &[1, 2, 3], 100);
    assert_eq!(
        propose(&partitions, &brokers(&[(1, "a"), (2, "b")])),
        Err(RebalanceError::ReplicationFactorTooHigh {
            topic: "orders".into(),
            replication_factor: 3,
            brokers: 2
        })
    );
    assert_eq!(propose(&partitions, &[]), Err(RebalanceError::NoBrokers));
}

#[test]
fn leaders_spread_by_reordering_without_copying() {
    let partitions: Vec<PartitionLoad> = (0..6)
        .map(|p| PartitionLoad {
            topic: "t".into(),
            partition: p,
            replicas: vec![1, 2],
            bytes: 1000,
        })
        .collect();
    let keep = brokers(&[(1, "a"), (2, "b")]);
    let proposal = propose(&partitions, &keep).expect("proposal");
    check("leaders", &partitions, &keep, &proposal);
    assert_eq!((proposal.bytes_moved, proposal.leaders_moved), (0, 3));
}

#[test]
fn the_smallest_partitions_move_first() {
    let mut partitions = topic("small", 8, 1, &[1], 10);
    partitions.push(PartitionLoad {
        topic: "huge".into(),
        partition: 0,
        replicas: vec![1],
        bytes: 1 << 30,
    });
    let keep = brokers(&[(1, "a"), (2, "a")]);
    let proposal = propose(&partitions, &keep).expect("proposal");
    check("smallest first", &partitions, &keep, &proposal);
    assert_eq!(
        proposal.bytes_moved, 40,
        "four small partitions move, not the huge one"
    );
}
