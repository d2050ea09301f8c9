//! Tests of the metadata image: replica spread, refusals, failover, ISR changes.

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
            listeners: Default::default(),
            incarnation: None,
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

#[test]
fn isr_changes_are_fenced_by_leader_epoch_and_bring_back_the_preferred_leader() {
    let mut image = cluster(&["a", "b", "c"]);
    create(&mut image, "t", 1, 3);
    let p = image.topics["t"].partitions[0].clone();
    let (a, b, c) = (p.replicas[0], p.replicas[1], p.replicas[2]);
    let change = |leader, leader_epoch, isr: Vec<i32>| Command::ChangeIsr {
        topic: "t".into(),
        partition: 0,
        leader,
        leader_epoch,
        isr,
    };
    assert_eq!(image.apply(&change(a, 0, vec![a, b])), Outcome::Done);
    assert_eq!(image.topics["t"].partitions[0].isr, vec![a, b]);
    assert!(
        matches!(
            image.apply(&change(b, 0, vec![b])),
            Outcome::Rejected {
                code: codes::FENCED_LEADER_EPOCH,
                ..
            }
        ),
        "only the leader changes the ISR"
    );
    assert!(matches!(
        image.apply(&change(a, 0, vec![b, c])),
        Outcome::Rejected {
            code: codes::INVALID_REQUEST,
            ..
        }
    ));

    // The preferred leader restarts: it loses leadership and ISR place, then earns them
    // back once the new leader reports it caught up.
    image.apply(&Command::RegisterBroker {
        id: a,
        host: "h".into(),
        port: 9092,
        rack: Some("a".into()),
        listeners: Default::default(),
        incarnation: None,
    });
    let p = image.topics["t"].partitions[0].clone();
    assert_eq!((p.leader, p.leader_epoch), (b, 1));
    assert_eq!(p.isr, vec![b]);
    assert_eq!(image.apply(&change(b, 1, vec![b, a])), Outcome::Done);
    let p = image.topics["t"].partitions[0].clone();
    assert_eq!((p.leader, p.leader_epoch), (a, 2), "preferred leader back");
    assert_eq!(p.isr, vec![a, b], "ISR kept in replica order");
}

#[test]
fn producer_id_blocks_never_overlap() {
    let mut image = cluster(&["a", "b"]);
    let take = |image: &mut ClusterImage, broker| {
        image.apply(&Command::AllocateProducerIds {
            broker,
            count: 1000,
        })
    };
    assert_eq!(
        take(&mut image, 1),
        Outcome::ProducerIds {
            start: FIRST_CLUSTER_PRODUCER_ID,
            count: 1000
        }
    );
    assert_eq!(
        take(&mut image, 2),
        Outcome::ProducerIds {
            start: FIRST_CLUSTER_PRODUCER_ID + 1000,
            count: 1000
        }
    );
    assert!(matches!(
        take(&mut image, 9),
        Outcome::Rejected {
            code: codes::INVALID_REQUEST,
            ..
        }
    ));
    assert!(matches!(
        image.apply(&Command::AllocateProducerIds {
            broker: 1,
            count: 0
        }),
        Outcome::Rejected { .. }
    ));
    assert_eq!(image.next_producer_id, FIRST_CLUSTER_PRODUCER_ID + 2000);
}
