//! Sealing keys apart from the signing secret, rotated on a real PostgreSQL: values sealed
//! with an old key (or, from before sealing keys, with the signing secret) still open, and
//! `reseal` rewrites them all with the newest key, after which the old key can go.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use control_plane::secrets::Sealer;
use serde_json::json;
use sqlx::PgPool;

const SIGNING: &str = "test-secret-test-secret-test-secret-0123";
const OLD: &str = "old-sealing-key-old-sealing-key-0001";
const NEW: &str = "new-sealing-key-new-sealing-key-0002";

/// Every sealed webhook secret, as stored.
async fn sealed_secrets(db: &PgPool) -> Vec<Vec<u8>> {
    sqlx::query_scalar("SELECT secret_sealed FROM tenant_alert_webhooks ORDER BY tenant_id")
        .fetch_all(db)
        .await
        .expect("secrets")
}

#[sqlx::test(migrations = "../migrations")]
async fn a_new_sealing_key_takes_over_every_secret_after_reseal(db: PgPool) {
    // Sealed with the old key through the API, and one sealed with the signing secret (as a
    // deployment without sealing keys does).
    let old = start_with(db.clone(), &["--seal-keys", OLD]).await;
    let tenant = old.tenant("team-a", true, None).await;
    let a = old
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}/alert-webhook"),
            Some(&old.admin),
            Some(
                json!({"url": "http://93.184.216.34/hook", "secret": "the-tenants-webhook-secret"}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let legacy_tenant = old.tenant("team-b", true, None).await;
    sqlx::query(
        "INSERT INTO tenant_alert_webhooks (tenant_id, url, secret_sealed) VALUES ($1, $2, $3)",
    )
    .bind(legacy_tenant.parse::<uuid::Uuid>().expect("id"))
    .bind("http://93.184.216.34/other")
    .bind(Sealer::new(SIGNING.as_bytes()).seal(b"sealed-before-sealing-keys"))
    .execute(&db)
    .await
    .expect("a value sealed the old way");

    let rotated = start_with(db.clone(), &["--seal-keys", &format!("{NEW},{OLD}")]).await;
    let n = control_plane::service::security::reseal_all(&rotated.state)
        .await
        .expect("reseal");
    assert_eq!(n, 2, "both secrets were sealed by another key");
    assert_eq!(
        control_plane::service::security::reseal_all(&rotated.state)
            .await
            .expect("again"),
        0,
        "nothing is left to reseal"
    );

    let only_new = Sealer::with_keys(&[NEW.into()], b"some other signing secret, 32 chars");
    let opened: Vec<String> = sealed_secrets(&db)
        .await
        .iter()
        .map(|s| only_new.open_text(s).expect("the new key alone opens it"))
        .collect();
    let mut opened = opened;
    opened.sort();
    assert_eq!(
        opened,
        ["sealed-before-sealing-keys", "the-tenants-webhook-secret"]
    );
    let old_only = Sealer::with_keys(&[OLD.into()], SIGNING.as_bytes());
    for s in sealed_secrets(&db).await {
        assert!(
            old_only.open(&s).is_err(),
            "neither the old key nor the signing secret opens it"
        );
    }
}
