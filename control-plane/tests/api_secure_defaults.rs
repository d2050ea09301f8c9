//! Secure by default, on a real PostgreSQL: a cluster requested without `security` is
//! sasl-ssl, shared clusters (and slices) cannot be plaintext, and tenants cannot take the
//! control plane's own Kafka principal.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn clusters_are_sasl_ssl_unless_a_dedicated_one_asks_for_plaintext(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", true, None).await;
    let max = t.member(&a_id, "max", "member").await;

    let plain_body = cluster_body(&a_id, "orders", 1, 1);
    assert!(plain_body["spec"].get("security").is_none());
    let a = t.post("/api/v1/clusters", &max, plain_body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(a.body["spec"]["security"], "sasl-ssl");

    let mut asks = cluster_body(&a_id, "trial", 1, 1);
    asks["spec"]["security"] = json!("plaintext");
    let a = t.post("/api/v1/clusters", &max, asks).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(a.body["spec"]["security"], "plaintext");

    let refused = "spec.security: a shared cluster serves several tenants, so it must be sasl-ssl; only a dedicated cluster may be plaintext";
    let platform = t.tenant("platform", true, None).await;
    let mut shared = cluster_body(&platform, "shared-1", 1, 1);
    shared["kind"] = json!("shared");
    shared["spec"]["security"] = json!("plaintext");
    let a = t.post("/api/v1/clusters", &t.admin, shared).await;
    assert_eq!(
        assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY),
        refused
    );
    assert_eq!(a.body["errors"][0]["field"], "spec.security");
    let slice = json!({"tenant_id": a_id, "name": "slice", "kind": "shared", "spec": {
        "storage_backend": "local-ssd", "storage_gib": 1, "hardware_profile": "virtual",
        "security": "plaintext"}});
    let a = t.post("/api/v1/clusters", &max, slice).await;
    assert_eq!(
        assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY),
        refused
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn tenants_cannot_take_the_control_planes_kafka_principal(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", true, None).await;
    let max = t.member(&a_id, "max", "member").await;
    let id = t.request_cluster(&max, &a_id, "orders", 1, 1).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/clusters/{id}/kafka-users");
    let a = t.post(&path, &max, json!({"name": "tideway-admin"})).await;
    assert_eq!(
        assert_problem(&a, StatusCode::CONFLICT),
        "\"tideway-admin\" is the control plane's own super user on every secured cluster; choose another name"
    );
    let a = t.post(&path, &max, json!({"name": "tideway-canary"})).await;
    assert_eq!(
        assert_problem(&a, StatusCode::CONFLICT),
        "names starting with \"tideway-\" are reserved for the platform; choose another name"
    );
    let audit = t
        .get("/api/v1/audit?action=kafka_user.create", &t.admin)
        .await;
    assert_eq!(audit.body["total"], 0, "nothing was created");
}
