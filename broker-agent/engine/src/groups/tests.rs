//! Coordinator transitions: join, sync, heartbeat, leave, expiry, commits, restart.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::{
    store::{Committed, GroupStore},
    Coordinator, GroupConfig, JoinRequest,
};

fn coordinator(dir: &std::path::Path) -> Arc<Coordinator> {
    let store = GroupStore::open(&dir.join("groups.log")).expect("store");
    let config = GroupConfig {
        initial_rebalance_delay: Duration::from_millis(50),
        min_session_timeout: Duration::from_millis(100),
        ..GroupConfig::default()
    };
    Coordinator::open(store, config)
}

fn join_req(member: &str) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_millis(300),
        rebalance_timeout: Duration::from_millis(300),
        protocol_type: "consumer".into(),
        protocols: vec![
            ("range".into(), Bytes::from_static(b"r")),
            ("roundrobin".into(), Bytes::from_static(b"rr")),
        ],
        require_known_member_id: true,
    }
}

/// Asks for a member id, then joins with it (two round trips, as v4+ clients do).
async fn join(c: &Arc<Coordinator>, member: &str) -> super::JoinResult {
    let mut req = join_req(member);
    if member.is_empty() {
        let first = c.join(req.clone()).await;
        assert_eq!(first.error, ResponseError::MemberIdRequired.code());
        req.member_id = first.member_id;
    }
    c.join(req).await
}

fn commit(offset: i64) -> Vec<((String, i32), Committed)> {
    vec![(
        ("t".into(), 0),
        Committed {
            offset,
            leader_epoch: 0,
            metadata: None,
            commit_ms: 0,
        },
    )]
}

#[tokio::test]
async fn two_members_join_sync_and_rebalance_when_one_leaves() {
    let dir = tempfile::tempdir().expect("dir");
    let c = coordinator(dir.path());
    let (a, b) = tokio::join!(join(&c, ""), join(&c, ""));
    assert_eq!((a.error, b.error), (0, 0));
    assert_eq!(a.generation, b.generation);
    assert_eq!(
        a.protocol.as_deref(),
        Some("range"),
        "both rank range first"
    );
    let (leader, follower) = if a.leader == a.member_id {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(leader.members.len(), 2);
    assert!(follower.members.is_empty());

    let gen = leader.generation;
    let assignments = vec![
        (leader.member_id.clone(), Bytes::from_static(b"L")),
        (follower.member_id.clone(), Bytes::from_static(b"F")),
    ];
    let (fs, ls) = tokio::join!(c.sync("g", gen, &follower.member_id, vec![]), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.sync("g", gen, &leader.member_id, assignments.clone())
            .await
    });
    assert_eq!(
        (fs.assignment.as_ref(), ls.assignment.as_ref()),
        (&b"F"[..], &b"L"[..])
    );
    assert_eq!(c.describe("g").expect("group").state, "Stable");
    assert_eq!(c.heartbeat("g", gen, &follower.member_id), 0);
    assert_eq!(
        c.heartbeat("g", gen - 1, &follower.member_id),
        ResponseError::IllegalGeneration.code()
    );
    assert_eq!(
        c.heartbeat("g", gen, "stranger"),
        ResponseError::UnknownMemberId.code()
    );

    // The follower leaves: the leader is told to rejoin and gets a new generation alone.
    assert_eq!(c.leave("g", &[(follower.member_id.clone(), None)]), vec![0]);
    assert_eq!(
        c.heartbeat("g", gen, &leader.member_id),
        ResponseError::RebalanceInProgress.code()
    );
    let again = join(&c, &leader.member_id).await;
    assert_eq!(
        (again.error, again.generation, again.members.len()),
        (0, gen + 1, 1)
    );
}

#[tokio::test]
async fn silent_members_expire_and_an_empty_group_keeps_its_offsets() {
    let dir = tempfile::tempdir().expect("dir");
    let c = coordinator(dir.path());
    let a = join(&c, "").await;
    c.sync(
        "g",
        a.generation,
        &a.member_id,
        vec![(a.member_id.clone(), Bytes::from_static(b"A"))],
    )
    .await;
    let exists = |t: &str, p: i32| t == "t" && p == 0;
    let r = c.commit("g", a.generation, &a.member_id, commit(42), exists);
    assert_eq!(r[0].1, 0);
    let stale = c.commit("g", a.generation - 1, &a.member_id, commit(1), exists);
    assert_eq!(stale[0].1, ResponseError::IllegalGeneration.code());
    let unknown = c.commit(
        "g",
        a.generation,
        &a.member_id,
        vec![(("nope".into(), 0), commit(1)[0].1.clone())],
        exists,
    );
    assert_eq!(unknown[0].1, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(c.delete("g"), ResponseError::NonEmptyGroup.code());

    tokio::time::sleep(Duration::from_millis(400)).await;
    c.expire_sessions();
    assert_eq!(c.describe("g").expect("group").state, "Empty");
    // Now a consumer without a group generation may commit.
    assert_eq!(c.commit("g", -1, "", commit(50), exists)[0].1, 0);
    drop(c);
    let c = coordinator(dir.path());
    let fetched = c.fetch_offsets("g", None);
    assert_eq!(fetched[0].1.as_ref().map(|x| x.offset), Some(50));
    assert_eq!(c.list()[0].0, "g");
    assert_eq!(c.delete("g"), 0);
    assert!(c.fetch_offsets("g", None).is_empty());
    assert_eq!(c.delete("g"), ResponseError::GroupIdNotFound.code());
}

#[tokio::test]
async fn bad_joins_get_kafka_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let c = coordinator(dir.path());
    let mut r = join_req("");
    r.session_timeout = Duration::from_millis(1);
    assert_eq!(
        c.join(r).await.error,
        ResponseError::InvalidSessionTimeout.code()
    );
    let mut r = join_req("");
    r.group_id = String::new();
    assert_eq!(c.join(r).await.error, ResponseError::InvalidGroupId.code());
    assert_eq!(
        c.join(join_req("made-up")).await.error,
        ResponseError::UnknownMemberId.code()
    );
    let a = join(&c, "").await;
    assert_eq!(a.error, 0);
    let mut other = join_req("");
    other.protocol_type = "connect".into();
    other.require_known_member_id = false;
    assert_eq!(
        c.join(other).await.error,
        ResponseError::InconsistentGroupProtocol.code()
    );
}

#[tokio::test]
async fn a_static_member_back_under_a_new_id_keeps_its_assignment_without_a_rebalance() {
    let dir = tempfile::tempdir().expect("dir");
    let c = coordinator(dir.path());
    let as_instance = |instance: &str| JoinRequest {
        group_instance_id: Some(instance.into()),
        session_timeout: Duration::from_secs(10),
        ..join_req("")
    };
    // Static members join at once, without the MEMBER_ID_REQUIRED round trip.
    let (a, b) = tokio::join!(c.join(as_instance("a")), c.join(as_instance("b")));
    assert_eq!((a.error, b.error), (0, 0));
    let gen = a.generation;
    let given = vec![
        (a.member_id.clone(), Bytes::from_static(b"A")),
        (b.member_id.clone(), Bytes::from_static(b"B")),
    ];
    let for_leader = |m: &super::JoinResult| {
        if m.member_id == m.leader {
            given.clone()
        } else {
            Vec::new()
        }
    };
    let (sa, sb) = tokio::join!(
        c.sync("g", gen, &a.member_id, for_leader(&a)),
        c.sync("g", gen, &b.member_id, for_leader(&b))
    );
    assert_eq!((sa.error, sb.error), (0, 0));

    // b's client restarts: it comes back with its instance id and no member id.
    let back = c.join(as_instance("b")).await;
    assert_eq!((back.error, back.generation), (0, gen), "no new generation");
    assert_ne!(back.member_id, b.member_id);
    let sync = c.sync("g", gen, &back.member_id, Vec::new()).await;
    assert_eq!((sync.error, sync.assignment), (0, Bytes::from_static(b"B")));
    assert_eq!(
        c.heartbeat("g", gen, &a.member_id),
        0,
        "a is not asked to rejoin"
    );

    // The old incarnation is fenced, by join and by leave.
    let stale = c
        .join(JoinRequest {
            member_id: b.member_id.clone(),
            ..as_instance("b")
        })
        .await;
    assert_eq!(stale.error, ResponseError::FencedInstanceId.code());
    assert_eq!(
        c.leave("g", &[(b.member_id.clone(), Some("b".into()))]),
        vec![ResponseError::FencedInstanceId.code()]
    );
    // Leaving by instance id alone removes the current incarnation.
    assert_eq!(c.leave("g", &[(String::new(), Some("b".into()))]), vec![0]);
    assert_eq!(
        c.heartbeat("g", gen, &a.member_id),
        ResponseError::RebalanceInProgress.code()
    );
}
