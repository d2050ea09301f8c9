//! Alert rules and their evaluation. Each rule has a built-in default, which a platform
//! admin may change and a tenant may override for its own clusters. Every sampling pass
//! works out which (rule, subject) pairs hold now: a new one fires, one that no longer
//! holds resolves, and both transitions are queued for the webhook.

use std::collections::HashMap;

use chrono::Utc;
use tideway_api::{
    monitoring::{Alert, AlertRule, AlertState, LagStatus},
    ClusterId, TenantId,
};

use super::consumer_groups::ClusterGroups;
use crate::{cluster_pki, db, db::alerts::RuleSetting, error::ApiError, state::AppState};

/// A rule's name, meaning, unit and built-in default threshold.
pub struct RuleDef {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub threshold: f64,
    pub severity: &'static str,
}

pub const RULES: &[RuleDef] = &[
    RuleDef {
        name: "host_offline",
        description: "A host's agent has not been heard from",
        unit: "seconds",
        threshold: 60.0,
        severity: "critical",
    },
    RuleDef {
        name: "broker_down",
        description: "A broker has not been healthy (running and answering)",
        unit: "seconds",
        threshold: 60.0,
        severity: "critical",
    },
    RuleDef {
        name: "disk_usage",
        description:
            "A broker's data takes more of its volume, or a host's storage backend is fuller, than",
        unit: "percent",
        threshold: 85.0,
        severity: "warning",
    },
    RuleDef {
        name: "consumer_stalled",
        description: "A consumer group is STALL or STOP while it has lag (threshold unused)",
        unit: "",
        threshold: 0.0,
        severity: "warning",
    },
    RuleDef {
        name: "consumer_time_lag",
        description: "A consumer group is further behind the newest record than",
        unit: "seconds",
        threshold: 300.0,
        severity: "warning",
    },
    RuleDef {
        name: "quota_near_limit",
        description: "A tenant uses more of a quota than",
        unit: "percent",
        threshold: 90.0,
        severity: "warning",
    },
    RuleDef {
        name: "certificate_expiry",
        description: "A broker certificate expires within",
        unit: "days",
        threshold: 14.0,
        severity: "critical",
    },
];

pub fn rule_def(name: &str) -> Option<&'static RuleDef> {
    RULES.iter().find(|r| r.name == name)
}

/// The settings in force: defaults (built-in, or as the admin set them) and overrides.
pub struct Rules {
    defaults: HashMap<&'static str, (bool, f64)>,
    overrides: HashMap<(TenantId, String), (bool, f64)>,
}

impl Rules {
    pub fn new(settings: Vec<RuleSetting>) -> Self {
        let mut defaults: HashMap<_, _> = RULES
            .iter()
            .map(|r| (r.name, (true, r.threshold)))
            .collect();
        let mut overrides = HashMap::new();
        for s in settings {
            match (s.tenant_id, rule_def(&s.rule)) {
                (None, Some(def)) => {
                    defaults.insert(def.name, (s.enabled, s.threshold));
                }
                (Some(t), Some(_)) => {
                    overrides.insert((t, s.rule), (s.enabled, s.threshold));
                }
                _ => {}
            }
        }
        Self {
            defaults,
            overrides,
        }
    }

    /// Whether `rule` is on for `tenant` (the platform default when `None`), and its
    /// threshold.
    pub fn get(&self, rule: &str, tenant: Option<TenantId>) -> (bool, f64) {
        tenant
            .and_then(|t| self.overrides.get(&(t, rule.to_owned())).copied())
            .or_else(|| self.defaults.get(rule).copied())
            .unwrap_or((false, 0.0))
    }

    /// Every rule as it applies to `tenant` (or the platform defaults).
    pub fn describe(&self, tenant: Option<TenantId>) -> Vec<AlertRule> {
        RULES
            .iter()
            .map(|def| {
                let overridden =
                    tenant.filter(|t| self.overrides.contains_key(&(*t, def.name.to_owned())));
                let (enabled, threshold) = self.get(def.name, tenant);
                AlertRule {
                    rule: def.name.into(),
                    description: def.description.into(),
                    enabled,
                    threshold,
                    unit: def.unit.into(),
                    tenant_id: overridden,
                }
            })
            .collect()
    }
}

/// Something a rule holds for now.
struct Finding {
    rule: &'static str,
    subject: String,
    tenant_id: Option<TenantId>,
    cluster_id: Option<ClusterId>,
    message: String,
}

/// Works out what holds now, fires new alerts, resolves old ones and queues webhooks.
pub async fn evaluate(state: &AppState, groups: &[ClusterGroups]) -> Result<(), ApiError> {
    let rules = Rules::new(db::alerts::rule_settings(&state.db).await?);
    let findings = find(state, &rules, groups).await?;
    let firing = db::alerts::firing(&state.db).await?;
    let now = Utc::now();
    let mut still = std::collections::HashSet::new();
    for f in findings {
        let key = (f.rule.to_owned(), f.subject.clone());
        still.insert(key.clone());
        if let Some(existing) = firing
            .iter()
            .find(|a| (a.rule.as_str(), a.subject.as_str()) == (f.rule, &f.subject))
        {
            db::alerts::update_message(&state.db, existing.id, &f.message).await?;
            continue;
        }
        let alert = Alert {
            id: uuid::Uuid::new_v4(),
            rule: f.rule.into(),
            subject: f.subject,
            tenant_id: f.tenant_id,
            cluster_id: f.cluster_id,
            severity: rule_def(f.rule).map_or("warning", |d| d.severity).into(),
            message: f.message,
            state: AlertState::Firing,
            fired_at: now,
            resolved_at: None,
        };
        if db::alerts::fire(&state.db, &alert).await? {
            tracing::warn!(
                rule = alert.rule,
                subject = alert.subject,
                message = alert.message,
                "alert firing"
            );
            notify(state, &alert).await?;
        }
    }
    for mut alert in firing {
        if still.contains(&(alert.rule.clone(), alert.subject.clone())) {
            continue;
        }
        db::alerts::resolve(&state.db, alert.id, now).await?;
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(now);
        tracing::info!(rule = alert.rule, subject = alert.subject, "alert resolved");
        notify(state, &alert).await?;
    }
    Ok(())
}

/// Queues the transition for the platform's webhook and the tenant's, where configured.
async fn notify(state: &AppState, alert: &Alert) -> Result<(), ApiError> {
    let payload = serde_json::to_value(alert).map_err(|e| ApiError::Internal(e.to_string()))?;
    if state.config.alert_webhook_url.is_some() {
        db::alerts::enqueue(&state.db, alert.id, None, &payload).await?;
    }
    if let Some(tenant) = alert.tenant_id {
        if db::alerts::tenant_webhook(&state.db, tenant)
            .await?
            .is_some()
        {
            db::alerts::enqueue(&state.db, alert.id, Some(tenant), &payload).await?;
        }
    }
    Ok(())
}

async fn find(
    state: &AppState,
    rules: &Rules,
    groups: &[ClusterGroups],
) -> Result<Vec<Finding>, ApiError> {
    let mut out = Vec::new();
    let (on, secs) = rules.get("host_offline", None);
    if on {
        for (id, name) in db::alerts::silent_hosts(&state.db, secs).await? {
            out.push(Finding {
                rule: "host_offline",
                subject: format!("host:{id}"),
                tenant_id: None,
                cluster_id: None,
                message: format!("host {name} has sent no heartbeat for more than {secs} s"),
            });
        }
    }
    // Broker rules have per-tenant thresholds: read every candidate, then judge each by
    // its tenant's rule.
    for ((cluster, tenant, name, node), down_for) in db::alerts::down_brokers(&state.db).await? {
        let (on, limit) = rules.get("broker_down", Some(tenant));
        if on && down_for > limit {
            out.push(broker_finding(
                "broker_down",
                cluster,
                tenant,
                node,
                format!("broker {node} of cluster {name} has not been healthy for {down_for:.0} s"),
            ));
        }
    }
    let (_, disk_pct) = rules.get("disk_usage", None);
    for ((cluster, tenant, name, node), pct) in db::alerts::full_brokers(&state.db, 0.0).await? {
        let (on, limit) = rules.get("disk_usage", Some(tenant));
        if on && pct > limit {
            out.push(broker_finding("disk_usage", cluster, tenant, node,
                format!("broker {node} of cluster {name} uses {pct:.0} % of its volume (limit {limit:.0} %)")));
        }
    }
    if rules.get("disk_usage", None).0 {
        for (host, name, backend, pct) in db::alerts::full_host_volumes(&state.db, disk_pct).await?
        {
            out.push(Finding {
                rule: "disk_usage",
                subject: format!("host:{host}/{backend}"),
                tenant_id: None,
                cluster_id: None,
                message: format!("the {backend} storage of host {name} is {pct:.0} % full (limit {disk_pct:.0} %)"),
            });
        }
    }
    for ((cluster, tenant, name, node), pem) in db::alerts::broker_certificates(&state.db).await? {
        let (on, days) = rules.get("certificate_expiry", Some(tenant));
        let left =
            cluster_pki::expires_at(&pem).map(|t| (t - Utc::now().timestamp()) as f64 / 86_400.0);
        if on && left.is_none_or(|d| d < days) {
            let when = left.map_or("cannot be read".to_owned(), |d| {
                format!("expires in {d:.1} days")
            });
            out.push(broker_finding(
                "certificate_expiry",
                cluster,
                tenant,
                node,
                format!("the certificate of broker {node} of cluster {name} {when}"),
            ));
        }
    }
    quota_findings(state, rules, &mut out).await?;
    consumer_findings(rules, groups, &mut out);
    Ok(out)
}

fn broker_finding(
    rule: &'static str,
    cluster: ClusterId,
    tenant: TenantId,
    node: i32,
    message: String,
) -> Finding {
    Finding {
        rule,
        subject: format!("cluster:{cluster}/broker:{node}"),
        tenant_id: Some(tenant),
        cluster_id: Some(cluster),
        message,
    }
}

async fn quota_findings(
    state: &AppState,
    rules: &Rules,
    out: &mut Vec<Finding>,
) -> Result<(), ApiError> {
    for tenant in db::tenants::list(&state.db, None).await? {
        let (on, pct) = rules.get("quota_near_limit", Some(tenant.id));
        if !on {
            continue;
        }
        let quota = db::tenants::quota(&state.db, tenant.id).await?;
        let mut conn = state.db.acquire().await?;
        let usage = db::tenants::usage(&mut conn, tenant.id).await?;
        let dimensions = [
            ("clusters", usage.clusters, quota.max_clusters),
            ("brokers", usage.brokers, quota.max_brokers),
            ("storage", usage.storage_bytes, quota.max_storage_bytes),
            ("partitions", usage.partitions, quota.max_partitions),
        ];
        for (what, used, max) in dimensions {
            let share = if max > 0 {
                100.0 * used as f64 / max as f64
            } else {
                0.0
            };
            if max > 0 && share > pct {
                out.push(Finding {
                    rule: "quota_near_limit",
                    subject: format!("tenant:{}/{what}", tenant.id),
                    tenant_id: Some(tenant.id),
                    cluster_id: None,
                    message: format!(
                        "tenant {} uses {share:.0} % of its {what} quota ({used} of {max})",
                        tenant.name
                    ),
                });
            }
        }
    }
    Ok(())
}

fn consumer_findings(rules: &Rules, groups: &[ClusterGroups], out: &mut Vec<Finding>) {
    for (cluster, groups) in groups {
        let tenant = Some(cluster.tenant_id);
        let (stall_on, _) = rules.get("consumer_stalled", tenant);
        let (lag_on, lag_secs) = rules.get("consumer_time_lag", tenant);
        for g in groups {
            let subject = format!("cluster:{}/group:{}", cluster.id, g.group_id);
            let finding = |rule, message| Finding {
                rule,
                subject: subject.clone(),
                tenant_id: tenant,
                cluster_id: Some(cluster.id),
                message,
            };
            if stall_on && matches!(g.status, LagStatus::Stall | LagStatus::Stop) {
                out.push(finding(
                    "consumer_stalled",
                    format!(
                        "consumer group {} on cluster {} is {} with {} records of lag",
                        g.group_id,
                        cluster.name,
                        g.status.as_str(),
                        g.total_lag
                    ),
                ));
            }
            let behind = g.max_time_lag_ms.unwrap_or(0) as f64 / 1000.0;
            if lag_on && behind > lag_secs {
                out.push(finding("consumer_time_lag", format!(
                    "consumer group {} on cluster {} is {behind:.0} s behind (limit {lag_secs:.0} s)",
                    g.group_id, cluster.name)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_override_wins_over_the_default_which_wins_over_the_built_in() {
        let tenant = TenantId::new();
        let setting = |tenant_id, rule: &str, enabled, threshold| RuleSetting {
            tenant_id,
            rule: rule.into(),
            enabled,
            threshold,
        };
        let rules = Rules::new(vec![
            setting(None, "disk_usage", true, 90.0),
            setting(Some(tenant), "disk_usage", false, 70.0),
            setting(None, "retired_rule", true, 1.0),
        ]);
        assert_eq!(rules.get("disk_usage", Some(tenant)), (false, 70.0));
        assert_eq!(rules.get("disk_usage", Some(TenantId::new())), (true, 90.0));
        assert_eq!(rules.get("disk_usage", None), (true, 90.0));
        assert_eq!(rules.get("certificate_expiry", Some(tenant)), (true, 14.0));
        assert_eq!(
            rules.get("retired_rule", None),
            (false, 0.0),
            "unknown rules never fire"
        );
        let described = rules.describe(Some(tenant));
        assert_eq!(described.len(), RULES.len());
        let disk = described
            .iter()
            .find(|r| r.rule == "disk_usage")
            .expect("disk");
        assert_eq!(disk.tenant_id, Some(tenant));
    }
}
