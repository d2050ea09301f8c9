//! Table tests of reassignments and elections on one partition.

use std::collections::BTreeSet;

use super::*;

fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionState {
    PartitionState {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 5,
        adding: Vec::new(),
        removing: Vec::new(),
    }
}

fn alive(ids: &[i32]) -> BTreeSet<i32> {
    ids.iter().copied().collect()
}

/// (replicas, isr, leader, adding, removing, epoch) of a partition.
type Seen = (Vec<i32>, Vec<i32>, i32, Vec<i32>, Vec<i32>, i32);

fn seen(p: &PartitionState) -> Seen {
    (
        p.replicas.clone(),
        p.isr.clone(),
        p.leader,
        p.adding.clone(),
        p.removing.clone(),
        p.leader_epoch,
    )
}

/// A reassignment case: its name, the partition before, the target (None: cancel), the
/// ISR once the followers caught up (None: they do not), and the state expected.
type Case = (
    &'static str,
    PartitionState,
    Option<Vec<i32>>,
    Option<Vec<i32>>,
    Seen,
);

#[test]
fn reassignments_start_complete_and_cancel_as_in_kafka() {
    let all = alive(&[1, 2, 3, 4, 5]);
    let cases: Vec<Case> = vec![
        (
            "1,2,3 to 3,4,5 starts: the new replicas join, nothing leaves yet",
            partition(&[1, 2, 3], &[1, 2, 3], 1),
            Some(vec![3, 4, 5]),
            None,
            (
                vec![3, 4, 5, 1, 2],
                vec![1, 2, 3],
                1,
                vec![4, 5],
                vec![1, 2],
                5,
            ),
        ),
        (
            "once 4 and 5 are in sync the old replicas go and leadership moves to a target",
            partition(&[1, 2, 3], &[1, 2, 3], 1),
            Some(vec![3, 4, 5]),
            Some(vec![1, 2, 3, 4, 5]),
            (vec![3, 4, 5], vec![3, 4, 5], 3, vec![], vec![], 6),
        ),
        (
            "a leader that stays keeps its epoch",
            partition(&[1, 2], &[1, 2], 2),
            Some(vec![2, 3]),
            Some(vec![1, 2, 3]),
            (vec![2, 3], vec![2, 3], 2, vec![], vec![], 5),
        ),
        (
            "the same replicas in another order only reorder, at once",
            partition(&[1, 2, 3], &[1, 2, 3], 1),
            Some(vec![3, 2, 1]),
            None,
            (vec![3, 2, 1], vec![1, 2, 3], 1, vec![], vec![], 5),
        ),
        (
            "shrinking the replication factor completes at once",
            partition(&[1, 2, 3], &[1, 2, 3], 3),
            Some(vec![1, 2]),
            None,
            (vec![1, 2], vec![1, 2], 1, vec![], vec![], 6),
        ),
    ];
    for (case, mut p, to, caught_up, want) in cases {
        assert_eq!(
            reassign(&mut p, to.as_deref(), &all),
            Outcome::Done,
            "{case}"
        );
        if let Some(isr) = caught_up {
            p.isr = isr;
            complete_if_in_sync(&mut p, &all);
        }
        assert_eq!(seen(&p), want, "{case}");
    }
}

#[test]
fn a_cancelled_reassignment_puts_the_original_replicas_back() {
    let all = alive(&[1, 2, 3, 4]);
    let mut p = partition(&[1, 2], &[1, 2], 1);
    assert_eq!(reassign(&mut p, Some(&[3, 4]), &all), Outcome::Done);
    p.isr = vec![1, 2, 3];
    assert_eq!(reassign(&mut p, None, &all), Outcome::Done);
    assert_eq!(seen(&p), (vec![1, 2], vec![1, 2], 1, vec![], vec![], 5));
    assert_eq!(
        reassign(&mut p, None, &all),
        Outcome::Rejected {
            code: reassign_codes::NO_REASSIGNMENT_IN_PROGRESS,
            message: String::new()
        }
    );
}

#[test]
fn a_reassignment_replaced_midway_counts_from_the_original_replicas() {
    let all = alive(&[1, 2, 3, 4, 5]);
    let mut p = partition(&[1, 2], &[1, 2], 1);
    reassign(&mut p, Some(&[3, 4]), &all);
    reassign(&mut p, Some(&[1, 5]), &all);
    assert_eq!(
        seen(&p),
        (vec![1, 5, 2], vec![1, 2], 1, vec![5], vec![2], 5)
    );
}

#[test]
fn targets_are_checked_against_the_registered_brokers() {
    let registered = alive(&[1, 2, 3]);
    let code = |t: &[i32]| match check_target(t, &registered) {
        Err(Outcome::Rejected { code, .. }) => code,
        other => panic!("{t:?}: {other:?}"),
    };
    assert_eq!(code(&[]), reassign_codes::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(code(&[1, 1]), reassign_codes::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(code(&[1, 7]), reassign_codes::INVALID_REPLICA_ASSIGNMENT);
    assert!(check_target(&[3, 1], &registered).is_ok());
}

#[test]
fn elections_follow_kafkas_rules() {
    let code = |o: Outcome| match o {
        Outcome::Done => 0,
        Outcome::Rejected { code, .. } => code,
        other => panic!("{other:?}"),
    };
    // (case, partition, unclean, alive brokers, outcome code, leader after)
    let cases = [
        (
            "preferred already leads",
            partition(&[1, 2], &[1, 2], 1),
            false,
            vec![1, 2],
            84,
            1,
        ),
        (
            "preferred back in sync",
            partition(&[1, 2], &[1, 2], 2),
            false,
            vec![1, 2],
            0,
            1,
        ),
        (
            "preferred out of sync",
            partition(&[1, 2], &[2], 2),
            false,
            vec![1, 2],
            80,
            2,
        ),
        (
            "preferred down",
            partition(&[1, 2], &[1, 2], 2),
            false,
            vec![2],
            80,
            2,
        ),
        (
            "unclean with a leader",
            partition(&[1, 2], &[1], 1),
            true,
            vec![1, 2],
            84,
            1,
        ),
        (
            "unclean, leaderless",
            partition(&[1, 2], &[1], NO_LEADER),
            true,
            vec![2],
            0,
            2,
        ),
        (
            "unclean, all down",
            partition(&[1, 2], &[1], NO_LEADER),
            true,
            vec![],
            83,
            NO_LEADER,
        ),
    ];
    for (case, mut p, unclean, up, want, leader) in cases {
        assert_eq!(code(elect(&mut p, unclean, &alive(&up))), want, "{case}");
        assert_eq!(p.leader, leader, "{case}");
    }
}
