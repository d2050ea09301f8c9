//! Health, metrics, Swagger UI, and the committed OpenAPI document staying in step.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use sqlx::PgPool;

/// The text a router answers on `/metrics`, with its status.
async fn scrape(app: &axum::Router, token: Option<&str>) -> (StatusCode, String) {
    let mut req = axum::http::Request::get("/metrics");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = tower::ServiceExt::oneshot(
        app.clone(),
        req.body(axum::body::Body::empty()).expect("request"),
    )
    .await
    .expect("infallible");
    let status = res.status();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8(bytes.to_vec()).expect("utf8"))
}

#[sqlx::test(migrations = "../migrations")]
async fn health_answers_anyone_but_metrics_only_an_admin_or_the_operations_listener(db: PgPool) {
    let t = start(db).await;
    assert_eq!(
        t.call(Method::GET, "/live", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.call(Method::GET, "/ready", None, None).await.status,
        StatusCode::OK
    );
    t.get("/api/v1/tenants", &t.admin).await;

    // On the main listener /metrics names every tenant's clusters: admins only.
    let anonymous = t.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(
        assert_problem(&anonymous, StatusCode::UNAUTHORIZED),
        "send Authorization: Bearer <token>"
    );
    let a_id = t.tenant("team-a", false, None).await;
    let ann = t.member(&a_id, "ann", "tenant-admin").await;
    assert_problem(&t.get("/metrics", &ann).await, StatusCode::FORBIDDEN);
    for (status, text) in [
        scrape(&t.app, Some(&t.admin)).await,
        scrape(&control_plane::http::ops_app(t.state.clone()), None).await,
    ] {
        assert_eq!(status, StatusCode::OK);
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/api/v1/tenants",status="200"}"#
            ),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("db_pool_connections"), "{text}");
    }
    let ops = control_plane::http::ops_app(t.state.clone());
    let (status, _) = {
        let req = axum::http::Request::get("/api/v1/tenants")
            .body(axum::body::Body::empty())
            .expect("request");
        let res = tower::ServiceExt::oneshot(ops, req)
            .await
            .expect("infallible");
        (res.status(), ())
    };
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the operations listener serves nothing else"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_routes_are_problems_and_docs_are_served(db: PgPool) {
    let t = start(db).await;
    assert_problem(
        &t.get("/api/v1/nothing-here", &t.admin).await,
        StatusCode::NOT_FOUND,
    );
    let spec = t.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["openapi"]
        .as_str()
        .expect("version")
        .starts_with("3.1"));
    assert!(spec.body["paths"]["/api/v1/clusters/{id}/approve"]["post"].is_object());
    let ui = t.call(Method::GET, "/api/docs/", None, None).await;
    assert_eq!(ui.status, StatusCode::OK);
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = control_plane::openapi::document_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; regenerate it with \
         `cargo run -p control-plane -- openapi openapi/openapi.json`"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn hosts_are_listed_for_admins_with_their_liveness(db: PgPool) {
    let t = start(db.clone()).await;
    // Agents register hosts from the agents issue on; until then rows are written directly.
    sqlx::query(
        "INSERT INTO hosts (id, name, address, hardware_profile, last_seen_at) VALUES
           (gen_random_uuid(), 'h1', '10.0.0.1', 'physical', now()),
           (gen_random_uuid(), 'h2', '10.0.0.2', 'virtual', now() - interval '10 minutes')",
    )
    .execute(&db)
    .await
    .expect("hosts");
    let hosts = t.get("/api/v1/hosts", &t.admin).await;
    assert_eq!(hosts.status, StatusCode::OK);
    let states: Vec<(String, String)> = hosts
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|h| {
            (
                h["name"].as_str().expect("name").into(),
                h["state"].as_str().expect("state").into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("h1".into(), "online".into()),
            ("h2".into(), "offline".into())
        ]
    );
}
