//! ACLs with Kafka's semantics: bindings of (resource type, name, pattern) to (principal,
//! host, operation, allow/deny), the filters of DescribeAcls/DeleteAcls, and the decision
//! itself: super users pass, a matching deny wins, an allow must match (with Kafka's
//! implied operations), and a resource without any ACL is denied unless configured
//! otherwise. Numeric codes are Kafka's.

use serde::{Deserialize, Serialize};

/// Kafka's ResourceType codes.
pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
}

/// Kafka's PatternType codes.
pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's AclOperation codes.
pub mod op {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
}

/// Kafka's AclPermissionType codes.
pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The one name of the cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The literal resource name that matches every name.
pub const WILDCARD: &str = "*";

/// One ACL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A DescribeAcls/DeleteAcls filter; `None` matches anything.
#[derive(Clone, Debug, Default)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// Checks a binding from CreateAcls; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(resource::TOPIC..=resource::TRANSACTIONAL_ID).contains(&self.resource_type) {
            return Err(format!(
                "resource type {} cannot carry ACLs",
                self.resource_type
            ));
        }
        if self.pattern_type != pattern::LITERAL && self.pattern_type != pattern::PREFIXED {
            return Err("the pattern type must be LITERAL or PREFIXED".into());
        }
        if self.resource_name.is_empty() {
            return Err("the resource name must not be empty".into());
        }
        if self.resource_type == resource::CLUSTER && self.resource_name != CLUSTER_NAME {
            return Err(format!("the cluster resource is named {CLUSTER_NAME}"));
        }
        if !(op::ALL..=op::IDEMPOTENT_WRITE).contains(&self.operation) {
            return Err(format!(
                "operation {} is not a concrete operation",
                self.operation
            ));
        }
        if self.permission != permission::ALLOW && self.permission != permission::DENY {
            return Err("the permission must be ALLOW or DENY".into());
        }
        match self.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => {
                return Err(format!(
                    "principal {:?} must be TYPE:NAME, e.g. User:alice",
                    self.principal
                ))
            }
        }
        if self.host.is_empty() {
            return Err("the host must be an address or *".into());
        }
        Ok(())
    }

    /// Whether this binding applies to the resource `name` of `resource_type`.
    fn covers(&self, resource_type: i8, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                pattern::LITERAL => self.resource_name == name || self.resource_name == WILDCARD,
                pattern::PREFIXED => name.starts_with(&self.resource_name),
                _ => false,
            }
    }

    fn applies_to(&self, principal: &str, host: &str) -> bool {
        (self.principal == principal || self.principal == "User:*")
            && (self.host == host || self.host == WILDCARD)
    }
}

impl AclFilter {
    pub fn matches(&self, b: &AclBinding) -> bool {
        let resource = self.resource_type == resource::ANY || self.resource_type == b.resource_type;
        let name_and_pattern = match (self.pattern_type, &self.resource_name) {
            (pattern::ANY, None) | (pattern::MATCH, None) => true,
            (pattern::ANY, Some(n)) => *n == b.resource_name,
            (pattern::MATCH, Some(n)) => b.covers(b.resource_type, n),
            (p, None) => p == b.pattern_type,
            (p, Some(n)) => p == b.pattern_type && *n == b.resource_name,
        };
        resource
            && name_and_pattern
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && (self.operation == op::ANY || self.operation == b.operation)
            && (self.permission == permission::ANY || self.permission == b.permission)
    }
}

/// The operations an ALLOW for `operation` grants (READ, WRITE, DELETE and ALTER imply
/// DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS).
fn granted_by(acl_operation: i8, wanted: i8) -> bool {
    acl_operation == wanted
        || acl_operation == op::ALL
        || (wanted == op::DESCRIBE
            && matches!(acl_operation, op::READ | op::WRITE | op::DELETE | op::ALTER))
        || (wanted == op::DESCRIBE_CONFIGS && acl_operation == op::ALTER_CONFIGS)
}

/// The authorizer's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Off: every authenticated principal may do everything (Kafka without an authorizer).
    pub enabled: bool,
    pub super_users: Vec<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

/// Decides one access: may `principal` connecting from `host` perform `operation` on the
/// resource `name` of `resource_type`?
pub fn authorize<'a>(
    config: &AuthorizerConfig,
    acls: impl IntoIterator<Item = &'a AclBinding>,
    principal: &str,
    host: &str,
    operation: i8,
    resource_type: i8,
    name: &str,
) -> bool {
    if !config.enabled || config.super_users.iter().any(|s| s == principal) {
        return true;
    }
    let mut any_acl = false;
    let mut allowed = false;
    for acl in acls.into_iter().filter(|a| a.covers(resource_type, name)) {
        any_acl = true;
        if !acl.applies_to(principal, host) {
            continue;
        }
        if acl.permission == permission::DENY
            && (acl.operation == operation || acl.operation == op::ALL)
        {
            return false;
        }
        if acl.permission == permission::ALLOW && granted_by(acl.operation, operation) {
            allowed = true;
        }
    }
    allowed || (!any_acl && config.allow_everyone_if_no_acl_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        name: &str,
        pattern_type: i8,
        principal: &str,
        operation: i8,
        permission: i8,
    ) -> AclBinding {
        AclBinding {
            resource_type: resource::TOPIC,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission,
        }
    }

    fn on() -> AuthorizerConfig {
        AuthorizerConfig {
            enabled: true,
            super_users: vec!["User:admin".into()],
            allow_everyone_if_no_acl_found: false,
        }
    }

    #[test]
    fn prefixed_allow_covers_only_the_prefix() {
        let acls = [acl(
            "team-a.",
            pattern::PREFIXED,
            "User:a",
            op::ALL,
            permission::ALLOW,
        )];
        let may =
            |p: &str, o, t: &str| authorize(&on(), &acls, p, "10.0.0.1", o, resource::TOPIC, t);
        assert!(may("User:a", op::WRITE, "team-a.orders"));
        assert!(may("User:a", op::DESCRIBE, "team-a.orders"));
        assert!(!may("User:a", op::WRITE, "team-b.orders"));
        assert!(!may("User:b", op::READ, "team-a.orders"));
        assert!(
            may("User:admin", op::DELETE, "team-b.orders"),
            "super users pass"
        );
    }

    #[test]
    fn deny_wins_and_read_implies_describe() {
        let acls = [
            acl("*", pattern::LITERAL, "User:*", op::READ, permission::ALLOW),
            acl(
                "secret",
                pattern::LITERAL,
                "User:b",
                op::READ,
                permission::DENY,
            ),
        ];
        let may = |p: &str, o, t: &str| authorize(&on(), &acls, p, "h", o, resource::TOPIC, t);
        assert!(may("User:b", op::READ, "public"));
        assert!(may("User:b", op::DESCRIBE, "public"));
        assert!(!may("User:b", op::READ, "secret"));
        assert!(may("User:c", op::READ, "secret"));
        assert!(!may("User:c", op::WRITE, "public"));
    }

    #[test]
    fn no_acl_denies_unless_configured() {
        let mut config = on();
        assert!(!authorize(
            &config,
            &[],
            "User:x",
            "h",
            op::READ,
            resource::GROUP,
            "g"
        ));
        config.allow_everyone_if_no_acl_found = true;
        assert!(authorize(
            &config,
            &[],
            "User:x",
            "h",
            op::READ,
            resource::GROUP,
            "g"
        ));
    }

    #[test]
    fn filters_match_like_kafka() {
        let b = acl(
            "team-a.",
            pattern::PREFIXED,
            "User:a",
            op::READ,
            permission::ALLOW,
        );
        let any = AclFilter {
            resource_type: resource::ANY,
            pattern_type: pattern::ANY,
            operation: op::ANY,
            permission: permission::ANY,
            ..Default::default()
        };
        assert!(any.matches(&b));
        let matching = AclFilter {
            resource_name: Some("team-a.orders".into()),
            pattern_type: pattern::MATCH,
            ..any.clone()
        };
        assert!(matching.matches(&b));
        let literal = AclFilter {
            resource_name: Some("team-a.".into()),
            pattern_type: pattern::LITERAL,
            ..any
        };
        assert!(!literal.matches(&b));
    }

    #[test]
    fn invalid_bindings_are_refused_with_a_reason() {
        let mut b = acl("t", pattern::LITERAL, "alice", op::READ, permission::ALLOW);
        assert!(b.validate().expect_err("no type").contains("TYPE:NAME"));
        b.principal = "User:alice".into();
        assert!(b.validate().is_ok());
        b.pattern_type = pattern::MATCH;
        assert!(b.validate().is_err());
    }
}
