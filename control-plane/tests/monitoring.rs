//! Monitoring on a real Postgres: alert rules through the API (defaults, tenant
//! overrides, who may change them, bad thresholds), an alert's life from a silent host
//! (fires once, resolves, both queued for the webhook), the webhook's retry bookkeeping
//! against a port nothing listens on, and retention pruning.

mod common;

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use common::*;
use control_plane::{db, monitoring};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn rules_have_defaults_and_tenant_overrides(db: PgPool) {
    let t = start(db).await;
    let tenant = t.tenant("team-a", true, None).await;
    let admin_of_a = t.member(&tenant, "ada", "tenant-admin").await;
    let member_of_a = t.member(&tenant, "max", "member").await;
    let other = t.tenant("team-b", true, None).await;
    let admin_of_b = t.member(&other, "bob", "tenant-admin").await;

    let defaults = t.get("/api/v1/alert-rules", &member_of_a).await;
    assert_eq!(defaults.status, StatusCode::OK);
    let disk = defaults
        .body
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule"] == "disk_usage")
        .cloned()
        .expect("disk rule");
    assert_eq!(
        (disk["threshold"].as_f64(), disk["unit"].as_str()),
        (Some(85.0), Some("percent"))
    );

    let put = |token: &str, path: &str, body: serde_json::Value| {
        let (token, path) = (token.to_owned(), path.to_owned());
        let t = &t;
        async move { t.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    let own = format!("/api/v1/tenants/{tenant}/alert-rules/consumer_time_lag");
    let set = put(&admin_of_a, &own, json!({"enabled": true, "threshold": 30})).await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["tenant_id"], json!(tenant));
    let listed = t
        .get(
            &format!("/api/v1/tenants/{tenant}/alert-rules"),
            &member_of_a,
        )
        .await;
    let lag = listed
        .body
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule"] == "consumer_time_lag")
        .cloned()
        .expect("rule");
    assert_eq!(lag["threshold"], json!(30.0));
    // The platform default did not move.
    let defaults = t.get("/api/v1/alert-rules", &member_of_a).await;
    let lag = defaults
        .body
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule"] == "consumer_time_lag")
        .cloned()
        .expect("rule");
    assert_eq!(lag["threshold"], json!(300.0));

    assert_problem(
        &put(
            &member_of_a,
            &own,
            json!({"enabled": false, "threshold": 1}),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    // Another tenant's admin does not even learn that the tenant exists.
    assert_problem(
        &put(&admin_of_b, &own, json!({"enabled": false, "threshold": 1})).await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &put(
            &admin_of_a,
            "/api/v1/alert-rules/disk_usage",
            json!({"enabled": false, "threshold": 1}),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    let bad = put(
        &admin_of_a,
        &format!("/api/v1/tenants/{tenant}/alert-rules/disk_usage"),
        json!({"enabled": true, "threshold": -5}),
    )
    .await;
    assert!(
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY).contains("at least 0"),
        "{:?}",
        bad.body
    );
    let unknown = put(
        &admin_of_a,
        &format!("/api/v1/tenants/{tenant}/alert-rules/nope"),
        json!({"enabled": true, "threshold": 1}),
    )
    .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND);
    let typo = put(
        &admin_of_a,
        &own,
        json!({"enabled": true, "threshold": 1, "treshold": 2}),
    )
    .await;
    assert!(assert_problem(&typo, StatusCode::BAD_REQUEST).contains("treshold"));

    let platform = put(
        &t.admin,
        "/api/v1/alert-rules/disk_usage",
        json!({"enabled": true, "threshold": 90}),
    )
    .await;
    assert_eq!(platform.body["threshold"], json!(90.0));
    let reset = t.call(Method::DELETE, &own, Some(&admin_of_a), None).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let again = t.call(Method::DELETE, &own, Some(&admin_of_a), None).await;
    assert_problem(&again, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_silent_host_fires_once_resolves_and_both_reach_the_outbox(db: PgPool) {
    let t = start_with(
        db.clone(),
        &["--alert-webhook-url", "http://127.0.0.1:9/hook"],
    )
    .await;
    let host: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO hosts (id, name, address, hardware_profile, last_seen_at)
         VALUES (gen_random_uuid(), 'h1', '10.0.0.1', 'virtual', now() - interval '5 minutes') RETURNING id",
    )
    .fetch_one(&db)
    .await
    .expect("host");
    for _ in 0..2 {
        monitoring::alerts::evaluate(&t.state, &[])
            .await
            .expect("evaluate");
    }
    let fired = alerts_of(&t, "host_offline").await;
    assert_eq!(
        fired.len(),
        1,
        "one alert however often it is evaluated: {fired:?}"
    );
    assert_eq!(fired[0]["state"], "firing");
    assert_eq!(fired[0]["subject"], format!("host:{host}"));

    sqlx::query("UPDATE hosts SET last_seen_at = now() WHERE id = $1")
        .bind(host)
        .execute(&db)
        .await
        .expect("seen");
    monitoring::alerts::evaluate(&t.state, &[])
        .await
        .expect("evaluate");
    let alerts = t.get("/api/v1/alerts", &t.admin).await.body;
    assert_eq!(alerts[0]["state"], "resolved", "{alerts}");
    assert!(alerts[0]["resolved_at"].is_string());

    // Both transitions wait for the webhook; nothing listens on port 9.
    let due = db::alerts::due(&db, 10).await.expect("due");
    let states: Vec<_> = due
        .iter()
        .map(|n| n.payload["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["firing", "resolved"]);
    let http = monitoring::webhook::Webhooks::new(t.state.webhook_policy.clone()).expect("clients");
    let sent = monitoring::webhook::deliver_due(&t.state, &http)
        .await
        .expect("deliver");
    assert_eq!(sent, 0);
    let (attempts, next, error): (i32, chrono::DateTime<Utc>, Option<String>) = sqlx::query_as(
        "SELECT attempts, next_attempt_at, last_error FROM alert_notifications ORDER BY id LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .expect("notification");
    assert_eq!(attempts, 1);
    assert!(next > Utc::now(), "retried later, not now");
    assert!(error.is_some_and(|e| e.contains("could not be reached")));
    assert!(
        db::alerts::due(&db, 10).await.expect("due").is_empty(),
        "both wait for their backoff"
    );
    // The last attempt gives up.
    sqlx::query("UPDATE alert_notifications SET attempts = $1, next_attempt_at = now()")
        .bind(monitoring::webhook::MAX_ATTEMPTS - 1)
        .execute(&db)
        .await
        .expect("age");
    monitoring::webhook::deliver_due(&t.state, &http)
        .await
        .expect("deliver");
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_notifications WHERE failed_at IS NOT NULL")
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(failed, 2);
}

/// An app with team-a's approved cluster `orders`.
async fn app_with_cluster(db: PgPool) -> (TestApp, tideway_api::ClusterId) {
    let t = start(db).await;
    let tenant = t.tenant("team-a", true, None).await;
    let cluster = t.request_cluster(&t.admin, &tenant, "orders", 1, 1).await;
    assert_eq!(cluster.status, StatusCode::CREATED, "{:?}", cluster.body);
    let id = cluster.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("id");
    (t, id)
}

#[sqlx::test(migrations = "../migrations")]
async fn samples_older_than_the_retention_are_pruned(db: PgPool) {
    let (_t, id) = app_with_cluster(db.clone()).await;
    for age_days in [20, 1] {
        sqlx::query(
            "INSERT INTO topic_samples (cluster_id, at, topics, end_offsets)
             VALUES ($1, now() - make_interval(days => $2), '{t}', '{1}')",
        )
        .bind(id)
        .bind(age_days)
        .execute(&db)
        .await
        .expect("sample");
    }
    let gone = db::samples::prune(&db, Utc::now() - Duration::days(14))
        .await
        .expect("prune");
    assert_eq!(gone, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM topic_samples")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(left, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn lag_samples_come_back_per_partition(db: PgPool) {
    let (_t, id) = app_with_cluster(db.clone()).await;
    let first = Utc::now() - Duration::seconds(60);
    let second = Utc::now();
    let sample = |group: &str, partition: i32, at, committed| db::samples::LagSample {
        group_id: group.into(),
        topic: "team-a.events".into(),
        partition,
        at,
        committed,
        committed_at: at,
        end_offset: 100,
        next_record_at: (committed < 100).then_some(at),
    };
    for at in [first, second] {
        let committed = if at == first { 10 } else { 40 };
        let samples = vec![
            sample("team-a.billing", 0, at, committed),
            sample("team-a.billing", 1, at, 100),
            sample("team-b.audit", 0, at, 1),
        ];
        db::samples::record_lag(&db, id, &samples)
            .await
            .expect("record");
    }
    let mine = db::samples::lag_since(&db, id, "team-a.", first - Duration::seconds(1))
        .await
        .expect("since");
    let seen: Vec<_> = mine
        .iter()
        .map(|s| (s.partition, s.committed, s.next_record_at.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            (0, 10, true),
            (0, 40, true),
            (1, 100, false),
            (1, 100, false)
        ]
    );
    let latest = db::samples::latest_lag(&db, id).await.expect("latest");
    assert_eq!(latest.len(), 3);
    assert!(latest
        .iter()
        .all(|s| s.at.timestamp_micros() == second.timestamp_micros()));
    let totals = db::samples::group_lag_series(&db, id, "team-a.", first - Duration::seconds(1))
        .await
        .expect("series");
    let lags: Vec<i64> = totals.iter().map(|(_, _, lag)| *lag).collect();
    assert_eq!(lags, [90, 60]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_down_broker_is_judged_by_its_tenants_threshold(db: PgPool) {
    let t = start(db.clone()).await;
    let patient = t.tenant("patient", true, None).await;
    let eager = t.tenant("eager", true, None).await;
    let admin_of_patient = t.member(&patient, "pat", "tenant-admin").await;
    let set = t
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{patient}/alert-rules/broker_down"),
            Some(&admin_of_patient),
            Some(json!({"enabled": true, "threshold": 600})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    // Each tenant's broker was healthy five minutes ago and is down since.
    for (tenant, port) in [(&patient, 19092), (&eager, 19093)] {
        broker_down_for_five_minutes(&t, &db, tenant, port).await;
    }
    monitoring::alerts::evaluate(&t.state, &[])
        .await
        .expect("evaluate");
    let down: Vec<_> = alerts_of(&t, "broker_down")
        .await
        .iter()
        .map(|a| a["tenant_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        down,
        [eager],
        "300 s down: over the default 60 s, under the patient tenant's 600 s"
    );
}

/// The alerts of `rule` a platform admin sees, newest first.
async fn alerts_of(t: &TestApp, rule: &str) -> Vec<serde_json::Value> {
    let alerts = t.get("/api/v1/alerts", &t.admin).await.body;
    let all = alerts.as_array().expect("alerts");
    all.iter().filter(|a| a["rule"] == rule).cloned().collect()
}

/// A 1-broker cluster of `tenant` (on host h1, made if missing) whose broker was healthy
/// five minutes ago and is down since.
async fn broker_down_for_five_minutes(t: &TestApp, db: &PgPool, tenant: &str, port: i32) {
    sqlx::query(
        "INSERT INTO hosts (id, name, address, hardware_profile, last_seen_at)
         VALUES (gen_random_uuid(), 'h1', '10.0.0.1', 'virtual', now()) ON CONFLICT (name) DO NOTHING",
    )
    .execute(db)
    .await
    .expect("host");
    let cluster = t.request_cluster(&t.admin, tenant, "orders", 1, 1).await;
    assert_eq!(cluster.status, StatusCode::CREATED, "{:?}", cluster.body);
    let id: uuid::Uuid = cluster.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("id");
    sqlx::query(
        "INSERT INTO brokers (id, cluster_id, host_id, node_id, port, storage_backend, storage_bytes)
         SELECT gen_random_uuid(), $1, id, 1, $2, 'local-ssd', 1000 FROM hosts WHERE name = 'h1'",
    )
    .bind(id)
    .bind(port)
    .execute(db)
    .await
    .expect("broker");
    sqlx::query(
        "INSERT INTO broker_samples (cluster_id, node_id, at, healthy)
         VALUES ($1, 1, now() - interval '5 minutes', true), ($1, 1, now(), false)",
    )
    .bind(id)
    .execute(db)
    .await
    .expect("samples");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tenants_alerts_reach_its_own_signed_webhook(db: PgPool) {
    // The receiver runs on loopback, which the operator allows here.
    let t = start_with(db.clone(), &["--webhook-allowed-networks", "127.0.0.1/32"]).await;
    let tenant = t.tenant("team-a", true, None).await;
    let admin_of_a = t.member(&tenant, "ada", "tenant-admin").await;
    let member_of_a = t.member(&tenant, "max", "member").await;
    let other = t.tenant("team-b", true, None).await;
    let admin_of_b = t.member(&other, "bob", "tenant-admin").await;

    // A receiver that keeps what it got, with the signature header.
    type Received = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Vec<u8>)>>>;
    let got: Received = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let signature = headers
                        .get("x-tideway-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    keep.lock().expect("lock").push((signature, body.to_vec()));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let path = format!("/api/v1/tenants/{tenant}/alert-webhook");
    let put = |token: &str, body: serde_json::Value| {
        let (token, path) = (token.to_owned(), path.clone());
        let t = &t;
        async move { t.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    let secret = "a-secret-of-the-tenant";
    let bad = put(
        &admin_of_a,
        json!({"url": "ftp://example.com/x", "secret": "short"}),
    )
    .await;
    let detail = format!("{:?}", bad.body);
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        detail.contains("url") && detail.contains("secret"),
        "{detail}"
    );
    assert_problem(
        &put(&member_of_a, json!({"url": url})).await,
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        &put(&admin_of_b, json!({"url": url})).await,
        StatusCode::NOT_FOUND,
    );
    let set = put(&admin_of_a, json!({"url": url, "secret": secret})).await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    let shown = t.get(&path, &member_of_a).await;
    assert_eq!(
        shown.body,
        json!({"url": url, "signed": true}),
        "the secret is never shown"
    );

    broker_down_for_five_minutes(&t, &db, &tenant, 19092).await;
    monitoring::alerts::evaluate(&t.state, &[])
        .await
        .expect("evaluate");
    let http = monitoring::webhook::Webhooks::new(t.state.webhook_policy.clone()).expect("clients");
    let sent = monitoring::webhook::deliver_due(&t.state, &http)
        .await
        .expect("deliver");
    assert_eq!(sent, 1);
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    let (signature, body) = &got[0];
    assert_eq!(
        signature.as_deref(),
        Some(monitoring::webhook::signature(secret, body).as_str())
    );
    let alert: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!(
        (alert["rule"].as_str(), alert["state"].as_str()),
        (Some("broker_down"), Some("firing"))
    );
    assert_eq!(alert["tenant_id"], json!(tenant));

    let removed = t.call(Method::DELETE, &path, Some(&admin_of_a), None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_problem(&t.get(&path, &member_of_a).await, StatusCode::NOT_FOUND);
}

/// Delivers what is due, which must reach nobody; the tenant's notification's last error.
async fn deliver_nothing(t: &TestApp, tenant: &str) -> Option<String> {
    let hooks =
        monitoring::webhook::Webhooks::new(t.state.webhook_policy.clone()).expect("clients");
    let sent = monitoring::webhook::deliver_due(&t.state, &hooks)
        .await
        .expect("deliver");
    assert_eq!(sent, 0);
    sqlx::query_scalar("SELECT last_error FROM alert_notifications WHERE tenant_id = $1")
        .bind(tenant.parse::<uuid::Uuid>().expect("id"))
        .fetch_one(&t.state.db)
        .await
        .expect("notification")
}

#[sqlx::test(migrations = "../migrations")]
async fn tenant_webhooks_cannot_reach_internal_addresses_or_follow_redirects(db: PgPool) {
    let t = start(db.clone()).await;
    let tenant = t.tenant("team-a", true, None).await;
    let admin_of_a = t.member(&tenant, "ada", "tenant-admin").await;
    let path = format!("/api/v1/tenants/{tenant}/alert-webhook");
    for (url, shown) in [
        ("http://127.0.0.1:8080/api/v1/tenants", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://[::1]:9/hook", "[::1]"),
        ("http://10.0.0.5/hook", "10.0.0.5"),
        ("http://localhost:9/hook", "localhost"),
    ] {
        let a = t
            .call(
                Method::PUT,
                &path,
                Some(&admin_of_a),
                Some(json!({"url": url})),
            )
            .await;
        let detail = assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            detail.starts_with(&format!("url: {shown} is "))
                && detail.ends_with(
                    ", an internal address; webhooks must reach the outside world \
                 (an operator can allow the network with --webhook-allowed-networks)"
                ),
            "{url}: {detail}"
        );
    }

    // A name that points inside by the time of delivery is refused then too, and a
    // receiver's redirect is not followed.
    let reached: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
    let count = reached.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|| async {
                (StatusCode::TEMPORARY_REDIRECT, [("location", "/inside")])
            }),
        )
        .route(
            "/inside",
            axum::routing::post(move || {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { StatusCode::OK }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    sqlx::query("INSERT INTO tenant_alert_webhooks (tenant_id, url) VALUES ($1, $2)")
        .bind(tenant.parse::<uuid::Uuid>().expect("id"))
        .bind(format!("http://localhost:{port}/hook"))
        .execute(&db)
        .await
        .expect("a webhook whose name now points inside");
    broker_down_for_five_minutes(&t, &db, &tenant, 19092).await;
    monitoring::alerts::evaluate(&t.state, &[])
        .await
        .expect("evaluate");
    let error = deliver_nothing(&t, &tenant).await;
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("localhost is ") && e.contains(", an internal address")),
        "{error:?}"
    );

    // Allowed on loopback, the receiver redirects; the redirect is reported, not followed.
    let allowed = start_with(db.clone(), &["--webhook-allowed-networks", "127.0.0.0/8"]).await;
    sqlx::query("UPDATE alert_notifications SET next_attempt_at = now()")
        .execute(&db)
        .await
        .expect("due again");
    let error = deliver_nothing(&allowed, &tenant).await;
    assert_eq!(
        error.as_deref(),
        Some("the webhook answered 307 Temporary Redirect")
    );
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
}
