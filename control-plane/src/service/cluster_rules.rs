//! Pure rules for cluster requests: validation, the quota footprint of a spec, quota fit,
//! and the status each approval state shows. No I/O here; table tests below.

use chrono::Utc;
use tideway_api::{
    clusters::{
        ClusterKind, ClusterSecurity, ClusterSpec, ClusterSpecPatch, Condition, ConditionStatus,
        CreateCluster, TopicDefaults,
    },
    tenants::{Quota, QuotaUsage},
    FieldError,
};

/// Most brokers one dedicated cluster may have.
pub const MAX_BROKERS: i32 = 12;
/// Largest volume per broker, in GiB.
pub const MAX_STORAGE_GIB: i64 = 64 * 1024;
/// Most partitions a topic default may ask for.
pub const MAX_DEFAULT_PARTITIONS: i32 = 1000;
/// Shortest retention a topic default may ask for (one minute).
pub const MIN_RETENTION_MS: i64 = 60_000;

/// Bytes in a GiB.
pub const GIB: i64 = 1 << 30;

/// Checks a DNS-label style name (clusters, tenants): 3–40 of `a-z0-9-`, starting with
/// a letter, not ending with a dash.
pub fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    let ok_len = (3..=40).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = name.starts_with(|c: char| c.is_ascii_lowercase()) && !name.ends_with('-');
    if !(ok_len && ok_chars && ok_ends) {
        errors.push(FieldError {
            field: field.into(),
            message: "use 3 to 40 lowercase letters, digits or dashes, starting with a letter \
                      and not ending with a dash"
                .into(),
        });
    }
}

fn err(errors: &mut Vec<FieldError>, field: &str, message: String) {
    errors.push(FieldError {
        field: field.into(),
        message,
    });
}

/// Every problem with a new request.
pub fn validate_create(req: &CreateCluster) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_name("name", &req.name, &mut errors);
    errors.extend(validate_spec(req.kind, &req.spec));
    errors
}

/// Every problem with a spec of the given kind.
pub fn validate_spec(kind: ClusterKind, spec: &ClusterSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match (kind, spec.broker_count) {
        (ClusterKind::Dedicated, None) => err(
            &mut errors,
            "spec.broker_count",
            "a dedicated cluster needs a broker count".into(),
        ),
        // A shared cluster with brokers is the platform's shared cluster itself; without, a
        // tenant's slice of it (who may ask for which is the service's rule).
        (_, Some(n)) if !(1..=MAX_BROKERS).contains(&n) => err(
            &mut errors,
            "spec.broker_count",
            format!("must be between 1 and {MAX_BROKERS}, got {n}"),
        ),
        _ => {}
    }
    if kind == ClusterKind::Shared && spec.security != ClusterSecurity::SaslSsl {
        err(
            &mut errors,
            "spec.security",
            "a shared cluster serves several tenants, so it must be sasl-ssl; \
             only a dedicated cluster may be plaintext"
                .into(),
        );
    }
    if !(1..=MAX_STORAGE_GIB).contains(&spec.storage_gib) {
        err(
            &mut errors,
            "spec.storage_gib",
            format!(
                "must be between 1 and {MAX_STORAGE_GIB} GiB, got {}",
                spec.storage_gib
            ),
        );
    }
    if let Some(td) = &spec.topic_defaults {
        check_topic_defaults(td, spec.broker_count, &mut errors);
    }
    errors
}

fn check_topic_defaults(td: &TopicDefaults, brokers: Option<i32>, errors: &mut Vec<FieldError>) {
    if !(1..=MAX_DEFAULT_PARTITIONS).contains(&td.partitions) {
        err(
            errors,
            "spec.topic_defaults.partitions",
            format!(
                "must be between 1 and {MAX_DEFAULT_PARTITIONS}, got {}",
                td.partitions
            ),
        );
    }
    let max_rf = brokers.unwrap_or(3).max(1);
    if !(1..=max_rf).contains(&td.replication_factor) {
        err(
            errors,
            "spec.topic_defaults.replication_factor",
            format!(
                "must be between 1 and the broker count ({max_rf}), got {}",
                td.replication_factor
            ),
        );
    }
    if td.retention_ms != -1 && td.retention_ms < MIN_RETENTION_MS {
        err(
            errors,
            "spec.topic_defaults.retention_ms",
            format!(
                "must be -1 (keep forever) or at least {MIN_RETENTION_MS} ms, got {}",
                td.retention_ms
            ),
        );
    }
}

/// The spec after a patch.
pub fn apply_patch(spec: &ClusterSpec, patch: &ClusterSpecPatch) -> ClusterSpec {
    ClusterSpec {
        security: spec.security,
        broker_count: patch.broker_count.or(spec.broker_count),
        storage_backend: spec.storage_backend,
        storage_gib: patch.storage_gib.unwrap_or(spec.storage_gib),
        hardware_profile: patch.hardware_profile.unwrap_or(spec.hardware_profile),
        topic_defaults: patch.topic_defaults.or(spec.topic_defaults),
        auto_create_topics: patch.auto_create_topics.unwrap_or(spec.auto_create_topics),
    }
}

/// What a spec counts against a tenant's quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub clusters: i64,
    pub brokers: i64,
    pub storage_bytes: i64,
}

pub fn footprint(spec: &ClusterSpec) -> Footprint {
    let brokers = i64::from(spec.broker_count.unwrap_or(0));
    let volumes = brokers.max(1);
    Footprint {
        clusters: 1,
        brokers,
        storage_bytes: volumes * spec.storage_gib * GIB,
    }
}

/// Sentences saying which quota limits `usage + add` would exceed; empty when it fits.
pub fn quota_excess(quota: &Quota, usage: &QuotaUsage, add: Footprint) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, used: i64, more: i64, max: i64, unit: fn(i64) -> String| {
        if more > 0 && used + more > max {
            out.push(format!(
                "{what}: {} in use + {} requested > {} allowed",
                unit(used),
                unit(more),
                unit(max)
            ));
        }
    };
    check(
        "clusters",
        usage.clusters,
        add.clusters,
        quota.max_clusters,
        |n| n.to_string(),
    );
    check(
        "brokers",
        usage.brokers,
        add.brokers,
        quota.max_brokers,
        |n| n.to_string(),
    );
    check(
        "storage",
        usage.storage_bytes,
        add.storage_bytes,
        quota.max_storage_bytes,
        gib,
    );
    out
}

fn gib(bytes: i64) -> String {
    if bytes % GIB == 0 {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    }
}

/// The footprint growth from `old` to `new`, counting only increases.
pub fn growth(old: Footprint, new: Footprint) -> Footprint {
    Footprint {
        clusters: 0,
        brokers: (new.brokers - old.brokers).max(0),
        storage_bytes: (new.storage_bytes - old.storage_bytes).max(0),
    }
}

/// Why the control plane cannot carry out a change of an approved cluster's spec from
/// `old` to `new` yet, as a sentence; `None` when it can. Only topic defaults (used by the
/// control plane when it creates topics) take effect on a running cluster today; anything
/// the brokers or their hosts would have to change is refused rather than accepted and
/// left undone.
pub fn unsupported_live_change(old: &ClusterSpec, new: &ClusterSpec) -> Option<String> {
    let mut what = Vec::new();
    if new.broker_count != old.broker_count {
        what.push("the broker count (scaling)");
    }
    if new.storage_gib > old.storage_gib {
        what.push("the storage size (growing volumes)");
    }
    if new.hardware_profile != old.hardware_profile {
        what.push("the hardware profile (moving brokers)");
    }
    if new.auto_create_topics != old.auto_create_topics {
        what.push("auto_create_topics (reconfiguring brokers)");
    }
    (!what.is_empty()).then(|| {
        format!(
            "the control plane cannot change {} of a running cluster yet; \
             only topic_defaults can change after approval",
            what.join(", ")
        )
    })
}

/// Problems with changing an approved cluster's spec from `old` to `new`.
pub fn check_live_change(old: &ClusterSpec, new: &ClusterSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if new.storage_gib < old.storage_gib {
        err(
            &mut errors,
            "spec.storage_gib",
            format!(
                "volumes cannot shrink: {} GiB is below the current {} GiB",
                new.storage_gib, old.storage_gib
            ),
        );
    }
    errors
}

/// The phase and conditions shown for each approval outcome.
pub fn pending_status(reason: &str) -> (&'static str, Vec<Condition>) {
    (
        "PendingApproval",
        vec![condition(
            "Ready",
            ConditionStatus::False,
            "PendingApproval",
            reason,
        )],
    )
}

pub fn rejected_status(reason: &str) -> (&'static str, Vec<Condition>) {
    (
        "Rejected",
        vec![condition(
            "Ready",
            ConditionStatus::False,
            "Rejected",
            reason,
        )],
    )
}

pub fn approved_status() -> (&'static str, Vec<Condition>) {
    (
        "Provisioning",
        vec![
            condition(
                "Ready",
                ConditionStatus::False,
                "AwaitingPlacement",
                "Approved; waiting for brokers to be placed on hosts.",
            ),
            condition(
                "Progressing",
                ConditionStatus::True,
                "Approved",
                "The request was approved.",
            ),
        ],
    )
}

fn condition(kind: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition {
        kind: kind.into(),
        status,
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use tideway_api::{
        clusters::{HardwareProfile, StorageBackend},
        TenantId,
    };

    use super::*;

    fn spec(brokers: Option<i32>, gib: i64) -> ClusterSpec {
        ClusterSpec {
            security: Default::default(),
            broker_count: brokers,
            storage_backend: StorageBackend::LocalSsd,
            storage_gib: gib,
            hardware_profile: HardwareProfile::Virtual,
            topic_defaults: None,
            auto_create_topics: false,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn names() {
        for (name, ok) in [
            ("orders", true),
            ("a1-b2", true),
            ("ab", false),
            ("Orders", false),
            ("1orders", false),
            ("orders-", false),
            ("ord_ers", false),
            ("a".repeat(40).as_str(), true),
            ("a".repeat(41).as_str(), false),
        ] {
            let mut e = Vec::new();
            check_name("name", name, &mut e);
            assert_eq!(e.is_empty(), ok, "{name}");
        }
    }

    #[test]
    fn specs() {
        let td = |p, rf, ret| {
            Some(TopicDefaults {
                partitions: p,
                replication_factor: rf,
                retention_ms: ret,
            })
        };
        let cases: Vec<(ClusterKind, ClusterSpec, Vec<&str>)> = vec![
            (ClusterKind::Dedicated, spec(Some(3), 100), vec![]),
            (
                ClusterKind::Dedicated,
                spec(None, 100),
                vec!["spec.broker_count"],
            ),
            (
                ClusterKind::Dedicated,
                spec(Some(0), 100),
                vec!["spec.broker_count"],
            ),
            (
                ClusterKind::Dedicated,
                spec(Some(13), 100),
                vec!["spec.broker_count"],
            ),
            (ClusterKind::Shared, spec(None, 10), vec![]),
            (ClusterKind::Shared, spec(Some(1), 10), vec![]),
            (
                ClusterKind::Shared,
                spec(Some(13), 10),
                vec!["spec.broker_count"],
            ),
            (
                ClusterKind::Dedicated,
                spec(Some(1), 0),
                vec!["spec.storage_gib"],
            ),
            (
                ClusterKind::Dedicated,
                ClusterSpec {
                    topic_defaults: td(6, 3, -1),
                    ..spec(Some(3), 1)
                },
                vec![],
            ),
            (
                ClusterKind::Dedicated,
                ClusterSpec {
                    topic_defaults: td(0, 4, 10),
                    ..spec(Some(3), 1)
                },
                vec![
                    "spec.topic_defaults.partitions",
                    "spec.topic_defaults.replication_factor",
                    "spec.topic_defaults.retention_ms",
                ],
            ),
        ];
        for (kind, s, want) in cases {
            assert_eq!(fields(&validate_spec(kind, &s)), want, "{kind:?} {s:?}");
        }
        let req = CreateCluster {
            tenant_id: TenantId::new(),
            name: "X".into(),
            kind: ClusterKind::Shared,
            spec: spec(None, 1),
        };
        assert_eq!(fields(&validate_create(&req)), vec!["name"]);
    }

    #[test]
    fn footprints_and_quota() {
        let quota = Quota {
            max_clusters: 2,
            max_brokers: 4,
            max_storage_bytes: 400 * GIB,
            ..Quota::default()
        };
        let fp = footprint(&spec(Some(3), 100));
        assert_eq!(
            fp,
            Footprint {
                clusters: 1,
                brokers: 3,
                storage_bytes: 300 * GIB
            }
        );
        assert_eq!(footprint(&spec(None, 10)).storage_bytes, 10 * GIB);

        assert!(quota_excess(&quota, &QuotaUsage::default(), fp).is_empty());
        let used = QuotaUsage {
            clusters: 1,
            brokers: 3,
            storage_bytes: 300 * GIB,
            partitions: 0,
        };
        let excess = quota_excess(&quota, &used, fp);
        assert_eq!(excess.len(), 2, "{excess:?}");
        assert!(excess[0].starts_with("brokers: 3 in use + 3 requested > 4 allowed"));
        assert!(excess[1].contains("300 GiB in use + 300 GiB requested > 400 GiB"));

        let full = QuotaUsage {
            clusters: 2,
            ..QuotaUsage::default()
        };
        assert_eq!(
            quota_excess(&quota, &full, footprint(&spec(None, 1))).len(),
            1
        );
        assert!(
            quota_excess(&quota, &full, growth(fp, fp)).is_empty(),
            "a change that adds nothing fits"
        );
    }

    #[test]
    fn patches_and_live_changes() {
        let old = spec(Some(3), 100);
        let patch = ClusterSpecPatch {
            broker_count: Some(5),
            storage_gib: Some(50),
            ..Default::default()
        };
        let new = apply_patch(&old, &patch);
        assert_eq!((new.broker_count, new.storage_gib), (Some(5), 50));
        assert_eq!(
            fields(&check_live_change(&old, &new)),
            vec!["spec.storage_gib"]
        );
        assert!(
            check_live_change(&old, &apply_patch(&old, &ClusterSpecPatch::default())).is_empty()
        );
        assert_eq!(growth(footprint(&old), footprint(&new)).brokers, 2);
    }

    #[test]
    fn live_changes_the_control_plane_cannot_carry_out_are_named() {
        let old = spec(Some(3), 100);
        let refused =
            |patch: ClusterSpecPatch| unsupported_live_change(&old, &apply_patch(&old, &patch));
        let cases: Vec<(ClusterSpecPatch, Option<&str>)> = vec![
            (ClusterSpecPatch::default(), None),
            (
                ClusterSpecPatch {
                    topic_defaults: Some(TopicDefaults {
                        partitions: 6,
                        replication_factor: 3,
                        retention_ms: 3_600_000,
                    }),
                    ..Default::default()
                },
                None,
            ),
            (
                ClusterSpecPatch {
                    broker_count: Some(3),
                    storage_gib: Some(100),
                    ..Default::default()
                },
                None,
            ),
            (
                ClusterSpecPatch {
                    broker_count: Some(4),
                    ..Default::default()
                },
                Some("the broker count (scaling)"),
            ),
            (
                ClusterSpecPatch {
                    storage_gib: Some(200),
                    hardware_profile: Some(HardwareProfile::Physical),
                    ..Default::default()
                },
                Some("the storage size (growing volumes), the hardware profile (moving brokers)"),
            ),
            (
                ClusterSpecPatch {
                    auto_create_topics: Some(true),
                    ..Default::default()
                },
                Some("auto_create_topics (reconfiguring brokers)"),
            ),
        ];
        for (patch, want) in cases {
            let got = refused(patch.clone());
            match want {
                None => assert_eq!(got, None, "{patch:?}"),
                Some(what) => assert_eq!(
                    got.as_deref(),
                    Some(
                        format!(
                            "the control plane cannot change {what} of a running cluster yet; \
                             only topic_defaults can change after approval"
                        )
                        .as_str()
                    ),
                    "{patch:?}"
                ),
            }
        }
    }

    #[test]
    fn shared_clusters_are_never_plaintext() {
        let plaintext = ClusterSpec {
            security: ClusterSecurity::Plaintext,
            ..spec(None, 10)
        };
        assert_eq!(
            fields(&validate_spec(ClusterKind::Shared, &plaintext)),
            vec!["spec.security"]
        );
        let with_brokers = ClusterSpec {
            broker_count: Some(1),
            ..plaintext.clone()
        };
        assert_eq!(
            fields(&validate_spec(ClusterKind::Shared, &with_brokers)),
            vec!["spec.security"]
        );
        assert!(validate_spec(ClusterKind::Dedicated, &with_brokers).is_empty());
        assert_eq!(ClusterSecurity::default(), ClusterSecurity::SaslSsl);
    }
}
