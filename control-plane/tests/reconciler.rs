//! The reconciler on a real PostgreSQL: placement into the hosts' desired state, the
//! reasons shown when a cluster cannot be placed, health from heartbeats and the canary,
//! and deletion handing the host a desired state without the broker.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use control_plane::reconciler::{reconcile_once, Memory};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn host(t: &TestApp, name: &str, free_gib: u64) -> (String, String) {
    let token = t
        .post("/api/v1/agent-tokens", &t.admin, json!({"name": name}))
        .await
        .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let r = t
        .post("/agent/v1/register", &token, json!({
            "name": name, "address": "127.0.0.1", "hardware_profile": "virtual", "labels": {},
            "capacity": {"cpus": 2, "memory_bytes": 1}, "port_range": {"first": 1, "last": 2},
            "storage": [{"backend": "local-ssd", "total_bytes": free_gib << 30, "free_bytes": free_gib << 30}],
            "agent_version": "test"
        }))
        .await;
    (token, r.body["host_id"].as_str().expect("host").to_owned())
}

async fn status(t: &TestApp, id: &str) -> Value {
    t.get(&format!("/api/v1/clusters/{id}"), &t.admin)
        .await
        .body
}

#[sqlx::test(migrations = "../migrations")]
async fn clusters_are_placed_assessed_and_released(db: PgPool) {
    let t = start_with(db, &["--canary-timeout", "1s"]).await;
    let mut memory = Memory::default();
    let tenant = t.tenant("team-a", true, None).await;
    let (token, host_id) = host(&t, "h1", 50).await;

    let id = t
        .request_cluster(&t.admin, &tenant, "one", 1, 10)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let big = t
        .request_cluster(&t.admin, &tenant, "big", 1, 100)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let multi = t
        .request_cluster(&t.admin, &tenant, "multi", 3, 1)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    reconcile_once(&t.state, &mut memory).await.expect("pass");

    let one = status(&t, &id).await;
    assert_eq!(
        one["status"]["conditions"][0]["reason"], "Starting",
        "{one}"
    );
    assert!(one["status"]["conditions"][0]["message"]
        .as_str()
        .expect("m")
        .contains("h1:1"));
    assert_eq!(one["bootstrap_servers"], "127.0.0.1:1");
    assert_eq!(one["brokers"][0]["healthy"], false);
    assert_eq!(
        one["status"]["observed_generation"],
        serde_json::Value::Null,
        "no generation is observed before the cluster is Ready"
    );
    let big = status(&t, &big).await;
    assert_eq!(big["status"]["conditions"][0]["reason"], "Unschedulable");
    assert!(
        big["status"]["conditions"][0]["message"]
            .as_str()
            .expect("m")
            .contains("100 GiB free"),
        "{big}"
    );
    // Brokers of one cluster need distinct hosts; this platform has one.
    let multi = status(&t, &multi).await;
    assert_eq!(multi["status"]["conditions"][0]["reason"], "Unschedulable");
    let why = multi["status"]["conditions"][0]["message"]
        .as_str()
        .expect("m");
    assert!(
        why.contains("distinct hosts") || why.contains("free port"),
        "{why}"
    );

    let desired = t
        .get(&format!("/agent/v1/hosts/{host_id}/desired"), &token)
        .await;
    assert_eq!(
        desired.body["generation"], 2,
        "placing a broker bumps the host's generation"
    );
    let broker = desired.body["brokers"][0].clone();
    assert!(broker.is_object(), "{}", desired.body);
    assert_eq!(
        (broker["node_id"].clone(), broker["port"].clone()),
        (json!(1), json!(1))
    );
    // Another pass places nothing more.
    reconcile_once(&t.state, &mut memory).await.expect("pass");
    let again = t
        .get(&format!("/agent/v1/hosts/{host_id}/desired"), &token)
        .await;
    assert_eq!(
        (
            again.body["generation"].clone(),
            again.body["brokers"].as_array().map(Vec::len)
        ),
        (json!(2), Some(1))
    );

    // The agent reports the broker healthy; nothing listens there, so the canary fails.
    let hb = json!({"observed_generation": 2, "storage": [],
        "brokers": [{"broker_id": broker["broker_id"], "running": true, "answering": true, "detail": ""}]});
    t.post(&format!("/agent/v1/hosts/{host_id}/heartbeat"), &token, hb)
        .await;
    assert_eq!(status(&t, &id).await["brokers"][0]["healthy"], true);
    reconcile_once(&t.state, &mut memory).await.expect("pass");
    let one = status(&t, &id).await;
    assert_eq!(
        one["status"]["conditions"][0]["reason"], "CanaryFailed",
        "{one}"
    );
    assert_eq!(one["status"]["phase"], "Provisioning");

    // Deleting the cluster gives the host a desired state without the broker.
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/clusters/{id}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let after = t
        .get(&format!("/agent/v1/hosts/{host_id}/desired"), &token)
        .await;
    assert_eq!(
        (
            after.body["generation"].clone(),
            after.body["brokers"].clone()
        ),
        (json!(3), json!([]))
    );
}

/// Waits until cluster `id` has been placed ("Starting"), failing after `within`.
async fn until_placed(t: &TestApp, id: &str, within: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let s = status(t, id).await;
        if s["status"]["conditions"][0]["reason"] == "Starting" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cluster {id} not placed: {s}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_request_wakes_the_reconciler_instead_of_waiting_for_its_tick(db: PgPool) {
    let t = start(db).await;
    let tenant = t.tenant("team-a", true, None).await;
    host(&t, "h1", 50).await;
    // A tick far beyond the test: only a wake-up can place what is requested from now on.
    control_plane::reconciler::spawn(t.state.clone(), std::time::Duration::from_secs(3600));
    let first = t
        .request_cluster(&t.admin, &tenant, "first", 1, 1)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    until_placed(&t, &first, std::time::Duration::from_secs(20)).await;
    // The pass that placed "first" listed the clusters before "second" existed, so
    // "second" is placed by a pass its own write woke.
    let second = t
        .request_cluster(&t.admin, &tenant, "second", 1, 1)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    until_placed(&t, &second, std::time::Duration::from_secs(20)).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn one_failing_cluster_never_stops_the_others(db: PgPool) {
    let t = start(db.clone()).await;
    let tenant = t.tenant("team-a", true, None).await;
    host(&t, "h1", 50).await;
    let broken = t
        .request_cluster(&t.admin, &tenant, "broken", 1, 1)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // A spec the control plane can no longer read (as after a bad manual edit).
    sqlx::query("UPDATE clusters SET spec = '{\"unreadable\": true}'::jsonb WHERE id = $1::uuid")
        .bind(&broken)
        .execute(&db)
        .await
        .expect("corrupt the spec");
    let healthy = t
        .request_cluster(&t.admin, &tenant, "healthy", 1, 1)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let pass = reconcile_once(&t.state, &mut Memory::default())
        .await
        .expect("the pass itself runs");
    let failed: Vec<String> = pass.failed.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(failed, vec![broken], "the broken cluster is reported");
    let s = status(&t, &healthy).await;
    assert_eq!(
        s["status"]["conditions"][0]["reason"], "Starting",
        "the cluster after it is placed all the same: {s}"
    );
}
