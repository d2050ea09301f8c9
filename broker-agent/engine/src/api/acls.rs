//! CreateAcls, DescribeAcls and DeleteAcls. Creating and deleting need ALTER on the
//! cluster, describing needs DESCRIBE on the cluster; invalid bindings are refused one by
//! one with a message. A broker without an authorizer answers SECURITY_DISABLED.

use std::{collections::BTreeMap, sync::Arc};

use kafka_protocol::{
    messages::{
        create_acls_response::AclCreationResult,
        delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl},
        describe_acls_response::{AclDescription, DescribeAclsResource},
        CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
        DescribeAclsRequest, DescribeAclsResponse,
    },
    protocol::StrBytes,
    ResponseError,
};

use super::{authz::change_security, s, Client};
use crate::{
    broker::Broker,
    security::{
        acl::{op, AclBinding, AclFilter},
        SecurityChange,
    },
};

/// The `AclFilter` of a DescribeAcls request or a DeleteAcls filter (same field names,
/// different types).
macro_rules! acl_filter {
    ($f:expr) => {
        AclFilter {
            resource_type: $f.resource_type_filter,
            resource_name: $f.resource_name_filter.map(|n| n.to_string()),
            pattern_type: $f.pattern_type_filter,
            principal: $f.principal_filter.map(|p| p.to_string()),
            host: $f.host_filter.map(|h| h.to_string()),
            operation: $f.operation,
            permission: $f.permission_type,
        }
    };
}

/// Without an authorizer there are no ACLs to manage: SECURITY_DISABLED, as Kafka answers.
fn without_authorizer(broker: &Broker) -> Option<(i16, Option<StrBytes>)> {
    (!broker.security.authorizer.enabled).then(|| {
        (
            ResponseError::SecurityDisabled.code(),
            Some(s("No Authorizer is configured on the broker")),
        )
    })
}

fn denied() -> (i16, Option<StrBytes>) {
    (
        ResponseError::ClusterAuthorizationFailed.code(),
        Some(s("managing ACLs needs ALTER on the cluster")),
    )
}

pub async fn create_acls(
    broker: &Arc<Broker>,
    req: CreateAclsRequest,
    client: &Client,
) -> CreateAclsResponse {
    let allowed = client.may_cluster(broker, op::ALTER);
    let mut results = Vec::with_capacity(req.creations.len());
    let mut valid = Vec::new();
    for c in req.creations {
        let binding = AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        };
        let (code, message) = if let Some(refusal) = without_authorizer(broker) {
            refusal
        } else if !allowed {
            denied()
        } else {
            match binding.validate() {
                Ok(()) => {
                    valid.push((results.len(), binding));
                    (0, None)
                }
                Err(e) => (
                    ResponseError::InvalidRequest.code(),
                    Some(StrBytes::from_string(e)),
                ),
            }
        };
        results.push(
            AclCreationResult::default()
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    if !valid.is_empty() {
        let bindings = valid.iter().map(|(_, b)| b.clone()).collect();
        if let Err((code, message)) =
            change_security(broker, SecurityChange::CreateAcls(bindings)).await
        {
            for (i, _) in valid {
                results[i].error_code = code;
                results[i].error_message = Some(StrBytes::from_string(message.clone()));
            }
        }
    }
    CreateAclsResponse::default().with_results(results)
}

fn describe_resources(bindings: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in bindings {
        by_resource
            .entry((b.resource_type, b.resource_name.clone(), b.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission),
            );
    }
    by_resource
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name))
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect()
}

pub fn describe_acls(
    broker: &Arc<Broker>,
    req: DescribeAclsRequest,
    client: &Client,
) -> DescribeAclsResponse {
    if let Some((code, message)) = without_authorizer(broker) {
        return DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(message);
    }
    if !client.may_cluster(broker, op::DESCRIBE) {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(s("describing ACLs needs DESCRIBE on the cluster")));
    }
    let filter = acl_filter!(req);
    let matching = broker.security.state().matching_acls(&filter);
    DescribeAclsResponse::default().with_resources(describe_resources(matching))
}

pub async fn delete_acls(
    broker: &Arc<Broker>,
    req: DeleteAclsRequest,
    client: &Client,
) -> DeleteAclsResponse {
    let allowed = client.may_cluster(broker, op::ALTER);
    let state = broker.security.state();
    let mut results = Vec::with_capacity(req.filters.len());
    let mut doomed = Vec::new();
    for f in req.filters {
        if let Some(refusal) = without_authorizer(broker).or((!allowed).then(denied)) {
            let (code, message) = refusal;
            results.push(
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message),
            );
            continue;
        }
        let filter = acl_filter!(f);
        let matching = state.matching_acls(&filter);
        let described = matching
            .iter()
            .map(|b| {
                DeleteAclsMatchingAcl::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(s(&b.resource_name))
                    .with_pattern_type(b.pattern_type)
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission)
            })
            .collect();
        doomed.extend(matching);
        results.push(DeleteAclsFilterResult::default().with_matching_acls(described));
    }
    if !doomed.is_empty() {
        if let Err((code, message)) =
            change_security(broker, SecurityChange::DeleteAcls(doomed)).await
        {
            for r in results.iter_mut().filter(|r| r.error_code == 0) {
                r.error_code = code;
                r.error_message = Some(StrBytes::from_string(message.clone()));
                r.matching_acls.clear();
            }
        }
    }
    DeleteAclsResponse::default().with_filter_results(results)
}
