//! Committed offsets and the read side of groups: OffsetCommit, OffsetFetch,
//! DescribeGroups, ListGroups, DeleteGroups.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::{store::Committed, Coordinator, GroupState};

/// Longest commit metadata accepted (`offset.metadata.max.bytes`).
pub const MAX_METADATA: usize = 4096;

/// A commit's result per partition.
pub type CommitOutcome = Vec<((String, i32), i16)>;

/// Offsets per partition, as committed.
pub type PartitionOffsets = Vec<((String, i32), Committed)>;

/// The outcome when storing the accepted offsets failed with `code`: the partitions
/// that were accepted fail with it, the others keep their own error.
pub fn fail_accepted(outcome: CommitOutcome, code: i16) -> CommitOutcome {
    outcome
        .into_iter()
        .map(|(tp, c)| (tp, if c == 0 { code } else { c }))
        .collect()
}

/// A member as DescribeGroups shows it.
#[derive(Clone, Debug)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups and ListGroups show it.
#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Coordinator {
    /// Commits offsets for a member of the current generation, or for a group without
    /// members (generation -1, no member id: a consumer managing its own assignment).
    /// `exists` says whether a partition exists. Durable when it returns.
    pub fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        offsets: PartitionOffsets,
        exists: impl Fn(&str, i32) -> bool,
    ) -> CommitOutcome {
        let (outcome, accepted) =
            self.check_commit(group_id, generation, member_id, offsets, exists);
        match self.store_offsets(group_id, accepted) {
            Ok(()) => outcome,
            Err(code) => fail_accepted(outcome, code),
        }
    }

    /// The checks of [`commit`](Self::commit) without storing: the outcome per partition
    /// and the offsets accepted (stamped with the commit time), for the caller to store
    /// here or replicate first.
    pub fn check_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        offsets: PartitionOffsets,
        exists: impl Fn(&str, i32) -> bool,
    ) -> (CommitOutcome, PartitionOffsets) {
        let mut inner = self.lock();
        let group_error = match inner.groups.get_mut(group_id) {
            _ if group_id.is_empty() => Some(ResponseError::InvalidGroupId),
            None if generation < 0 => None,
            None => Some(ResponseError::IllegalGeneration),
            Some(g) if generation < 0 && member_id.is_empty() => {
                (!g.members.is_empty()).then_some(ResponseError::UnknownMemberId)
            }
            Some(g) => match g.members.get_mut(member_id) {
                None => Some(ResponseError::UnknownMemberId),
                Some(_) if generation != g.generation => Some(ResponseError::IllegalGeneration),
                Some(_) if g.state == GroupState::CompletingRebalance => {
                    Some(ResponseError::RebalanceInProgress)
                }
                Some(m) => {
                    m.last_seen = tokio::time::Instant::now();
                    None
                }
            },
        };
        if let Some(e) = group_error {
            let outcome = offsets.into_iter().map(|(tp, _)| (tp, e.code())).collect();
            return (outcome, Vec::new());
        }
        let mut outcome = Vec::with_capacity(offsets.len());
        let mut accepted = Vec::new();
        for ((topic, p), mut c) in offsets {
            let code = if !exists(&topic, p) {
                ResponseError::UnknownTopicOrPartition.code()
            } else if c.metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA) {
                ResponseError::OffsetMetadataTooLarge.code()
            } else {
                c.commit_ms = now_ms();
                accepted.push(((topic.clone(), p), c));
                0
            };
            outcome.push(((topic, p), code));
        }
        (outcome, accepted)
    }

    /// Stores accepted offsets durably (and makes the group known); the Kafka error
    /// code when the store fails.
    pub fn store_offsets(&self, group_id: &str, offsets: PartitionOffsets) -> Result<(), i16> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        if let Err(e) = inner.store.commit(group_id, offsets) {
            tracing::error!(group = group_id, error = %e, "failed to store committed offsets");
            return Err(ResponseError::KafkaStorageError.code());
        }
        let group_name = group_id.to_owned();
        let record = inner.store.state.groups.get(&group_name).cloned();
        inner
            .groups
            .entry(group_name)
            .or_insert_with(|| super::Group::new(record.as_ref()));
        Ok(())
    }

    /// Cluster mode: stores the offsets the metadata quorum committed for `group_id`
    /// that this broker does not have yet, so whichever broker coordinates the group
    /// next knows them.
    pub fn adopt_offsets(&self, group_id: &str, offsets: PartitionOffsets) {
        let new: Vec<_> = {
            let inner = self.lock();
            let have = inner.store.state.offsets.get(group_id);
            offsets
                .into_iter()
                .filter(|(tp, c)| have.and_then(|h| h.get(tp)) != Some(c))
                .collect()
        };
        if let Err(code) = self.store_offsets(group_id, new) {
            tracing::warn!(group = group_id, code, "cannot keep replicated offsets");
        }
    }

    /// Committed offsets of a group: of the given partitions, or all of them (`None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, i32)>>,
    ) -> Vec<((String, i32), Option<Committed>)> {
        let inner = self.lock();
        let empty = BTreeMap::new();
        let committed = inner.store.state.offsets.get(group_id).unwrap_or(&empty);
        match wanted {
            None => committed
                .iter()
                .map(|(tp, c)| (tp.clone(), Some(c.clone())))
                .collect(),
            Some(list) => list
                .into_iter()
                .map(|tp| {
                    let c = committed.get(&tp).cloned();
                    (tp, c)
                })
                .collect(),
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let inner = self.lock();
        let g = inner.groups.get(group_id)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(GroupSummary {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: g
                .members
                .iter()
                .map(|(id, m)| MemberSummary {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Every group: (id, protocol type, state).
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .groups
            .iter()
            .map(|(id, g)| {
                (
                    id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state.name(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Deletes an empty group with its offsets.
    pub fn delete(&self, group_id: &str) -> i16 {
        let mut inner = self.lock();
        match inner.groups.get(group_id) {
            None => ResponseError::GroupIdNotFound.code(),
            Some(g) if g.state != GroupState::Empty => ResponseError::NonEmptyGroup.code(),
            Some(_) => {
                if let Err(e) = inner.store.delete_group(group_id) {
                    tracing::error!(group = group_id, error = %e, "failed to delete the group");
                    return ResponseError::KafkaStorageError.code();
                }
                inner.groups.remove(group_id);
                0
            }
        }
    }

    /// Forgets committed offsets of a deleted topic.
    pub fn forget_topic(&self, topic: &str) {
        if let Err(e) = self.lock().store.forget_topic(topic) {
            tracing::error!(topic, error = %e, "failed to drop offsets of a deleted topic");
        }
    }
}
