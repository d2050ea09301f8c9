//! Monitoring end to end: a real cluster under a steady producer and a slow consumer
//! (rdkafka). The control plane samples it every second: the group's verdict becomes
//! WARNING while its lag grows, STOP once the consumer is gone, and OK after it catches
//! up. The STOP fires a `consumer_stalled` alert that reaches a webhook (a test HTTP
//! server that checks each delivery's HMAC signature and whose first answer is a 503, so
//! the delivery must be retried), and catching up resolves it. A real Prometheus scrapes
//! everything and runs the shipped rules and dashboard queries. The portal (headless
//! Chromium) shows the charts, the group and its status.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use std::time::Duration;

use e2e::{
    platform::{wait_for, Platform},
    prometheus::Prometheus,
};
use fantoccini::Locator;
use tideway_api::{
    client::ClientError,
    clusters::{ClusterKind, CreateCluster},
    monitoring::{LagStatus, PrometheusTargetGroup, SetAlertRule},
    tenants::{CreateUser, PutMember},
    tokens::CreateToken,
    topics::CreateTopic,
    Role,
};

#[path = "monitoring/support.rs"]
mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_consumer_warns_a_stopped_one_alerts_and_the_portal_charts_it() {
    let hook = Webhook::default();
    let url = hook.start().await;
    let mut p = Platform::start_with(
        1,
        &[
            "--metrics-interval",
            "1s",
            "--lag-window",
            "5s",
            "--alert-webhook-url",
            &url,
            "--alert-webhook-secret",
            WEBHOOK_SECRET,
        ],
    )
    .await;
    // The agent serves its own metrics.
    let agent_metrics = e2e::free_port();
    p.agent_flags = vec![
        "--metrics-listen".into(),
        format!("127.0.0.1:{agent_metrics}"),
    ];
    p.start_agent();
    let admin = p.admin.clone();
    let tenant = p.tenant("team-mon").await;
    let cluster = admin
        .create_cluster(&CreateCluster {
            tenant_id: tenant.id,
            name: "monitored".into(),
            kind: ClusterKind::Dedicated,
            spec: e2e::one_broker_spec(),
        })
        .await
        .expect("request");
    let ready = wait_for(&admin, cluster.id, "Ready", |c| c.status.phase == "Ready").await;
    let bootstrap = ready.bootstrap_servers.expect("bootstrap");
    admin
        .create_topic(
            cluster.id,
            &CreateTopic {
                name: TOPIC.into(),
                partitions: Some(1),
                replication_factor: None,
                configs: Default::default(),
            },
        )
        .await
        .expect("topic");

    // Rules: bad input is refused with a clear problem; the tenant's override applies.
    let bad = admin
        .set_tenant_alert_rule(
            tenant.id,
            "disk_usage",
            &SetAlertRule {
                enabled: true,
                threshold: 120.0,
            },
        )
        .await;
    match bad {
        Err(ClientError::Problem(p)) => {
            assert_eq!(p.status, 422);
            assert!(format!("{p:?}").contains("at most 100"), "{p:?}");
        }
        other => panic!("a 120 % threshold was not refused: {other:?}"),
    }
    match admin
        .set_tenant_alert_rule(
            tenant.id,
            "no_such_rule",
            &SetAlertRule {
                enabled: true,
                threshold: 1.0,
            },
        )
        .await
    {
        Err(ClientError::Problem(p)) => assert_eq!(p.status, 404),
        other => panic!("an unknown rule was not refused: {other:?}"),
    }
    let rule = admin
        .set_tenant_alert_rule(
            tenant.id,
            "consumer_time_lag",
            &SetAlertRule {
                enabled: false,
                threshold: 1.0,
            },
        )
        .await
        .expect("override");
    assert_eq!((rule.enabled, rule.tenant_id), (false, Some(tenant.id)));

    // A site's Prometheus: brokers found through the control plane's service discovery
    // (with an automation token), the control plane and the agent scraped directly, and
    // the rules shipped in helm/ loaded.
    let token = admin
        .create_token(&CreateToken {
            name: "prometheus".into(),
            tenant_id: None,
            role: Role::PlatformAdmin,
            expires_in_days: None,
        })
        .await
        .expect("token")
        .secret;
    let cp_address = p.cp.url.trim_start_matches("http://").to_owned();
    let scrape_configs = [
        "  - job_name: tideway-brokers".to_owned(),
        "    http_sd_configs:".to_owned(),
        format!("      - url: {}/api/v1/prometheus/targets", p.cp.url),
        "        refresh_interval: 1s".to_owned(),
        format!("        authorization: {{ type: Bearer, credentials: {token:?} }}"),
        "  - job_name: tideway-control-plane".to_owned(),
        format!("    static_configs: [{{ targets: [{cp_address:?}] }}]"),
        format!("    authorization: {{ type: Bearer, credentials: {token:?} }}"),
        "  - job_name: tideway-agents".to_owned(),
        format!("    static_configs: [{{ targets: [\"127.0.0.1:{agent_metrics}\"] }}]"),
    ]
    .join("\n")
        + "\n";
    let rules_file = helm_file("prometheus/tideway-rules.yaml");
    let prometheus = Prometheus::start(&scrape_configs, &[&rules_file])
        .await
        .expect("prometheus");

    let stop_producing = Arc::new(AtomicBool::new(false));
    let producer = steady_producer(bootstrap.clone(), stop_producing.clone());
    let stop_slow = Arc::new(AtomicBool::new(false));
    let slow = consumer(
        bootstrap.clone(),
        Duration::from_millis(100),
        stop_slow.clone(),
    );

    // Reading 10 records a second of 40: the lag grows at every look.
    let warning = until_status(&admin, cluster.id, LagStatus::Warning, i64::MAX).await;
    assert!(warning.total_lag > 0, "{warning:?}");
    let part = &warning.partitions[0];
    assert_eq!((part.topic.as_str(), part.partition), (TOPIC, 0));
    assert!(part.end_offset > part.committed_offset, "{part:?}");
    assert!(
        part.time_lag_ms.is_some_and(|ms| ms > 0),
        "time lag from record timestamps: {part:?}"
    );
    assert_eq!(
        part.clears_in_ms, None,
        "a growing lag never clears: {part:?}"
    );

    // The consumer goes away: no commits for longer than the window, so STOP.
    stop_slow.store(true, Ordering::SeqCst);
    let read = slow.join().expect("slow consumer");
    assert!(read > 0);
    let stopped = until_status(&admin, cluster.id, LagStatus::Stop, i64::MAX).await;
    assert!(stopped.total_lag > 0);
    let fired = hook.until("consumer_stalled", "firing").await;
    assert_eq!(fired["cluster_id"], serde_json::json!(cluster.id));
    assert!(
        fired["message"]
            .as_str()
            .is_some_and(|m| m.contains("STOP")),
        "{fired}"
    );
    let refused = hook
        .refused
        .lock()
        .expect("lock")
        .clone()
        .expect("a delivery was refused");
    let retried = hook
        .accepted
        .lock()
        .expect("lock")
        .iter()
        .any(|a| a["id"] == refused["id"] && a["state"] == refused["state"]);
    assert!(
        retried,
        "the refused delivery was retried until accepted: {refused}"
    );
    assert_eq!(
        hook.badly_signed.load(Ordering::SeqCst),
        0,
        "every delivery carries the HMAC of its body"
    );
    let alerts = admin.alerts().await.expect("alerts");
    assert!(
        alerts
            .iter()
            .any(|a| a.rule == "consumer_stalled" && a.resolved_at.is_none()),
        "{alerts:?}"
    );
    assert!(
        !alerts.iter().any(|a| a.rule == "consumer_time_lag"),
        "the tenant turned that rule off: {alerts:?}"
    );

    // The series behind the charts.
    let metrics = admin
        .cluster_metrics(cluster.id, "1h")
        .await
        .expect("metrics");
    let series = |name: &str| {
        metrics
            .series
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}: {metrics:?}"))
    };
    let messages = series("messages_in_per_sec");
    let peak = messages.points.iter().map(|p| p.value).fold(0.0, f64::max);
    assert!(
        (10.0..100.0).contains(&peak),
        "about 40 messages/s were produced, the series says {peak}"
    );
    assert!(series("bytes_in_per_sec")
        .points
        .iter()
        .any(|p| p.value > 0.0));
    assert!(series(&format!("lag:{GROUP}"))
        .points
        .iter()
        .any(|p| p.value > 0.0));
    assert!(
        metrics
            .topics
            .iter()
            .any(|t| t.topic == TOPIC && t.messages_total > 0),
        "{:?}",
        metrics.topics
    );

    // Prometheus: the brokers' endpoints by service discovery, the control plane's
    // verdict gauges, the agent's host metrics.
    let targets: Vec<PrometheusTargetGroup> =
        admin.get("/prometheus/targets").await.expect("targets");
    let target = targets
        .iter()
        .find(|t| t.labels.get("tideway_cluster").map(String::as_str) == Some("monitored"))
        .unwrap_or_else(|| panic!("no target for the cluster: {targets:?}"));
    let broker_metrics = scrape(&format!("http://{}/metrics", target.targets[0])).await;
    assert!(
        broker_metrics
            .lines()
            .any(|l| l.starts_with(r#"kafka_server_messages_in_total{topic="events"} "#)),
        "{broker_metrics}"
    );
    let cp_metrics = scrape_as(&format!("{}/metrics", p.cp.url), Some(&token)).await;
    let status_line = cp_metrics
        .lines()
        .find(|l| {
            l.starts_with("tideway_consumer_group_status{")
                && l.contains(&format!(r#"group="{GROUP}""#))
        })
        .unwrap_or_else(|| panic!("no verdict gauge: {cp_metrics}"));
    assert!(status_line.ends_with(" 4"), "STOP is 4: {status_line}");
    let host_metrics = scrape(&format!("http://127.0.0.1:{agent_metrics}/metrics")).await;
    let memory = host_metrics
        .lines()
        .find_map(|l| l.strip_prefix("tideway_host_memory_total_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no host memory: {host_metrics}"));
    assert!(memory > 0.0);
    assert!(
        host_metrics.contains("tideway_agent_brokers_running 1"),
        "{host_metrics}"
    );
    let hosts = admin.list_hosts().await.expect("hosts");
    let reported = hosts[0].metrics.expect("host metrics with the heartbeat");
    assert!(
        reported.memory_used_bytes > 0 && reported.memory_used_bytes <= reported.memory_total_bytes
    );

    // Every panel of the shipped Grafana dashboard shows data in that Prometheus, and
    // every series the shipped rules use exists there.
    prometheus
        .until_some(
            r#"up{job="tideway-brokers",tideway_cluster="monitored"} == 1"#,
            30,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the broker was not discovered and scraped: {e}\n{}",
                futures::executor::block_on(prometheus.targets())
            )
        });
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(helm_file("dashboards/tideway-clusters.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"]
                .as_str()
                .expect("expr")
                .replace("$cluster", ".*");
            prometheus
                .until_some(&expr, 30)
                .await
                .unwrap_or_else(|e| panic!("panel {:?} shows nothing: {e}", panel["title"]));
        }
    }
    prometheus
        .until_some("tideway_cluster:messages_in:rate5m > 0", 30)
        .await
        .expect("a recording rule");
    let names = prometheus.metric_names().await.expect("names");
    for name in rule_metric_names(&std::fs::read_to_string(&rules_file).expect("rules")) {
        assert!(
            names.contains(&name),
            "the rules use {name}, which nothing exports (have {names:?})"
        );
    }

    // Another tenant's member sees nothing of this cluster's groups.
    admin
        .create_user(&CreateUser {
            username: "mallory".into(),
            password: "mallory-password".into(),
            display_name: None,
            platform_admin: false,
        })
        .await
        .expect("user");
    let other = p.tenant("team-other").await;
    admin
        .put_member(
            other.id,
            "mallory",
            &PutMember {
                role: Role::TenantAdmin,
            },
        )
        .await
        .expect("member");
    let mallory =
        p.cp.client()
            .login("mallory", "mallory-password")
            .await
            .expect("login");
    for path in [
        format!("/clusters/{}/consumer-groups", cluster.id),
        format!("/clusters/{}/metrics", cluster.id),
    ] {
        let err = mallory
            .get::<serde_json::Value>(&path)
            .await
            .expect_err("hidden");
        assert_eq!(err.status(), Some(404), "{path}");
    }
    assert!(
        mallory.alerts().await.expect("alerts").is_empty(),
        "no alerts of other tenants"
    );
    let err = mallory
        .get::<serde_json::Value>("/prometheus/targets")
        .await
        .expect_err("admin only");
    assert_eq!(err.status(), Some(403));

    // The portal: charts with data, the group with its verdict, live.
    let browser = e2e::browser::Browser::admin_at(&p.cp.url, &format!("/clusters/{}", cluster.id))
        .await
        .expect("cluster page");
    browser
        .wait_text(&format!("#group-{GROUP}"), "STOP", 20)
        .await
        .expect("group row");
    let lag: i64 = browser
        .text(&format!("#group-{GROUP} .lag"))
        .await
        .expect("lag cell")
        .trim()
        .parse()
        .expect("a number");
    assert!(
        lag >= stopped.total_lag,
        "the page shows the growing lag: {lag}"
    );
    let charts = browser
        .client
        .find_all(Locator::Css("#monitoring figure.chart"))
        .await
        .expect("charts");
    assert!(
        charts.len() >= 5,
        "bytes in/out, storage, brokers, messages and lag charts: {}",
        charts.len()
    );
    let drawn = browser
        .client
        .find_all(Locator::Css(
            "figure[data-series=messages_in_per_sec] svg path.line",
        ))
        .await
        .expect("line");
    assert_eq!(drawn.len(), 1, "the messages chart draws a line");
    let caption = browser
        .text("figure[data-series=messages_in_per_sec] .chart-last")
        .await
        .expect("caption");
    assert!(caption.contains("msg/s"), "{caption}");
    let shot = std::env::temp_dir().join(format!("tideway-monitoring-{}.png", std::process::id()));
    let panel = browser
        .client
        .find(Locator::Css("#monitoring"))
        .await
        .expect("panel");
    let png = panel.screenshot().await.expect("screenshot");
    std::fs::write(&shot, &png).expect("write screenshot");
    assert_eq!(&png[1..4], b"PNG");
    eprintln!("screenshot of the monitoring panel: {}", shot.display());
    browser
        .goto(&format!("{}/alerts", p.cp.url))
        .await
        .expect("alerts page");
    browser
        .wait_text("#alerts", "slow-readers", 10)
        .await
        .expect("alert listed");
    browser
        .goto(&format!("{}/admin/fleet", p.cp.url))
        .await
        .expect("fleet");
    browser
        .wait_text("#fleet-host-host-1", "online", 10)
        .await
        .expect("fleet host");
    browser
        .wait_text("#top-tenants", "team-mon", 10)
        .await
        .expect("tenant listed");
    drop(browser);

    // The tenant's own dashboard names the stopped group and its alert.
    admin
        .create_user(&CreateUser {
            username: "tina".into(),
            password: "tina-password".into(),
            display_name: None,
            platform_admin: false,
        })
        .await
        .expect("user");
    admin
        .put_member(tenant.id, "tina", &PutMember { role: Role::Viewer })
        .await
        .expect("member");
    let tina = e2e::browser::Browser::start().await.expect("browser");
    tina.login(&p.cp.url, "tina", "tina-password")
        .await
        .expect("login");
    let troubled = tina
        .wait_text(".troubled", GROUP, 10)
        .await
        .expect("troubled groups");
    assert!(troubled.contains("STOP"), "{troubled}");
    let firing = tina.text(".alerts").await.expect("alerts");
    assert!(firing.contains(GROUP), "{firing}");
    drop(tina);

    // A fast consumer catches up: OK again, and the alert resolves.
    stop_producing.store(true, Ordering::SeqCst);
    let sent = producer.await.expect("producer");
    let stop_fast = Arc::new(AtomicBool::new(false));
    let fast = consumer(bootstrap, Duration::ZERO, stop_fast.clone());
    let ok = until_status(&admin, cluster.id, LagStatus::Ok, 0).await;
    assert_eq!(ok.total_lag, 0, "{ok:?}");
    hook.until("consumer_stalled", "resolved").await;
    stop_fast.store(true, Ordering::SeqCst);
    let caught_up = fast.join().expect("fast consumer");
    assert_eq!(read + caught_up, sent, "every record was read once");
}

#[test]
fn the_shipped_prometheus_rules_pass_their_unit_tests() {
    let dir = helm_file("prometheus");
    for args in [
        &["check", "rules", "tideway-rules.yaml"][..],
        &["test", "rules", "tideway-rules.test.yaml"],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool is installed (apt-get install prometheus; ./tideway test does)");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
