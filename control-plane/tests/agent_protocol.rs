//! The agent protocol on a real PostgreSQL: agent tokens issued and revoked by platform
//! admins, host registration, heartbeats, desired state, and hosts going offline.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use sqlx::PgPool;

fn registration(name: &str) -> Value {
    json!({
        "name": name, "address": "10.0.0.7", "hardware_profile": "virtual",
        "labels": {"rack": "r1"},
        "capacity": {"cpus": 8, "memory_bytes": 34359738368u64},
        "storage": [{"backend": "local-ssd", "total_bytes": 1000000000000u64, "free_bytes": 900000000000u64}],
        "port_range": {"first": 19000, "last": 19099},
        "agent_version": "0.1.0"
    })
}

async fn agent_token(t: &TestApp) -> (String, String) {
    named_agent_token(t, "rack-1").await
}

async fn named_agent_token(t: &TestApp, name: &str) -> (String, String) {
    let a = t
        .post("/api/v1/agent-tokens", &t.admin, json!({"name": name}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    (
        a.body["secret"].as_str().expect("secret").to_owned(),
        a.body["token"]["id"].as_str().expect("id").to_owned(),
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn an_agent_registers_heartbeats_and_fetches_its_desired_state(db: PgPool) {
    let t = start(db.clone()).await;
    let (secret, _) = agent_token(&t).await;

    let r = t
        .post("/agent/v1/register", &secret, registration("host-a"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let host = r.body["host_id"].as_str().expect("host id").to_owned();
    assert!(
        r.body["heartbeat_interval_secs"]
            .as_u64()
            .expect("interval")
            >= 1
    );

    let desired = t
        .get(&format!("/agent/v1/hosts/{host}/desired"), &secret)
        .await;
    assert_eq!(desired.body["generation"], 1);
    assert_eq!(
        desired.body["brokers"],
        json!([]),
        "nothing is placed on a new host"
    );
    let storage = json!([{"backend": "local-ssd", "total_bytes": 1000, "free_bytes": 400}]);
    let hb = t
        .post(
            &format!("/agent/v1/hosts/{host}/heartbeat"),
            &secret,
            json!({"observed_generation": 1, "storage": storage}),
        )
        .await;
    assert_eq!(hb.body["desired_generation"], 1);

    let hosts = t.get("/api/v1/hosts", &t.admin).await;
    let h = &hosts.body[0];
    assert_eq!(
        (h["name"].as_str(), h["state"].as_str()),
        (Some("host-a"), Some("online"))
    );
    assert_eq!(h["capacity"]["cpus"], 8);
    assert_eq!(
        h["storage"][0]["free_bytes"], 400,
        "the heartbeat updated storage"
    );
    assert_eq!(h["port_range"], json!({"first": 19000, "last": 19099}));
    assert_eq!(h["observed_generation"], 1);

    // Re-registering (an agent restart) keeps the host's id.
    let again = t
        .post("/agent/v1/register", &secret, registration("host-a"))
        .await;
    assert_eq!(again.body["host_id"].as_str(), Some(host.as_str()));
    let audit = t
        .get(&format!("/api/v1/audit?target_id={host}"), &t.admin)
        .await;
    let actions: Vec<_> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![json!("host.reregister"), json!("host.register")]
    );
    assert_eq!(audit.body["items"][1]["actor"], "agent:rack-1");

    // Silence makes the host offline.
    sqlx::query("UPDATE hosts SET last_seen_at = now() - interval '10 minutes'")
        .execute(&db)
        .await
        .expect("age");
    let hosts = t.get("/api/v1/hosts", &t.admin).await;
    assert_eq!(hosts.body[0]["state"], "offline");
}

#[sqlx::test(migrations = "../migrations")]
async fn agent_tokens_are_admin_only_separate_from_api_tokens_and_revocable(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let ann = t.member(&a_id, "ann", "tenant-admin").await;
    assert_problem(
        &t.post("/api/v1/agent-tokens", &ann, json!({"name": "x"}))
            .await,
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        &t.get("/api/v1/agent-tokens", &ann).await,
        StatusCode::FORBIDDEN,
    );
    let (secret, id) = agent_token(&t).await;

    // Each kind of token only opens its own door.
    let a = t
        .post("/agent/v1/register", &t.admin, registration("h"))
        .await;
    assert!(assert_problem(&a, StatusCode::UNAUTHORIZED).contains("agent token"));
    assert!(assert_problem(
        &t.get("/api/v1/me", &secret).await,
        StatusCode::UNAUTHORIZED
    )
    .contains("/agent/v1"));
    assert_problem(
        &t.call(
            Method::POST,
            "/agent/v1/register",
            None,
            Some(registration("h")),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    );

    let listed = t.get("/api/v1/agent-tokens", &t.admin).await;
    assert_eq!(listed.body[0]["name"], "rack-1");
    assert!(!listed.body.to_string().contains(&secret));
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/agent-tokens/{id}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_problem(
        &t.post("/agent/v1/register", &secret, registration("h"))
            .await,
        StatusCode::UNAUTHORIZED,
    );
    let missing = t
        .call(
            Method::DELETE,
            &format!("/api/v1/agent-tokens/{}", uuid::Uuid::new_v4()),
            Some(&t.admin),
            None,
        )
        .await;
    assert_problem(&missing, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_registrations_and_unknown_hosts_get_problems(db: PgPool) {
    let t = start(db).await;
    let (secret, _) = agent_token(&t).await;
    let mut bad = registration("bad host name");
    bad["port_range"] = json!({"first": 20000, "last": 19000});
    let a = t.post("/agent/v1/register", &secret, bad).await;
    assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = a.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, vec![json!("name"), json!("port_range")]);
    let unknown = uuid::Uuid::new_v4();
    let hb = t
        .post(
            &format!("/agent/v1/hosts/{unknown}/heartbeat"),
            &secret,
            json!({"observed_generation": null, "storage": []}),
        )
        .await;
    assert!(assert_problem(&hb, StatusCode::NOT_FOUND).contains("register again"));
    assert_problem(
        &t.get(&format!("/agent/v1/hosts/{unknown}/desired"), &secret)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_host_belongs_to_the_token_that_registered_it_until_that_token_is_revoked(db: PgPool) {
    let t = start(db).await;
    let (first, first_id) = named_agent_token(&t, "rack-1").await;
    let (second, _) = named_agent_token(&t, "rack-2").await;
    let r = t
        .post("/agent/v1/register", &first, registration("host-a"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let host = r.body["host_id"].as_str().expect("host id").to_owned();

    // Another token can neither take the name over nor speak for the host.
    let mut hijack = registration("host-a");
    hijack["address"] = json!("10.9.9.9");
    assert_eq!(
        assert_problem(
            &t.post("/agent/v1/register", &second, hijack.clone()).await,
            StatusCode::CONFLICT
        ),
        "host host-a is registered by another agent token; revoke that token first to move the host"
    );
    let not_yours = "host not found for this agent token; register again";
    assert_eq!(
        assert_problem(
            &t.get(&format!("/agent/v1/hosts/{host}/desired"), &second)
                .await,
            StatusCode::NOT_FOUND
        ),
        not_yours
    );
    let hb = json!({"observed_generation": 1, "storage": []});
    assert_eq!(
        assert_problem(
            &t.post(
                &format!("/agent/v1/hosts/{host}/heartbeat"),
                &second,
                hb.clone()
            )
            .await,
            StatusCode::NOT_FOUND
        ),
        not_yours
    );
    let hosts = t.get("/api/v1/hosts", &t.admin).await;
    assert_eq!(
        hosts.body[0]["address"], "10.0.0.7",
        "the hijack changed nothing"
    );

    // Revoking the first token frees the host at once: the first token is out, the host can
    // move to the second one and keeps its id.
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/agent-tokens/{first_id}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_problem(
        &t.post(
            &format!("/agent/v1/hosts/{host}/heartbeat"),
            &first,
            hb.clone(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    );
    let moved = t.post("/agent/v1/register", &second, hijack).await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    assert_eq!(moved.body["host_id"].as_str(), Some(host.as_str()));
    let ack = t
        .post(&format!("/agent/v1/hosts/{host}/heartbeat"), &second, hb)
        .await;
    assert_eq!(ack.status, StatusCode::OK, "{:?}", ack.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn host_labels_are_validated(db: PgPool) {
    let t = start(db).await;
    let (secret, _) = agent_token(&t).await;
    for labels in [
        json!({"rack": "r1\nsuper-users = [\"User:x\"]"}),
        json!({"": "x"}),
        json!({"zone": "a".repeat(64)}),
        json!({"k\"}": "v"}),
    ] {
        let mut bad = registration("host-l");
        bad["labels"] = labels.clone();
        let a = t.post("/agent/v1/register", &secret, bad).await;
        assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(a.body["errors"][0]["field"], "labels", "{labels}");
    }
    let mut fine = registration("host-l");
    fine["labels"] = json!({"topology.kubernetes.io/zone": "eu-1a", "empty": ""});
    let a = t.post("/agent/v1/register", &secret, fine).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}
