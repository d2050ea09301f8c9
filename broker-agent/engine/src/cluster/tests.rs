//! Three voters on real TCP sockets and real files: election, replication through any
//! member, controller loss, no commit without a majority, and restarts from disk.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use tokio::net::TcpListener;
use uuid::Uuid;

use super::{
    image::{Command, Outcome},
    network, MetadataQuorum,
};

struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    voters: BTreeMap<u64, String>,
    members: BTreeMap<u64, MetadataQuorum>,
}

impl Cluster {
    async fn start() -> Cluster {
        let mut listeners = Vec::new();
        let mut voters = BTreeMap::new();
        for id in 1..=3u64 {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            voters.insert(id, l.local_addr().expect("addr").to_string());
            listeners.push((id, l));
        }
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
        let mut c = Cluster {
            dirs,
            voters,
            members: BTreeMap::new(),
        };
        for (id, l) in listeners {
            let q = MetadataQuorum::start(
                network::Transport::new("unit", None),
                id,
                l,
                &c.voters,
                &c.dir(id),
            )
            .await
            .expect("start");
            c.members.insert(id, q);
        }
        c
    }

    fn dir(&self, id: u64) -> PathBuf {
        self.dirs[(id - 1) as usize].path().to_owned()
    }

    async fn restart(&mut self, id: u64) {
        // The stopped member's listener closes once its aborted task is dropped.
        let mut bound = TcpListener::bind(&self.voters[&id]).await;
        for _ in 0..50 {
            if bound.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            bound = TcpListener::bind(&self.voters[&id]).await;
        }
        let l = bound.expect("rebind");
        let q = MetadataQuorum::start(
            network::Transport::new("unit", None),
            id,
            l,
            &self.voters,
            &self.dir(id),
        )
        .await
        .expect("restart");
        self.members.insert(id, q);
    }

    async fn stop(&mut self, id: u64) {
        if let Some(q) = self.members.remove(&id) {
            q.shutdown().await;
        }
    }

    /// The controller every running member agrees on.
    async fn controller(&self) -> u64 {
        for _ in 0..100 {
            let seen: Vec<Option<u64>> = self.members.values().map(|q| q.controller()).collect();
            if let Some(Some(c)) = seen.first() {
                if seen.iter().all(|s| *s == Some(*c)) && self.members.contains_key(c) {
                    return *c;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no agreed controller");
    }

    /// Waits until every running member's image has `topic`.
    async fn all_see(&self, topic: &str) {
        for _ in 0..100 {
            if self
                .members
                .values()
                .all(|q| q.image().topics.contains_key(topic))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not every member sees {topic}");
    }
}

fn register(id: i32) -> Command {
    Command::RegisterBroker {
        id,
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        rack: Some(format!("r{id}")),
        listeners: Default::default(),
        incarnation: None,
    }
}

fn topic(name: &str) -> Command {
    Command::CreateTopic {
        name: name.into(),
        id: Uuid::new_v4(),
        partitions: 3,
        replication_factor: 3,
        configs: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_replicate_metadata_through_any_member_and_survive_controller_loss() {
    let mut c = Cluster::start().await;
    let controller = c.controller().await;
    assert_eq!(c.members[&controller].voters().len(), 3);
    assert!(c.members[&controller].is_controller());
    let follower = *c
        .members
        .keys()
        .find(|id| **id != controller)
        .expect("follower");

    // Brokers register through whichever member; a follower forwards to the controller.
    for id in 1..=3 {
        let via = &c.members[&(id as u64)];
        assert_eq!(via.propose(register(id)).await, Ok(Outcome::Done));
    }
    assert_eq!(
        c.members[&follower].propose(topic("orders")).await,
        Ok(Outcome::Done)
    );
    c.all_see("orders").await;
    let image = c.members[&controller].image();
    assert_eq!(image.brokers.len(), 3);
    assert!(image.topics["orders"]
        .partitions
        .iter()
        .all(|p| p.replicas.len() == 3));
    // Refusals come back as outcomes with Kafka codes, from any member.
    assert!(matches!(
        c.members[&follower].propose(topic("orders")).await,
        Ok(Outcome::Rejected { code: 36, .. })
    ));

    // The controller dies: the two others elect a new one and keep committing.
    c.stop(controller).await;
    let second = c.controller().await;
    assert_ne!(second, controller);
    assert_eq!(
        c.members[&second].propose(topic("payments")).await,
        Ok(Outcome::Done)
    );

    // The old controller restarts from its files and catches up.
    c.restart(controller).await;
    c.all_see("payments").await;
    assert_eq!(c.members[&controller].image(), c.members[&second].image());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_commits_without_a_majority_and_a_full_restart_keeps_everything() {
    let mut c = Cluster::start().await;
    c.controller().await;
    for id in 1..=3 {
        assert_eq!(c.members[&1].propose(register(id)).await, Ok(Outcome::Done));
    }
    assert_eq!(
        c.members[&1].propose(topic("ledger")).await,
        Ok(Outcome::Done)
    );
    c.all_see("ledger").await;

    // Two of three gone: a proposal cannot commit.
    c.stop(2).await;
    c.stop(3).await;
    let stuck =
        tokio::time::timeout(Duration::from_secs(3), c.members[&1].propose(topic("lost"))).await;
    assert!(
        stuck.is_err() || matches!(stuck, Ok(Err(_))),
        "committed without a majority: {stuck:?}"
    );

    // Everyone restarts from disk: the metadata is intact and the quorum works again.
    c.stop(1).await;
    for id in 1..=3 {
        c.restart(id).await;
    }
    c.controller().await;
    c.all_see("ledger").await;
    assert_eq!(
        c.members[&3].propose(topic("after")).await,
        Ok(Outcome::Done)
    );
    c.all_see("after").await;
    let images: Vec<_> = c.members.values().map(|q| q.image()).collect();
    assert!(
        images.iter().all(|i| *i == images[0]),
        "one image everywhere"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_far_behind_catches_up_from_a_snapshot() {
    let mut c = Cluster::start().await;
    let controller = c.controller().await;
    let behind = *c
        .members
        .keys()
        .find(|id| **id != controller)
        .expect("follower");
    c.stop(behind).await;
    // More than the snapshot interval (1000 entries): the log is compacted, so the
    // returning member cannot be sent the entries it missed, only a snapshot.
    for i in 0..1200 {
        let outcome = c.members[&controller].propose(register(i % 5 + 1)).await;
        assert_eq!(outcome, Ok(Outcome::Done));
    }
    assert_eq!(
        c.members[&controller].propose(topic("late")).await,
        Ok(Outcome::Done)
    );
    // Snapshots and purges run in the background: wait for them.
    let log_len = || {
        std::fs::read_to_string(c.dir(controller).join("log.jsonl"))
            .map(|l| l.lines().count())
            .unwrap_or(0)
    };
    for _ in 0..100 {
        if log_len() < 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        c.dir(controller).join("snapshot.json").exists() && log_len() < 1000,
        "the controller took a snapshot and compacted its log ({} entries kept)",
        log_len()
    );
    c.restart(behind).await;
    c.all_see("late").await;
    assert_eq!(c.members[&behind].image(), c.members[&controller].image());
    assert_eq!(c.members[&behind].image().brokers.len(), 5);
}
