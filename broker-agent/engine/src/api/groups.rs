//! Consumer-group APIs, mapped onto the coordinator: FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups (offsets
//! are in `group_offsets`). Fields are only set in the versions that have them. Group
//! membership needs READ on the group; describing needs DESCRIBE, deleting DELETE;
//! ListGroups lists the describable groups. Every group is a classic group: the KIP-848
//! consumer protocol and KIP-932 share groups are not served.

use std::{sync::Arc, time::Duration};

use kafka_protocol::{
    messages::{
        delete_groups_response::DeletableGroupResult,
        describe_groups_response::{DescribedGroup, DescribedGroupMember},
        find_coordinator_response::Coordinator as CoordinatorEntry,
        join_group_response::JoinGroupResponseMember,
        leave_group_response::MemberResponse,
        list_groups_response::ListedGroup,
        BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
        DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
        HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
        LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
        SyncGroupRequest, SyncGroupResponse,
    },
    ResponseError,
};

use super::{blocking, s, Client};
use crate::{broker::Broker, cluster::sync as cluster, groups::JoinRequest, security::acl::op};

fn group_id(text: &str) -> GroupId {
    GroupId(s(text))
}

/// Group requests sent to a broker that does not coordinate the group (cluster mode).
pub(super) const NOT_COORDINATOR: i16 = 16;
pub(super) const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// FindCoordinator key types: a group, and a share group (KIP-932).
const GROUP_KEY: i8 = 0;
const SHARE_KEY: i8 = 2;
/// The one group type there is here (ListGroups from version 5).
const CLASSIC: &str = "classic";

pub fn find_coordinator(
    broker: &Arc<Broker>,
    req: FindCoordinatorRequest,
    version: i16,
    client: &Client,
) -> FindCoordinatorResponse {
    let code = |key: &str| {
        if req.key_type == SHARE_KEY {
            ResponseError::InvalidRequest.code()
        } else if req.key_type != GROUP_KEY {
            // Transactions are not coordinated by this broker.
            ResponseError::CoordinatorNotAvailable.code()
        } else if !client.may_group(broker, op::DESCRIBE, key) {
            GROUP_AUTHORIZATION_FAILED
        } else {
            0
        }
    };
    let listener = &client.listener.name;
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (node, host, port) = broker.coordinator_for(&key, listener);
                let code = code(&key);
                CoordinatorEntry::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(s(host))
                    .with_port(i32::from(port))
                    .with_error_code(code)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (node, host, port) = broker.coordinator_for(&req.key, listener);
    FindCoordinatorResponse::default()
        .with_error_code(code(&req.key))
        .with_node_id(BrokerId(node))
        .with_host(s(host))
        .with_port(i32::from(port))
}

pub async fn join_group(
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
    version: i16,
    client: &Client,
) -> JoinGroupResponse {
    if !client.may_group(broker, op::READ, &req.group_id.0) {
        return JoinGroupResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
    }
    if !broker.coordinates(&req.group_id.0) {
        return JoinGroupResponse::default().with_error_code(NOT_COORDINATOR);
    }
    let ms = |v: i32| Duration::from_millis(v.max(0) as u64);
    let request = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|i| i.to_string()),
        client_id: client.client_id.clone(),
        client_host: format!("/{}", client.peer.ip()),
        session_timeout: ms(req.session_timeout_ms),
        rebalance_timeout: ms(if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        }),
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let r = broker.groups.join(request).await;
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation)
        .with_protocol_name(Some(s(r.protocol.unwrap_or_default())))
        .with_leader(s(r.leader))
        .with_member_id(s(r.member_id));
    if version >= 7 {
        resp.protocol_type = r.protocol_type.map(s);
    }
    resp.members = r
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let mut m = JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_metadata(metadata);
            if version >= 5 {
                m.group_instance_id = instance.map(s);
            }
            m
        })
        .collect();
    resp
}

pub async fn sync_group(
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
    version: i16,
    client: &Client,
) -> SyncGroupResponse {
    if !client.may_group(broker, op::READ, &req.group_id.0) {
        return SyncGroupResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
    }
    if !broker.coordinates(&req.group_id.0) {
        return SyncGroupResponse::default().with_error_code(NOT_COORDINATOR);
    }
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let r = broker
        .groups
        .sync(
            &req.group_id.0,
            req.generation_id,
            &req.member_id,
            assignments,
        )
        .await;
    let mut resp = SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_assignment(r.assignment);
    if version >= 5 {
        resp.protocol_type = r.protocol_type.map(s);
        resp.protocol_name = r.protocol.map(s);
    }
    resp
}

pub fn heartbeat(
    broker: &Arc<Broker>,
    req: HeartbeatRequest,
    client: &Client,
) -> HeartbeatResponse {
    if !client.may_group(broker, op::READ, &req.group_id.0) {
        return HeartbeatResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
    }
    if !broker.coordinates(&req.group_id.0) {
        return HeartbeatResponse::default().with_error_code(NOT_COORDINATOR);
    }
    HeartbeatResponse::default().with_error_code(broker.groups.heartbeat(
        &req.group_id.0,
        req.generation_id,
        &req.member_id,
    ))
}

pub fn leave_group(
    broker: &Arc<Broker>,
    req: LeaveGroupRequest,
    version: i16,
    client: &Client,
) -> LeaveGroupResponse {
    if !client.may_group(broker, op::READ, &req.group_id.0) {
        return LeaveGroupResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
    }
    let ids: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                let instance = m.group_instance_id.as_ref().map(|i| i.to_string());
                (m.member_id.to_string(), instance)
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let codes = if broker.coordinates(&req.group_id.0) {
        broker.groups.leave(&req.group_id.0, &ids)
    } else {
        vec![NOT_COORDINATOR; ids.len()]
    };
    if version >= 3 {
        let members = ids
            .into_iter()
            .zip(codes)
            .map(|((id, instance), code)| {
                MemberResponse::default()
                    .with_member_id(s(id))
                    .with_group_instance_id(instance.map(s))
                    .with_error_code(code)
            })
            .collect();
        LeaveGroupResponse::default().with_members(members)
    } else {
        LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0))
    }
}

pub fn describe_groups(
    broker: &Arc<Broker>,
    req: DescribeGroupsRequest,
    version: i16,
    client: &Client,
) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .into_iter()
        .map(|id| match broker.groups.describe(&id.0) {
            _ if !client.may_group(broker, op::DESCRIBE, &id.0) => DescribedGroup::default()
                .with_group_id(id)
                .with_error_code(GROUP_AUTHORIZATION_FAILED),
            None if version >= 6 => DescribedGroup::default()
                .with_error_message(Some(s(format!("Group {} not found.", id.0))))
                .with_group_id(id)
                .with_group_state(s("Dead"))
                .with_error_code(ResponseError::GroupIdNotFound.code()),
            None => DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(s("Dead")),
            Some(g) => DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(s(g.state))
                .with_protocol_type(s(g.protocol_type))
                .with_protocol_data(s(g.protocol))
                .with_members(
                    g.members
                        .into_iter()
                        .map(|m| {
                            let mut described = DescribedGroupMember::default()
                                .with_member_id(s(m.member_id))
                                .with_client_id(s(m.client_id))
                                .with_client_host(s(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if version >= 4 {
                                described.group_instance_id = m.instance_id.map(s);
                            }
                            described
                        })
                        .collect(),
                ),
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub fn list_groups(
    broker: &Arc<Broker>,
    req: ListGroupsRequest,
    version: i16,
    client: &Client,
) -> ListGroupsResponse {
    let filter: Vec<String> = req.states_filter.iter().map(|f| f.to_string()).collect();
    let classic_wanted = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case(CLASSIC));
    let all = client.may_cluster(broker, op::DESCRIBE);
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|_| classic_wanted)
        .filter(|(_, _, state)| filter.is_empty() || filter.iter().any(|f| f == state))
        .filter(|(id, _, _)| all || client.may_group(broker, op::DESCRIBE, id))
        .map(|(id, protocol_type, state)| {
            let mut g = ListedGroup::default()
                .with_group_id(group_id(&id))
                .with_protocol_type(s(protocol_type));
            if version >= 4 {
                g.group_state = s(state);
            }
            if version >= 5 {
                g.group_type = s(CLASSIC);
            }
            g
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn delete_groups(
    broker: &Arc<Broker>,
    req: DeleteGroupsRequest,
    client: &Client,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        if !client.may_group(broker, op::DELETE, &id.0) {
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(GROUP_AUTHORIZATION_FAILED),
            );
            continue;
        }
        let (b, name) = (broker.clone(), id.0.to_string());
        let mut code = blocking(move || b.groups.delete(&name)).await;
        if let (0, Some(quorum)) = (code, broker.quorum()) {
            if let Err(e) = cluster::delete_group(quorum, &id.0).await {
                code = e.code();
            }
        }
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
