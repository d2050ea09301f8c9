//! Cluster requests, approvals, quotas (with races) and validation through the real router.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use sqlx::PgPool;

fn actions(audit: &Value) -> Vec<String> {
    audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_request_waits_for_an_admin_who_approves_it(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let max = t.member(&a_id, "max", "member").await;

    let c = t.request_cluster(&max, &a_id, "orders", 3, 100).await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    let id = c.body["id"].as_str().expect("id").to_owned();
    assert_eq!(c.body["approval"]["state"], "pending");
    assert_eq!(c.body["status"]["phase"], "PendingApproval");
    assert_eq!(c.body["generation"], 1);
    assert_eq!(c.body["requested_by"], "user:max");

    // The member cannot approve; the queue shows the request to the admin.
    assert_problem(
        &t.decide(&max, &id, "approve", json!({})).await,
        StatusCode::FORBIDDEN,
    );
    let queue = t.get("/api/v1/clusters?approval=pending", &t.admin).await;
    assert_eq!(queue.body["total"], 1);
    assert_eq!(queue.body["items"][0]["id"], id.as_str());

    let ok = t
        .decide(
            &t.admin,
            &id,
            "approve",
            json!({"reason": "capacity is there"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["approval"]["state"], "approved");
    assert_eq!(ok.body["approval"]["decided_by"], "user:admin");
    assert_eq!(ok.body["approval"]["reason"], "capacity is there");
    assert_eq!(ok.body["status"]["phase"], "Provisioning");
    let seen = t.get(&format!("/api/v1/clusters/{id}"), &max).await;
    assert_eq!(seen.body["approval"]["state"], "approved");

    // Decisions are final.
    let again = t.decide(&t.admin, &id, "approve", json!({})).await;
    assert!(assert_problem(&again, StatusCode::CONFLICT).contains("already approved"));
    let reject = t
        .decide(&t.admin, &id, "reject", json!({"reason": "no"}))
        .await;
    assert_problem(&reject, StatusCode::CONFLICT);

    let audit = t
        .get(&format!("/api/v1/audit?target_id={id}"), &t.admin)
        .await;
    assert_eq!(
        actions(&audit.body),
        vec!["cluster.approve", "cluster.create"]
    );
    let approve = &audit.body["items"][0];
    assert_eq!(approve["actor"], "user:admin");
    assert_eq!(approve["before"]["approval"]["state"], "pending");
    assert_eq!(approve["after"]["approval"]["state"], "approved");
    assert!(approve["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rejection_needs_a_reason_and_is_shown_to_the_tenant(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let max = t.member(&a_id, "max", "member").await;
    let id = t.request_cluster(&max, &a_id, "orders", 1, 10).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let a = t
        .decide(&t.admin, &id, "reject", json!({"reason": "  "}))
        .await;
    assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.body["errors"][0]["field"], "reason");
    let a = t
        .decide(
            &t.admin,
            &id,
            "reject",
            json!({"reason": "use the shared cluster"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let seen = t.get(&format!("/api/v1/clusters/{id}"), &max).await;
    assert_eq!(seen.body["approval"]["state"], "rejected");
    assert_eq!(seen.body["status"]["phase"], "Rejected");
    assert_eq!(
        seen.body["status"]["conditions"][0]["message"],
        "use the shared cluster"
    );
    let patch = t
        .call(
            Method::PATCH,
            &format!("/api/v1/clusters/{id}"),
            Some(&max),
            Some(json!({"storage_gib": 20})),
        )
        .await;
    assert_problem(&patch, StatusCode::CONFLICT);
}

#[sqlx::test(migrations = "../migrations")]
async fn auto_approval_holds_within_quota_and_beyond_it_waits(db: PgPool) {
    let t = start(db).await;
    let quota = json!({"max_clusters": 2, "max_brokers": 4, "max_storage_bytes": 400u64 << 30, "max_partitions": 100,
                       "max_produce_bytes_per_sec": 1000, "max_consume_bytes_per_sec": 1000});
    let a_id = t.tenant("team-a", true, Some(quota.clone())).await;
    let max = t.member(&a_id, "max", "member").await;

    let first = t.request_cluster(&max, &a_id, "first", 3, 100).await;
    assert_eq!(
        first.body["approval"]["state"], "approved",
        "{:?}",
        first.body
    );
    assert_eq!(first.body["approval"]["decided_by"], "auto");
    let second = t.request_cluster(&max, &a_id, "second", 3, 100).await;
    assert_eq!(second.body["approval"]["state"], "pending");
    let reason = second.body["approval"]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("brokers: 3 in use + 3 requested > 4 allowed"),
        "{reason}"
    );

    let report = t.get(&format!("/api/v1/tenants/{a_id}/quota"), &max).await;
    assert_eq!(
        report.body["usage"],
        json!({"clusters": 1, "brokers": 3, "storage_bytes": 300u64 << 30, "partitions": 0})
    );

    // The admin cannot approve past the quota, only after raising it.
    let id = second.body["id"].as_str().expect("id");
    let a = t.decide(&t.admin, id, "approve", json!({})).await;
    assert!(assert_problem(&a, StatusCode::CONFLICT).contains("raise the quota first"));
    let mut bigger = quota.clone();
    bigger["max_brokers"] = json!(6);
    bigger["max_storage_bytes"] = json!(600u64 << 30);
    let a = t
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{a_id}/quota"),
            Some(&max),
            Some(bigger.clone()),
        )
        .await;
    assert_problem(&a, StatusCode::FORBIDDEN);
    let a = t
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{a_id}/quota"),
            Some(&t.admin),
            Some(bigger),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = t.decide(&t.admin, id, "approve", json!({})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let audit = t
        .get(
            &format!("/api/v1/audit?tenant_id={a_id}&action=quota.update"),
            &t.admin,
        )
        .await;
    assert_eq!(audit.body["items"][0]["before"]["max_brokers"], 4);
    assert_eq!(audit.body["items"][0]["after"]["max_brokers"], 6);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_requests_cannot_both_squeeze_under_the_quota(db: PgPool) {
    let t = start(db).await;
    let quota = json!({"max_clusters": 1, "max_brokers": 10, "max_storage_bytes": 1u64 << 40, "max_partitions": 100,
                       "max_produce_bytes_per_sec": 1000, "max_consume_bytes_per_sec": 1000});
    let a_id = t.tenant("team-a", true, Some(quota)).await;
    let max = t.member(&a_id, "max", "member").await;

    let names: Vec<String> = (0..8).map(|i| format!("race-{i}")).collect();
    let answers = futures::future::join_all(
        names
            .iter()
            .map(|n| t.request_cluster(&max, &a_id, n, 1, 10)),
    )
    .await;
    let states: Vec<_> = answers
        .iter()
        .map(|a| {
            a.body["approval"]["state"]
                .as_str()
                .expect("state")
                .to_owned()
        })
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "approved").count(),
        1,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| *s == "pending").count(),
        7,
        "{states:?}"
    );

    // Concurrent approvals of the pending ones: the quota (raised by one) admits exactly one.
    let mut q = t
        .get(&format!("/api/v1/tenants/{a_id}/quota"), &t.admin)
        .await
        .body["quota"]
        .clone();
    q["max_clusters"] = json!(2);
    t.call(
        Method::PUT,
        &format!("/api/v1/tenants/{a_id}/quota"),
        Some(&t.admin),
        Some(q),
    )
    .await;
    let pending: Vec<String> = answers
        .iter()
        .filter(|a| a.body["approval"]["state"] == "pending")
        .map(|a| a.body["id"].as_str().expect("id").to_owned())
        .collect();
    let decisions = futures::future::join_all(
        pending
            .iter()
            .map(|id| t.decide(&t.admin, id, "approve", json!({}))),
    )
    .await;
    let ok = decisions
        .iter()
        .filter(|d| d.status == StatusCode::OK)
        .count();
    let conflicts = decisions
        .iter()
        .filter(|d| d.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 6));
    let report = t
        .get(&format!("/api/v1/tenants/{a_id}/quota"), &t.admin)
        .await;
    assert_eq!(report.body["usage"]["clusters"], 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn spec_updates_bump_the_generation_and_respect_volumes_and_quota(db: PgPool) {
    let t = start(db).await;
    let quota = json!({"max_clusters": 3, "max_brokers": 4, "max_storage_bytes": 1u64 << 40, "max_partitions": 100,
                       "max_produce_bytes_per_sec": 1000, "max_consume_bytes_per_sec": 1000});
    let a_id = t.tenant("team-a", true, Some(quota)).await;
    let max = t.member(&a_id, "max", "member").await;
    let id = t.request_cluster(&max, &a_id, "orders", 3, 100).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/clusters/{id}");
    let patch = |body: Value| t.call(Method::PATCH, &path, Some(&max), Some(body));

    let defaults = json!({"topic_defaults": {"partitions": 6, "replication_factor": 3, "retention_ms": 3600000}});
    let a = patch(defaults.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        (
            a.body["generation"].clone(),
            a.body["spec"]["topic_defaults"]["partitions"].clone()
        ),
        (json!(2), json!(6))
    );
    let same = patch(defaults).await;
    assert_eq!(
        same.body["generation"], 2,
        "a change to nothing is not a new generation"
    );

    let shrink = patch(json!({"storage_gib": 50})).await;
    assert!(assert_problem(&shrink, StatusCode::UNPROCESSABLE_ENTITY).contains("cannot shrink"));
    let grow = patch(json!({"broker_count": 5})).await;
    assert!(assert_problem(&grow, StatusCode::CONFLICT)
        .contains("brokers: 3 in use + 2 requested > 4 allowed"));
    // Within quota, but the control plane cannot scale or resize a running cluster yet: it
    // says so rather than accepting a change it would leave undone.
    for (body, what) in [
        (json!({"broker_count": 4}), "the broker count (scaling)"),
        (
            json!({"storage_gib": 200}),
            "the storage size (growing volumes)",
        ),
        (
            json!({"auto_create_topics": true}),
            "auto_create_topics (reconfiguring brokers)",
        ),
    ] {
        assert_eq!(
            assert_problem(&patch(body).await, StatusCode::CONFLICT),
            format!(
                "the control plane cannot change {what} of a running cluster yet; \
                 only topic_defaults can change after approval"
            )
        );
    }
    let seen = t.get(&path, &max).await;
    assert_eq!(
        (
            seen.body["generation"].clone(),
            seen.body["spec"]["broker_count"].clone()
        ),
        (json!(2), json!(3)),
        "refused changes leave the spec and its generation alone"
    );

    // A request still waiting for approval may change anything.
    let pending = t.request_cluster(&max, &a_id, "later", 3, 100).await;
    assert_eq!(
        pending.body["approval"]["state"], "pending",
        "{:?}",
        pending.body
    );
    let later = pending.body["id"].as_str().expect("id");
    let a = t
        .call(
            Method::PATCH,
            &format!("/api/v1/clusters/{later}"),
            Some(&max),
            Some(json!({"broker_count": 1, "storage_gib": 300})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["generation"], 2);

    let audit = t
        .get(
            &format!("/api/v1/audit?target_id={id}&action=cluster.update"),
            &t.admin,
        )
        .await;
    assert_eq!(
        audit.body["total"], 1,
        "only the change that was made is audited"
    );

    let del = t.call(Method::DELETE, &path, Some(&max), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_problem(&t.get(&path, &max).await, StatusCode::NOT_FOUND);
    let report = t.get(&format!("/api/v1/tenants/{a_id}/quota"), &max).await;
    assert_eq!(report.body["usage"]["brokers"], 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_gets_problems_that_name_the_field(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let max = t.member(&a_id, "max", "member").await;

    let mut body = cluster_body(&a_id, "Bad_Name", 0, 0);
    body["spec"]["topic_defaults"]["replication_factor"] = json!(3);
    let a = t.post("/api/v1/clusters", &max, body).await;
    assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = a.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("f").to_owned())
        .collect();
    assert_eq!(
        fields,
        vec![
            "name",
            "spec.broker_count",
            "spec.storage_gib",
            "spec.topic_defaults.replication_factor"
        ]
    );

    let mut body = cluster_body(&a_id, "orders", 1, 10);
    body["spec"]["storage_backend"] = json!("floppy");
    let detail = assert_problem(
        &t.post("/api/v1/clusters", &max, body).await,
        StatusCode::BAD_REQUEST,
    );
    assert!(detail.contains("floppy"), "{detail}");

    let mut body = cluster_body(&a_id, "orders", 1, 10);
    body["colour"] = json!("blue");
    assert!(assert_problem(
        &t.post("/api/v1/clusters", &max, body).await,
        StatusCode::BAD_REQUEST
    )
    .contains("colour"));

    let raw = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/clusters")
        .header("authorization", format!("Bearer {max}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .expect("request");
    assert_problem(&t.send(raw).await, StatusCode::BAD_REQUEST);
    assert_problem(
        &t.get("/api/v1/clusters/not-a-uuid", &max).await,
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        &t.get("/api/v1/clusters?limit=0", &max).await,
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        &t.get("/api/v1/clusters?approval=maybe", &max).await,
        StatusCode::BAD_REQUEST,
    );

    let ok = t.request_cluster(&max, &a_id, "orders", 1, 10).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let dup = t.request_cluster(&max, &a_id, "orders", 1, 10).await;
    assert!(assert_problem(&dup, StatusCode::CONFLICT).contains("already has a cluster named"));
    let dup = t
        .post("/api/v1/tenants", &t.admin, json!({"name": "team-a"}))
        .await;
    assert_problem(&dup, StatusCode::CONFLICT);
    let shared = json!({"tenant_id": a_id, "name": "slice", "kind": "shared",
        "spec": {"broker_count": 3, "storage_backend": "nfs", "storage_gib": 5, "hardware_profile": "physical"}});
    let a = t.post("/api/v1/clusters", &max, shared).await;
    assert!(
        assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY).contains("leave the broker count out")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn lists_page_and_filter(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let b_id = t.tenant("team-b", false, None).await;
    for i in 0..5 {
        t.request_cluster(&t.admin, &a_id, &format!("a-{i}"), 1, 1)
            .await;
    }
    t.request_cluster(&t.admin, &b_id, "b-0", 1, 1).await;
    let page = t.get("/api/v1/clusters?limit=2&offset=2", &t.admin).await;
    assert_eq!(page.body["total"], 6);
    let names: Vec<_> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("a-2"), json!("a-3")]);
    let only_b = t
        .get(&format!("/api/v1/clusters?tenant_id={b_id}"), &t.admin)
        .await;
    assert_eq!(only_b.body["total"], 1);
    let by_name = t.get("/api/v1/clusters?name=-4", &t.admin).await;
    assert_eq!(by_name.body["items"][0]["name"], "a-4");
    assert_eq!(by_name.body["total"], 1);
}
