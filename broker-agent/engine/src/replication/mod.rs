//! Replication between the brokers of a cluster, Kafka's way: followers fetch from the
//! partition leader with replica fetches; the leader tracks how far each follower got,
//! keeps the in-sync replica set (ISR) honest through the metadata quorum, and advances
//! the high watermark — the end of what every ISR member has — which is all consumers
//! see and what acks=all waits for. Leader epochs let a follower cut what a former
//! leader wrote that the cluster never committed.

pub mod fetcher;
pub mod leader;

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

use tokio::sync::Notify;

const HW_FILE: &str = "high-watermark";
/// Least time between two ISR change proposals for one partition.
const PROPOSE_SPACING: std::time::Duration = std::time::Duration::from_millis(500);

/// What the leader knows of one follower of a partition.
#[derive(Clone, Copy, Debug)]
struct Follower {
    /// The follower's log end offset (its last fetch offset).
    leo: i64,
    /// The last time the follower had everything the leader had.
    caught_up: Instant,
    last_fetch: Instant,
    /// The leader's log end when the follower last fetched.
    leader_leo_at_last_fetch: i64,
}

/// The leader's view of a partition it leads at one epoch.
struct Leadership {
    epoch: i32,
    /// When this broker started leading at `epoch`.
    since: Instant,
    followers: HashMap<i32, Follower>,
}

type LeadershipGuard<'a> = std::sync::MutexGuard<'a, Option<Leadership>>;

/// The replication state of one partition on one broker.
pub struct ReplicaState {
    high_watermark: AtomicI64,
    /// The high watermark last written to disk.
    persisted: AtomicI64,
    /// Leader side: what it knows of followers at its current epoch.
    leadership: Mutex<Option<Leadership>>,
    /// Woken when the high watermark advances (acks=all waits on it).
    pub committed: Notify,
    /// The broker's wake-up for fetches waiting for data: records become visible to
    /// consumers when the high watermark passes them, not when they are appended.
    visible: Arc<Notify>,
    /// When this broker last proposed an ISR change for the partition.
    last_proposal: Mutex<Option<Instant>>,
}

impl ReplicaState {
    /// The state of the partition stored in `dir`: the high watermark it last wrote,
    /// never past `log_end`.
    pub fn open(dir: &Path, log_end: i64, visible: Arc<Notify>) -> ReplicaState {
        let stored = std::fs::read_to_string(dir.join(HW_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0)
            .clamp(0, log_end.max(0));
        ReplicaState {
            high_watermark: AtomicI64::new(stored),
            persisted: AtomicI64::new(stored),
            leadership: Mutex::new(None),
            committed: Notify::new(),
            visible,
            last_proposal: Mutex::new(None),
        }
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Sets the high watermark (a follower copies the leader's; a standalone broker's is
    /// its log end) and wakes waiters when it moved forward.
    pub fn set_high_watermark(&self, hw: i64) {
        let old = self.high_watermark.swap(hw, Ordering::AcqRel);
        if hw > old {
            self.committed.notify_waiters();
            self.visible.notify_waiters();
        }
    }

    /// Writes the high watermark to `dir` when it changed since the last write, so a
    /// restarted broker never shows consumers more than was committed.
    pub fn persist(&self, dir: &Path) -> std::io::Result<()> {
        let hw = self.high_watermark();
        if self.persisted.swap(hw, Ordering::AcqRel) != hw {
            crate::fsutil::write_atomic(&dir.join(HW_FILE), hw.to_string().as_bytes())?;
        }
        Ok(())
    }

    fn lock(&self) -> LeadershipGuard<'_> {
        self.leadership.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (or keeps) leading at `epoch`: a new epoch forgets what was known of
    /// followers, who then count from now.
    fn lead(&self, epoch: i32) -> LeadershipGuard<'_> {
        let mut guard = self.lock();
        if guard.as_ref().map(|l| l.epoch) != Some(epoch) {
            *guard = Some(Leadership {
                epoch,
                since: Instant::now(),
                followers: HashMap::new(),
            });
        }
        guard
    }

    /// Notes a replica fetch from `follower` at `fetch_offset` while the leader's log ends
    /// at `leader_leo`. Kafka's rule: a follower is caught up at the time of a fetch that
    /// reaches the leader's log end, or the end the leader had at its previous fetch.
    pub fn record_fetch(&self, epoch: i32, follower: i32, fetch_offset: i64, leader_leo: i64) {
        let now = Instant::now();
        let mut guard = self.lead(epoch);
        let Some(Leadership {
            since, followers, ..
        }) = guard.as_mut()
        else {
            return;
        };
        let prev = followers.get(&follower).copied();
        let caught_up = if fetch_offset >= leader_leo {
            now
        } else {
            match prev {
                Some(p) if fetch_offset >= p.leader_leo_at_last_fetch => p.last_fetch,
                Some(p) => p.caught_up,
                None => *since,
            }
        };
        followers.insert(
            follower,
            Follower {
                leo: fetch_offset,
                caught_up,
                last_fetch: now,
                leader_leo_at_last_fetch: leader_leo,
            },
        );
    }

    /// Leader side: raises the high watermark to the smallest log end among the ISR
    /// (`leader_leo` for the leader itself; a follower not heard from at this epoch holds
    /// it where it is). Never lowers it.
    pub fn advance(&self, epoch: i32, me: i32, isr: &[i32], leader_leo: i64) {
        let guard = self.lead(epoch);
        let Some(Leadership { followers, .. }) = guard.as_ref() else {
            return;
        };
        let mut hw = leader_leo;
        for r in isr.iter().filter(|r| **r != me) {
            match followers.get(r) {
                Some(f) => hw = hw.min(f.leo),
                None => return,
            }
        }
        drop(guard);
        if hw > self.high_watermark() {
            self.set_high_watermark(hw);
        }
    }

    /// Leader side: ISR followers that have not caught up for longer than `max_lag`.
    pub fn lagging(
        &self,
        epoch: i32,
        me: i32,
        isr: &[i32],
        max_lag: std::time::Duration,
    ) -> Vec<i32> {
        let guard = self.lead(epoch);
        let Some(Leadership {
            since, followers, ..
        }) = guard.as_ref()
        else {
            return Vec::new();
        };
        isr.iter()
            .copied()
            .filter(|r| *r != me)
            .filter(|r| {
                let caught_up = followers.get(r).map_or(*since, |f| f.caught_up);
                caught_up.elapsed() > max_lag
            })
            .collect()
    }

    /// This broker no longer leads the partition.
    pub fn step_down(&self) {
        *self.lock() = None;
    }

    /// True at most once per [`PROPOSE_SPACING`]: ISR changes for one partition are
    /// spaced so a slow quorum is not flooded.
    pub fn may_propose(&self) -> bool {
        let mut last = self.last_proposal.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < PROPOSE_SPACING) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_high_watermark_follows_the_slowest_isr_member_and_never_goes_back() {
        let dir = tempfile::tempdir().expect("dir");
        let r = ReplicaState::open(dir.path(), 0, Default::default());
        r.advance(1, 1, &[1, 2, 3], 10);
        assert_eq!(r.high_watermark(), 0, "followers not heard from hold it");
        r.record_fetch(1, 2, 10, 10);
        r.record_fetch(1, 3, 4, 10);
        r.advance(1, 1, &[1, 2, 3], 10);
        assert_eq!(r.high_watermark(), 4);
        r.advance(1, 1, &[1, 2], 10);
        assert_eq!(
            r.high_watermark(),
            10,
            "the ISR shrank to the caught-up follower"
        );
        r.record_fetch(1, 2, 8, 12);
        r.advance(1, 1, &[1, 2], 12);
        assert_eq!(r.high_watermark(), 10, "never lowered");
        r.persist(dir.path()).expect("persist");
        assert_eq!(
            ReplicaState::open(dir.path(), 100, Default::default()).high_watermark(),
            10
        );
        assert_eq!(
            ReplicaState::open(dir.path(), 7, Default::default()).high_watermark(),
            7
        );
    }

    #[test]
    fn a_follower_that_stops_reaching_the_log_end_lags() {
        let dir = tempfile::tempdir().expect("dir");
        let r = ReplicaState::open(dir.path(), 0, Default::default());
        r.record_fetch(1, 2, 5, 5);
        r.record_fetch(1, 3, 5, 5);
        std::thread::sleep(Duration::from_millis(30));
        // Follower 2 keeps reaching where the leader was at its previous fetch.
        r.record_fetch(1, 2, 5, 9);
        r.record_fetch(1, 2, 9, 12);
        assert_eq!(
            r.lagging(1, 1, &[1, 2, 3], Duration::from_millis(20)),
            vec![3]
        );
        // A new epoch: everyone counts from now.
        assert!(r
            .lagging(2, 1, &[1, 2, 3], Duration::from_millis(20))
            .is_empty());
    }
}
