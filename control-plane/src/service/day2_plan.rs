//! The pure plan step of day-2 operations: from what a cluster should be (the spec at a
//! generation) and what it is (its brokers, their hosts and versions, its partitions),
//! the ordered steps that get it there, each with its reason. No I/O: the executor
//! carries the steps out one at a time. The order is:
//! 1. replace brokers whose host stayed offline past the grace period (when the
//!    cluster's policy allows it without approval);
//! 2. scale up: place the new brokers, wait until they joined, then move replicas
//!    onto them (a rebalance proposal);
//! 3. scale down: move every replica off the brokers to remove (offline ones first,
//!    then the newest), then remove them and release their volumes;
//! 4. grow volumes;
//! 5. roll brokers whose config or engine version differs, one at a time, each waiting
//!    until no partition is under-replicated.

use std::{collections::BTreeSet, time::Duration};

use super::rebalance::{self, BrokerSlot, PartitionLoad, Proposal, RebalanceError};

/// What the cluster should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub brokers: usize,
    pub storage_gib: i64,
    /// A digest of the broker settings the spec asks for.
    pub config: String,
    pub engine_version: String,
    /// How long a broker's host may stay offline before the broker is replaced.
    pub replace_after: Duration,
    /// Whether replacing a broker needs no approval.
    pub auto_replace: bool,
}

/// One broker as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerView {
    pub id: i32,
    pub rack: Option<String>,
    /// None while its host is online; else how long it has been offline.
    pub offline_for: Option<Duration>,
    pub storage_gib: i64,
    /// Bytes of log the broker holds.
    pub used_bytes: u64,
    pub config: String,
    pub engine_version: String,
}

/// What the cluster is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub brokers: Vec<BrokerView>,
    pub partitions: Vec<PartitionLoad>,
}

/// One thing the executor does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start broker `id` on the host placement chose (with its rack).
    PlaceBroker { broker: BrokerSlot },
    /// Wait until broker `id` has joined the cluster's metadata.
    WaitJoined { id: i32 },
    /// Start the reassignments of the proposal.
    Reassign { proposal: Proposal },
    /// Wait until no reassignment is in progress.
    WaitReassigned,
    /// Stop broker `id` and take it out of the cluster.
    RemoveBroker { id: i32 },
    /// Give broker `id`'s volume back to its host.
    ReleaseVolume { id: i32 },
    /// Grow broker `id`'s volume (and its filesystem) to `gib`.
    GrowVolume { id: i32, gib: i64 },
    /// Restart broker `id` (controlled shutdown) with the desired config and version.
    RollBroker { id: i32 },
    /// Wait until no partition is under-replicated.
    WaitInSync,
}

/// A step and why it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub step: Step,
    pub reason: String,
}

/// Why the change cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("volumes cannot shrink: {desired} GiB is below the current {current} GiB")]
    StorageShrink { desired: i64, current: i64 },
    #[error("the data would not fit: {needed_gib} GiB of replicas on {brokers} brokers of {per_broker_gib} GiB")]
    WouldNotFit {
        needed_gib: u64,
        brokers: usize,
        per_broker_gib: i64,
    },
    #[error("placement found hosts for {placed} new brokers, {needed} are needed")]
    NotPlaced { placed: usize, needed: usize },
    #[error(transparent)]
    Rebalance(#[from] RebalanceError),
}

/// Share of a volume the data may fill after a scale-down.
const FILL_LIMIT_PERCENT: u64 = 85;
const GIB: u64 = 1 << 30;

fn planned(step: Step, reason: impl Into<String>) -> Planned {
    Planned {
        step,
        reason: reason.into(),
    }
}

fn slot(b: &BrokerView) -> BrokerSlot {
    BrokerSlot {
        id: b.id,
        rack: b.rack.clone(),
    }
}

/// The steps from `observed` to `desired`. `placed` are the brokers placement found for
/// any broker to add (new ids, with the racks of their hosts), in order.
pub fn plan(
    desired: &Desired,
    observed: &Observed,
    placed: &[BrokerSlot],
) -> Result<Vec<Planned>, PlanError> {
    if let Some(b) = observed
        .brokers
        .iter()
        .find(|b| b.storage_gib > desired.storage_gib)
    {
        return Err(PlanError::StorageShrink {
            desired: desired.storage_gib,
            current: b.storage_gib,
        });
    }
    let mut steps = Vec::new();
    let mut placed = placed.iter();
    let mut next_slot = |needed: usize| -> Result<BrokerSlot, PlanError> {
        placed.next().cloned().ok_or(PlanError::NotPlaced {
            placed: needed - 1,
            needed,
        })
    };
    let dead: Vec<&BrokerView> = observed
        .brokers
        .iter()
        .filter(|b| b.offline_for.is_some_and(|d| d >= desired.replace_after))
        .collect();
    let current = observed.brokers.len();
    // Brokers leaving: those to replace, then for a scale-down offline ones first and
    // then the newest.
    let mut leaving: Vec<&BrokerView> = Vec::new();
    if desired.auto_replace {
        leaving.extend(dead.iter().copied());
    }
    let mut candidates: Vec<&BrokerView> = observed.brokers.iter().collect();
    candidates.sort_by_key(|b| (b.offline_for.is_none(), std::cmp::Reverse(b.id)));
    for b in candidates {
        if current.saturating_sub(leaving.len()) <= desired.brokers {
            break;
        }
        if !leaving.iter().any(|l| l.id == b.id) {
            leaving.push(b);
        }
    }
    let gone: BTreeSet<i32> = leaving.iter().map(|b| b.id).collect();
    let staying: Vec<&BrokerView> = observed
        .brokers
        .iter()
        .filter(|b| !gone.contains(&b.id))
        .collect();
    let adding = desired.brokers.saturating_sub(staying.len());
    let mut keep: Vec<BrokerSlot> = staying.iter().copied().map(slot).collect();
    for n in 1..=adding {
        let new = next_slot(n)?;
        steps.push(planned(
            Step::PlaceBroker {
                broker: new.clone(),
            },
            if n <= leaving.len() && dead.iter().any(|d| leaving[n - 1].id == d.id) {
                format!(
                    "replaces broker {}, whose host has been offline too long",
                    leaving[n - 1].id
                )
            } else {
                format!("the spec asks for {} brokers", desired.brokers)
            },
        ));
        steps.push(planned(
            Step::WaitJoined { id: new.id },
            "a new broker takes replicas once it is in the cluster",
        ));
        keep.push(new);
    }
    check_fit(desired, observed, keep.len())?;
    let proposal = rebalance::propose(&observed.partitions, &keep)?;
    if !proposal.moves.is_empty() && (adding > 0 || !leaving.is_empty()) {
        let reason = format!(
            "{} replicas ({} bytes) move {}",
            proposal.replicas_moved,
            proposal.bytes_moved,
            if gone.is_empty() {
                "onto the new brokers".to_owned()
            } else {
                format!("off brokers {gone:?}")
            }
        );
        steps.push(planned(Step::Reassign { proposal }, reason));
        steps.push(planned(
            Step::WaitReassigned,
            "brokers leave only once their replicas live elsewhere",
        ));
    }
    for b in &leaving {
        steps.push(planned(
            Step::RemoveBroker { id: b.id },
            "it holds no replica any more",
        ));
        steps.push(planned(
            Step::ReleaseVolume { id: b.id },
            "its volume goes back to its host",
        ));
    }
    for b in staying
        .iter()
        .filter(|b| b.storage_gib < desired.storage_gib)
    {
        steps.push(planned(
            Step::GrowVolume {
                id: b.id,
                gib: desired.storage_gib,
            },
            format!(
                "{} GiB asked, {} GiB now",
                desired.storage_gib, b.storage_gib
            ),
        ));
    }
    for b in staying.iter().filter(|b| b.offline_for.is_none()) {
        let why = match (
            b.config != desired.config,
            b.engine_version != desired.engine_version,
        ) {
            (false, false) => continue,
            (true, false) => "its config changed".to_owned(),
            (false, true) => format!(
                "engine {} replaces {}",
                desired.engine_version, b.engine_version
            ),
            (true, true) => format!(
                "its config changed and engine {} replaces {}",
                desired.engine_version, b.engine_version
            ),
        };
        steps.push(planned(Step::RollBroker { id: b.id }, why));
        steps.push(planned(
            Step::WaitInSync,
            "the next broker restarts only once every partition is fully replicated",
        ));
    }
    Ok(steps)
}

/// Refuses a change whose replicas would fill the remaining volumes past the limit.
fn check_fit(desired: &Desired, observed: &Observed, brokers: usize) -> Result<(), PlanError> {
    let used: u64 = observed.brokers.iter().map(|b| b.used_bytes).sum();
    let room = brokers as u64 * desired.storage_gib.max(0) as u64 * GIB;
    if used * 100 > room * FILL_LIMIT_PERCENT {
        return Err(PlanError::WouldNotFit {
            needed_gib: used.div_ceil(GIB),
            brokers,
            per_broker_gib: desired.storage_gib,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "day2_plan_tests.rs"]
mod tests;
