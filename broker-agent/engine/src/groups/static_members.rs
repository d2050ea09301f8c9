//! Static membership (KIP-345): a member that names a `group.instance.id` keeps its
//! identity across restarts. Back under a new member id it replaces its old incarnation,
//! which is fenced, and in a stable group gets its assignment back without a rebalance.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use tokio::{sync::oneshot, time::Instant};

use super::{
    failed, store::GroupStore, Coordinator, Group, GroupState, JoinRequest, JoinResult, Pending,
};

/// The member id a static member (KIP-345) holds now.
pub(super) fn static_member(group: &Group, instance: &str) -> Option<String> {
    group
        .members
        .iter()
        .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
        .map(|(id, _)| id.clone())
}

impl Coordinator {
    /// A static member back under a new member id (its client restarted): the old id is
    /// fenced and the new one takes its place and assignment. A stable group whose chosen
    /// protocol the member still speaks answers at once with the current generation, so
    /// the other members keep their partitions; otherwise the member joins the rebalance.
    pub(super) fn replace_static_member(
        self: &Arc<Self>,
        group_id: &str,
        group: &mut Group,
        store: &mut GroupStore,
        old_id: String,
        req: JoinRequest,
    ) -> Pending<JoinResult> {
        let Some(mut member) = group.members.remove(&old_id) else {
            return Pending::Now(failed(ResponseError::UnknownMemberId));
        };
        if let Some(w) = member.join_waiter.take() {
            let _ = w.send(failed(ResponseError::FencedInstanceId));
        }
        if let Some(w) = member.sync_waiter.take() {
            let _ = w.send(failed(ResponseError::FencedInstanceId));
        }
        let instance = req.group_instance_id.clone().unwrap_or_default();
        let new_id = format!("{instance}-{}", uuid::Uuid::new_v4());
        member.client_id = req.client_id;
        member.client_host = req.client_host;
        member.session_timeout = req.session_timeout;
        member.rebalance_timeout = req.rebalance_timeout;
        member.protocols = req.protocols;
        member.last_seen = Instant::now();
        if group.leader.as_deref() == Some(old_id.as_str()) {
            group.leader = Some(new_id.clone());
        }
        tracing::info!(
            group = group_id,
            instance,
            "static member rejoined under a new id"
        );
        let speaks_current = group
            .protocol
            .as_ref()
            .is_some_and(|p| member.protocols.iter().any(|(n, _)| n == p));
        if group.state == GroupState::Stable && speaks_current {
            group.members.insert(new_id.clone(), member);
            return Pending::Now(JoinResult {
                error: 0,
                generation: group.generation,
                protocol_type: group.protocol_type.clone(),
                protocol: group.protocol.clone(),
                leader: group.leader.clone().unwrap_or_default(),
                member_id: new_id,
                members: Vec::new(),
            });
        }
        let (tx, rx) = oneshot::channel();
        member.join_waiter = Some(tx);
        group.members.insert(new_id, member);
        self.rebalance_for_join(group_id, group, store);
        Pending::Wait(rx)
    }
}
