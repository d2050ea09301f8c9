//! Table tests of day-2 plans: every transition the executor must carry out.

use std::time::Duration;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn desired(brokers: usize, storage_gib: i64) -> Desired {
    Desired {
        brokers,
        storage_gib,
        config: "c1".into(),
        engine_version: "v1".into(),
        replace_after: HOUR,
        auto_replace: true,
    }
}

fn broker(id: i32, rack: &str) -> BrokerView {
    BrokerView {
        id,
        rack: Some(rack.into()),
        offline_for: None,
        storage_gib: 100,
        used_bytes: 10 << 30,
        config: "c1".into(),
        engine_version: "v1".into(),
    }
}

fn slot(id: i32, rack: &str) -> BrokerSlot {
    BrokerSlot {
        id,
        rack: Some(rack.into()),
    }
}

/// `count` partitions with `rf` replicas round-robin over `on`, 1 GiB each.
fn partitions(count: i32, rf: usize, on: &[i32]) -> Vec<PartitionLoad> {
    (0..count)
        .map(|p| PartitionLoad {
            topic: "t".into(),
            partition: p,
            replicas: (0..rf).map(|k| on[(p as usize + k) % on.len()]).collect(),
            bytes: 1 << 30,
        })
        .collect()
}

/// A step's kind and broker, for comparing plans.
fn shape(steps: &[Planned]) -> Vec<String> {
    steps
        .iter()
        .map(|p| match &p.step {
            Step::PlaceBroker { broker } => format!("place {}", broker.id),
            Step::WaitJoined { id } => format!("joined {id}"),
            Step::Reassign { proposal } => format!("reassign {}", proposal.replicas_moved),
            Step::WaitReassigned => "reassigned".into(),
            Step::RemoveBroker { id } => format!("remove {id}"),
            Step::ReleaseVolume { id } => format!("release {id}"),
            Step::GrowVolume { id, gib } => format!("grow {id} to {gib}"),
            Step::RollBroker { id } => format!("roll {id}"),
            Step::WaitInSync => "in sync".into(),
        })
        .collect()
}

/// A case: its name, the spec, the brokers, the partitions, the brokers placement found
/// for any to add, and the steps expected.
type Case = (
    &'static str,
    Desired,
    Vec<BrokerView>,
    Vec<PartitionLoad>,
    Vec<BrokerSlot>,
    Vec<&'static str>,
);

#[test]
fn every_transition_gets_its_steps_in_order() {
    let three = vec![broker(1, "a"), broker(2, "b"), broker(3, "a")];
    let five: Vec<BrokerView> = [(1, "a"), (2, "b"), (3, "a"), (4, "b"), (5, "a")]
        .iter()
        .map(|(id, rack)| broker(*id, rack))
        .collect();
    let mut five_one_offline = five.clone();
    five_one_offline[1].offline_for = Some(Duration::from_secs(60));
    let mut three_one_dead = three.clone();
    three_one_dead[2].offline_for = Some(2 * HOUR);
    let mut rolled = three.clone();
    rolled[0].engine_version = "v0".into();
    rolled[2].config = "c0".into();
    let cases: Vec<Case> = vec![
        (
            "3 to 5 brokers with 2 racks",
            desired(5, 100),
            three.clone(),
            partitions(12, 2, &[1, 2, 3]),
            vec![slot(4, "b"), slot(5, "a")],
            vec![
                "place 4",
                "joined 4",
                "place 5",
                "joined 5",
                "reassign 10",
                "reassigned",
            ],
        ),
        (
            "5 to 3 brokers while one host is offline: the offline one goes first",
            desired(3, 100),
            five_one_offline,
            partitions(10, 2, &[1, 2, 3, 4, 5]),
            vec![],
            vec![
                "reassign 8",
                "reassigned",
                "remove 2",
                "release 2",
                "remove 5",
                "release 5",
            ],
        ),
        (
            "storage grow on ceph-rbd",
            desired(3, 200),
            three.clone(),
            partitions(6, 2, &[1, 2, 3]),
            vec![],
            vec!["grow 1 to 200", "grow 2 to 200", "grow 3 to 200"],
        ),
        (
            "a host offline past the grace period: its broker is replaced",
            desired(3, 100),
            three_one_dead,
            partitions(6, 2, &[1, 2, 3]),
            vec![slot(4, "a")],
            vec![
                "place 4",
                "joined 4",
                // Broker 2 is rack b's only broker, so it ends with a replica of every
                // partition; 1 and 4 share the rest: 2 gains 2 replicas, 4 gains 3.
                "reassign 5",
                "reassigned",
                "remove 3",
                "release 3",
            ],
        ),
        (
            "a config change and an engine upgrade roll one broker at a time",
            desired(3, 100),
            rolled,
            partitions(6, 2, &[1, 2, 3]),
            vec![],
            vec!["roll 1", "in sync", "roll 3", "in sync"],
        ),
        (
            "nothing to do",
            desired(3, 100),
            three.clone(),
            partitions(6, 2, &[1, 2, 3]),
            vec![],
            vec![],
        ),
    ];
    for (case, want, brokers, parts, placed, steps) in cases {
        let observed = Observed {
            brokers,
            partitions: parts,
        };
        let plan = plan(&want, &observed, &placed).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(shape(&plan), steps, "{case}");
        assert!(
            plan.iter().all(|p| !p.reason.is_empty()),
            "{case}: every step says why"
        );
    }
}

#[test]
fn changes_that_cannot_be_carried_out_are_refused_with_the_reason() {
    let three = vec![broker(1, "a"), broker(2, "b"), broker(3, "a")];
    let observed = |brokers: Vec<BrokerView>, rf: usize| Observed {
        brokers,
        partitions: partitions(6, rf, &[1, 2, 3]),
    };
    assert_eq!(
        plan(&desired(3, 50), &observed(three.clone(), 2), &[]),
        Err(PlanError::StorageShrink {
            desired: 50,
            current: 100
        })
    );
    assert!(matches!(
        plan(&desired(2, 100), &observed(three.clone(), 3), &[]),
        Err(PlanError::Rebalance(
            RebalanceError::ReplicationFactorTooHigh { .. }
        ))
    ));
    let mut full = three.clone();
    for b in &mut full {
        b.used_bytes = 60 << 30;
    }
    assert_eq!(
        plan(&desired(2, 100), &observed(full, 2), &[]),
        Err(PlanError::WouldNotFit {
            needed_gib: 180,
            brokers: 2,
            per_broker_gib: 100
        })
    );
    assert_eq!(
        plan(&desired(5, 100), &observed(three, 2), &[slot(4, "b")]),
        Err(PlanError::NotPlaced {
            placed: 1,
            needed: 2
        })
    );
}
