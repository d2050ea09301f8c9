//! The group coordinator of a standalone broker: Kafka's classic rebalance protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) with rebalance timeouts, an initial
//! rebalance delay and session expiry; committed offsets and generations are durable
//! (see `store`), so consumers resume where they were after a restart.

mod offsets;
mod static_members;
pub mod store;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::{sync::oneshot, time::Instant};

pub use self::offsets::{fail_accepted, CommitOutcome, GroupSummary, MemberSummary};
use self::static_members::static_member;
use self::store::{GroupRecord, GroupStore};

/// Coordinator settings (Kafka's `group.*` broker configs).
#[derive(Clone, Debug)]
pub struct GroupConfig {
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay: Duration::from_secs(3),
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(1800),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What a JoinGroup request carries.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// Clients from JoinGroup v4 on must first ask for a member id (KIP-394).
    pub require_known_member_id: bool,
}

/// The answer to a JoinGroup.
#[derive(Clone, Debug, Default)]
pub struct JoinResult {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol; only for the leader.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Clone, Debug, Default)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending_ids: HashSet<String>,
    /// Tells timers of an old rebalance from the current one.
    rebalance_id: u64,
    /// The current rebalance waits out the initial delay (the group started empty).
    initial: bool,
}

impl Group {
    fn new(record: Option<&GroupRecord>) -> Group {
        Group {
            state: GroupState::Empty,
            generation: record.map_or(0, |r| r.generation),
            protocol_type: record.and_then(|r| r.protocol_type.clone()),
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: HashSet::new(),
            rebalance_id: 0,
            initial: false,
        }
    }
}

struct Inner {
    groups: HashMap<String, Group>,
    store: GroupStore,
}

/// The coordinator for every group on this broker.
pub struct Coordinator {
    inner: Mutex<Inner>,
    config: GroupConfig,
}

/// An answer carrying only an error.
fn failed<T: Default + WithError>(code: ResponseError) -> T {
    T::default().with_error(code.code())
}

trait WithError {
    fn with_error(self, code: i16) -> Self;
}
impl WithError for JoinResult {
    fn with_error(mut self, code: i16) -> Self {
        self.error = code;
        self.generation = -1;
        self
    }
}
impl WithError for SyncResult {
    fn with_error(mut self, code: i16) -> Self {
        self.error = code;
        self
    }
}

enum Pending<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

impl<T: Default + WithError> Pending<T> {
    async fn resolve(self) -> T {
        match self {
            Pending::Now(t) => t,
            Pending::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| failed::<T>(ResponseError::RebalanceInProgress)),
        }
    }
}

impl Coordinator {
    pub fn open(store: GroupStore, config: GroupConfig) -> Arc<Coordinator> {
        let mut groups = HashMap::new();
        for name in store.state.groups.keys().chain(store.state.offsets.keys()) {
            groups
                .entry(name.clone())
                .or_insert_with(|| Group::new(store.state.groups.get(name)));
        }
        Arc::new(Coordinator {
            inner: Mutex::new(Inner { groups, store }),
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn join(self: &Arc<Self>, req: JoinRequest) -> JoinResult {
        let pending = self.join_now(req);
        pending.resolve().await
    }

    fn join_now(self: &Arc<Self>, req: JoinRequest) -> Pending<JoinResult> {
        if req.group_id.is_empty() {
            return Pending::Now(failed(ResponseError::InvalidGroupId));
        }
        if req.session_timeout < self.config.min_session_timeout
            || req.session_timeout > self.config.max_session_timeout
        {
            return Pending::Now(failed(ResponseError::InvalidSessionTimeout));
        }
        let mut inner = self.lock();
        let Inner { groups, store } = &mut *inner;
        let group = groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(store.state.groups.get(&req.group_id)));
        if !group.members.is_empty()
            && group.protocol_type.as_deref() != Some(req.protocol_type.as_str())
        {
            return Pending::Now(failed(ResponseError::InconsistentGroupProtocol));
        }
        if let Some(instance) = req.group_instance_id.clone() {
            match static_member(group, &instance) {
                Some(known) if !req.member_id.is_empty() && known != req.member_id => {
                    return Pending::Now(JoinResult {
                        member_id: req.member_id,
                        ..failed(ResponseError::FencedInstanceId)
                    });
                }
                Some(known) if req.member_id.is_empty() => {
                    let name = req.group_id.clone();
                    return self.replace_static_member(&name, group, store, known, req);
                }
                _ => {}
            }
        }
        let member_id = if req.member_id.is_empty() {
            let id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
            // Static members (KIP-345) join at once; dynamic ones first get an id (KIP-394).
            if req.require_known_member_id && req.group_instance_id.is_none() {
                group.pending_ids.insert(id.clone());
                return Pending::Now(JoinResult {
                    error: ResponseError::MemberIdRequired.code(),
                    generation: -1,
                    member_id: id,
                    ..JoinResult::default()
                });
            }
            id
        } else if group.members.contains_key(&req.member_id)
            || group.pending_ids.remove(&req.member_id)
        {
            req.member_id.clone()
        } else {
            return Pending::Now(JoinResult {
                member_id: req.member_id,
                ..failed(ResponseError::UnknownMemberId)
            });
        };
        let (tx, rx) = oneshot::channel();
        let previous = group.members.remove(&member_id);
        group.members.insert(
            member_id.clone(),
            Member {
                instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                protocols: req.protocols,
                assignment: previous
                    .as_ref()
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default(),
                last_seen: Instant::now(),
                join_waiter: Some(tx),
                sync_waiter: None,
            },
        );
        if group.members.len() == 1 || group.protocol_type.is_none() {
            group.protocol_type = Some(req.protocol_type);
        }
        self.rebalance_for_join(&req.group_id, group, store);
        Pending::Wait(rx)
    }

    /// A member is waiting in JoinGroup: start a rebalance unless one is preparing, and
    /// complete it at once when every member has joined (and no initial delay holds it).
    fn rebalance_for_join(self: &Arc<Self>, name: &str, group: &mut Group, store: &mut GroupStore) {
        if group.state != GroupState::PreparingRebalance {
            self.start_rebalance(name, group);
        }
        if !group.initial && group.members.values().all(|m| m.join_waiter.is_some()) {
            complete_join(name, group, store);
        }
    }

    /// Moves a group to PreparingRebalance and arms the timer that completes it.
    fn start_rebalance(self: &Arc<Self>, name: &str, group: &mut Group) {
        group.initial = group.state == GroupState::Empty;
        group.state = GroupState::PreparingRebalance;
        group.rebalance_id += 1;
        for m in group.members.values_mut() {
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(failed(ResponseError::RebalanceInProgress));
            }
        }
        let wait = if group.initial {
            self.config.initial_rebalance_delay
        } else {
            group
                .members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or_default()
        };
        let (me, name, id) = (self.clone(), name.to_owned(), group.rebalance_id);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let mut inner = me.lock();
            let Inner { groups, store } = &mut *inner;
            if let Some(g) = groups.get_mut(&name) {
                if g.rebalance_id == id && g.state == GroupState::PreparingRebalance {
                    complete_join(&name, g, store);
                }
            }
        });
    }

    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        self.sync_now(group_id, generation, member_id, assignments)
            .resolve()
            .await
    }

    fn sync_now(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> Pending<SyncResult> {
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group_id) else {
            return Pending::Now(failed(ResponseError::UnknownMemberId));
        };
        let (protocol_type, protocol) = (group.protocol_type.clone(), group.protocol.clone());
        let leader = group.leader.clone();
        let state = group.state;
        let group_generation = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return Pending::Now(failed(ResponseError::UnknownMemberId));
        };
        member.last_seen = Instant::now();
        if generation != group_generation {
            return Pending::Now(failed(ResponseError::IllegalGeneration));
        }
        let answer = |assignment: Bytes| SyncResult {
            error: 0,
            protocol_type: protocol_type.clone(),
            protocol: protocol.clone(),
            assignment,
        };
        match state {
            GroupState::Empty | GroupState::PreparingRebalance => {
                Pending::Now(failed(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => Pending::Now(answer(member.assignment.clone())),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                member.sync_waiter = Some(tx);
                if leader.as_deref() == Some(member_id) {
                    let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for (id, m) in group.members.iter_mut() {
                        m.assignment = given.remove(id).unwrap_or_default();
                        if let Some(w) = m.sync_waiter.take() {
                            let _ = w.send(answer(m.assignment.clone()));
                        }
                    }
                    group.state = GroupState::Stable;
                }
                Pending::Wait(rx)
            }
        }
    }

    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group_id) else {
            return ResponseError::UnknownMemberId.code();
        };
        let (state, current) = (group.state, group.generation);
        let Some(member) = group.members.get_mut(member_id) else {
            return ResponseError::UnknownMemberId.code();
        };
        member.last_seen = Instant::now();
        if state == GroupState::PreparingRebalance {
            return ResponseError::RebalanceInProgress.code();
        }
        if generation != current {
            return ResponseError::IllegalGeneration.code();
        }
        0
    }

    /// Removes members, each named by member id or, for a static member, by instance id
    /// (or both, which must agree); each gets its own error code (0 when it was a member).
    pub fn leave(
        self: &Arc<Self>,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Vec<i16> {
        let mut inner = self.lock();
        let Inner { groups, store } = &mut *inner;
        let Some(group) = groups.get_mut(group_id) else {
            return members
                .iter()
                .map(|_| ResponseError::UnknownMemberId.code())
                .collect();
        };
        let codes = members
            .iter()
            .map(|(id, instance)| {
                let id = match instance.as_deref().map(|i| static_member(group, i)) {
                    Some(Some(known)) if !id.is_empty() && known != *id => {
                        return ResponseError::FencedInstanceId.code()
                    }
                    Some(Some(known)) => known,
                    _ => id.clone(),
                };
                if group.members.remove(&id).is_some() {
                    0
                } else {
                    ResponseError::UnknownMemberId.code()
                }
            })
            .collect();
        self.after_departure(group_id, group, store);
        codes
    }

    /// After members left or expired: rebalance the rest, or empty the group.
    fn after_departure(self: &Arc<Self>, name: &str, group: &mut Group, store: &mut GroupStore) {
        if group.members.is_empty() {
            if group.state != GroupState::Empty {
                group.state = GroupState::Empty;
                group.generation += 1;
                group.leader = None;
                group.protocol = None;
                persist(name, group, store);
            }
        } else if group.state == GroupState::PreparingRebalance {
            if !group.initial && group.members.values().all(|m| m.join_waiter.is_some()) {
                complete_join(name, group, store);
            }
        } else {
            self.start_rebalance(name, group);
        }
    }

    /// Expires members that stopped heartbeating; call periodically.
    pub fn expire_sessions(self: &Arc<Self>) {
        let now = Instant::now();
        let mut inner = self.lock();
        let Inner { groups, store } = &mut *inner;
        for (name, group) in groups.iter_mut() {
            let before = group.members.len();
            group.members.retain(|_, m| {
                m.join_waiter.is_some() || now.duration_since(m.last_seen) < m.session_timeout
            });
            if group.members.len() != before {
                tracing::info!(group = %name, expired = before - group.members.len(), "members' sessions expired");
                self.after_departure(name, group, store);
            }
        }
    }
}

fn persist(name: &str, group: &Group, store: &mut GroupStore) {
    let record = GroupRecord {
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
    };
    if let Err(e) = store.record_group(name, record) {
        tracing::error!(group = name, error = %e, "failed to persist the group generation");
    }
}

/// The protocol every member supports that the members rank highest.
fn choose_protocol(members: &BTreeMap<String, Member>) -> Option<String> {
    let mut candidates: Option<HashSet<&str>> = None;
    for m in members.values() {
        let names: HashSet<&str> = m.protocols.iter().map(|(n, _)| n.as_str()).collect();
        candidates = Some(match candidates {
            None => names,
            Some(c) => c.intersection(&names).copied().collect(),
        });
    }
    let candidates = candidates?;
    let mut votes: HashMap<&str, usize> = HashMap::new();
    for m in members.values() {
        if let Some((n, _)) = m
            .protocols
            .iter()
            .find(|(n, _)| candidates.contains(n.as_str()))
        {
            *votes.entry(n.as_str()).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(n, _)| n.to_owned())
}

/// Ends the join phase: drops members that did not rejoin, bumps the generation, picks
/// the protocol and leader, and answers every waiting JoinGroup.
fn complete_join(name: &str, group: &mut Group, store: &mut GroupStore) {
    group.members.retain(|_, m| m.join_waiter.is_some());
    group.initial = false;
    group.generation += 1;
    if group.members.is_empty() {
        group.state = GroupState::Empty;
        group.leader = None;
        group.protocol = None;
        persist(name, group, store);
        return;
    }
    let Some(protocol) = choose_protocol(&group.members) else {
        for (_, mut m) in std::mem::take(&mut group.members) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(failed(ResponseError::InconsistentGroupProtocol));
            }
        }
        group.state = GroupState::Empty;
        persist(name, group, store);
        return;
    };
    let leader = match &group.leader {
        Some(l) if group.members.contains_key(l) => l.clone(),
        _ => group.members.keys().next().cloned().unwrap_or_default(),
    };
    group.leader = Some(leader.clone());
    group.protocol = Some(protocol.clone());
    group.state = GroupState::CompletingRebalance;
    persist(name, group, store);
    let roster: Vec<(String, Option<String>, Bytes)> = group
        .members
        .iter()
        .map(|(id, m)| {
            let meta = m
                .protocols
                .iter()
                .find(|(n, _)| *n == protocol)
                .map(|(_, b)| b.clone())
                .unwrap_or_default();
            (id.clone(), m.instance_id.clone(), meta)
        })
        .collect();
    for (id, m) in group.members.iter_mut() {
        if let Some(w) = m.join_waiter.take() {
            let _ = w.send(JoinResult {
                error: 0,
                generation: group.generation,
                protocol_type: group.protocol_type.clone(),
                protocol: Some(protocol.clone()),
                leader: leader.clone(),
                member_id: id.clone(),
                members: if *id == leader {
                    roster.clone()
                } else {
                    Vec::new()
                },
            });
        }
    }
    tracing::info!(
        group = name,
        generation = group.generation,
        members = group.members.len(),
        "rebalance completed"
    );
}

#[cfg(test)]
mod tests;
