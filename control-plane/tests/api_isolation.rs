//! Tenant isolation: every tenant-scoped route called by a member of tenant A with tenant
//! B's ids answers 404, never 403 or data; the same calls on A's own ids succeed.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use sqlx::PgPool;

struct Ids {
    tenant: String,
    cluster: String,
    token: String,
}

async fn setup_tenant(t: &TestApp, name: &str) -> Ids {
    let tenant = t.tenant(name, false, None).await;
    let cluster = t
        .request_cluster(&t.admin, &tenant, "main", 1, 10)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let token = t
        .post(
            "/api/v1/tokens",
            &t.admin,
            json!({"name": "bot", "tenant_id": tenant, "role": "viewer"}),
        )
        .await
        .body["token"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    Ids {
        tenant,
        cluster,
        token,
    }
}

/// Every tenant-scoped call, aimed at `ids`; `member` is a member of that tenant.
fn calls(ids: &Ids, member: &str) -> Vec<(Method, String, Option<Value>)> {
    let (t, c, k) = (&ids.tenant, &ids.cluster, &ids.token);
    vec![
        (Method::GET, format!("/api/v1/tenants/{t}"), None),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{t}"),
            Some(json!({"display_name": "x"})),
        ),
        (Method::GET, format!("/api/v1/tenants/{t}/members"), None),
        (
            Method::PUT,
            format!("/api/v1/tenants/{t}/members/intruder"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{t}/members/{member}"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{t}/quota"), None),
        (
            Method::PUT,
            format!("/api/v1/tenants/{t}/quota"),
            Some(serde_json::to_value(tideway_api::tenants::Quota::default()).expect("json")),
        ),
        (Method::GET, format!("/api/v1/clusters?tenant_id={t}"), None),
        (
            Method::POST,
            "/api/v1/clusters".into(),
            Some(cluster_body(t, "sneaky", 1, 1)),
        ),
        (Method::GET, format!("/api/v1/clusters/{c}"), None),
        (
            Method::PATCH,
            format!("/api/v1/clusters/{c}"),
            Some(json!({"storage_gib": 11})),
        ),
        (
            Method::POST,
            format!("/api/v1/clusters/{c}/approve"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/clusters/{c}/reject"),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({"name": "x", "tenant_id": t, "role": "viewer"})),
        ),
        (Method::DELETE, format!("/api/v1/tokens/{k}"), None),
        (Method::GET, format!("/api/v1/audit?tenant_id={t}"), None),
        (Method::DELETE, format!("/api/v1/clusters/{c}"), None),
    ]
}

#[sqlx::test(migrations = "../migrations")]
async fn another_tenants_resources_answer_404_on_every_route(db: PgPool) {
    let t = start(db).await;
    let a = setup_tenant(&t, "team-a").await;
    let b = setup_tenant(&t, "team-b").await;
    t.member(&b.tenant, "bob", "member").await;
    let ann = t.member(&a.tenant, "ann", "tenant-admin").await;

    for (method, path, body) in calls(&b, "bob") {
        let answer = t.call(method.clone(), &path, Some(&ann), body).await;
        assert_problem(&answer, StatusCode::NOT_FOUND);
        assert!(
            !answer.body.to_string().contains("team-b"),
            "{method} {path} leaked: {:?}",
            answer.body
        );
    }
    // Nothing of B's changed.
    let cluster = t
        .get(&format!("/api/v1/clusters/{}", b.cluster), &t.admin)
        .await;
    assert_eq!(
        (cluster.status, cluster.body["generation"].clone()),
        (StatusCode::OK, json!(1))
    );
    let members = t
        .get(&format!("/api/v1/tenants/{}/members", b.tenant), &t.admin)
        .await;
    assert_eq!(members.body.as_array().expect("list").len(), 1);

    // The same routes on A's own ids are not 404 (they succeed, or are refused for role).
    for (method, path, body) in calls(&a, "intruder") {
        let answer = t.call(method.clone(), &path, Some(&ann), body).await;
        assert_ne!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:?}",
            answer.body
        );
    }

    // Lists show only A's things.
    let tenants = t.get("/api/v1/tenants", &ann).await;
    assert_eq!(tenants.body.as_array().expect("list").len(), 1);
    let audit = t.get("/api/v1/audit", &ann).await;
    assert!(audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|e| e["tenant_id"] == a.tenant.as_str()));
    let tokens = t.get("/api/v1/tokens", &ann).await;
    assert!(tokens
        .body
        .as_array()
        .expect("list")
        .iter()
        .all(|k| k["tenant_id"] == a.tenant.as_str()));
}

#[sqlx::test(migrations = "../migrations")]
async fn viewers_read_but_cannot_change(db: PgPool) {
    let t = start(db).await;
    let a = setup_tenant(&t, "team-a").await;
    let vic = t.member(&a.tenant, "vic", "viewer").await;
    assert_eq!(
        t.get(&format!("/api/v1/clusters/{}", a.cluster), &vic)
            .await
            .status,
        StatusCode::OK
    );
    let patch = t
        .call(
            Method::PATCH,
            &format!("/api/v1/clusters/{}", a.cluster),
            Some(&vic),
            Some(json!({"storage_gib": 20})),
        )
        .await;
    assert_problem(&patch, StatusCode::FORBIDDEN);
    assert_problem(
        &t.request_cluster(&vic, &a.tenant, "more", 1, 1).await,
        StatusCode::FORBIDDEN,
    );
    assert_problem(&t.get("/api/v1/audit", &vic).await, StatusCode::FORBIDDEN);
    assert_problem(&t.get("/api/v1/hosts", &vic).await, StatusCode::FORBIDDEN);
}
