//! Authentication and tokens through the real router on a real PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use common::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn missing_bad_and_wrong_credentials_get_401_problems(db: PgPool) {
    let t = start(db).await;
    let a = t.call(Method::GET, "/api/v1/me", None, None).await;
    assert!(assert_problem(&a, StatusCode::UNAUTHORIZED).contains("Bearer"));
    let a = t.get("/api/v1/me", "not-a-jwt").await;
    assert_problem(&a, StatusCode::UNAUTHORIZED);
    let a = t
        .call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({"username": "admin", "password": "wrong"})),
        )
        .await;
    assert_eq!(
        assert_problem(&a, StatusCode::UNAUTHORIZED),
        "invalid username or password"
    );
    let a = t
        .call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(
        assert_problem(&a, StatusCode::UNAUTHORIZED),
        "invalid username or password"
    );

    let me = t.get("/api/v1/me", &t.admin).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["actor"], "user:admin");
    assert_eq!(me.body["platform_admin"], true);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_admin_password_is_stored_as_an_argon2_hash(db: PgPool) {
    let t = start(db.clone()).await;
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'admin'")
            .fetch_one(&db)
            .await
            .expect("admin row");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(ADMIN_PASSWORD));
    // A second start does not create a second admin or change the password.
    control_plane::service::users::bootstrap_admin(&t.state, "admin", Some("another-password"))
        .await
        .expect("bootstrap");
    t.login("admin", ADMIN_PASSWORD).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn api_tokens_are_scoped_shown_once_and_revoked_at_once(db: PgPool) {
    let t = start(db.clone()).await;
    let a_id = t.tenant("team-a", false, None).await;
    let b_id = t.tenant("team-b", false, None).await;
    let a_admin = t.member(&a_id, "ann", "tenant-admin").await;
    t.request_cluster(&t.admin, &b_id, "b-cluster", 1, 10).await;

    let created = t
        .post(
            "/api/v1/tokens",
            &a_admin,
            json!({"name": "ci", "tenant_id": a_id, "role": "member", "expires_in_days": 7}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    let token_id = created.body["token"]["id"].as_str().expect("id").to_owned();

    // The secret is not stored anywhere and not listed again.
    let stored: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM api_tokens t WHERE t::text LIKE '%' || $1 || '%')
              + (SELECT count(*) FROM audit_log a WHERE a::text LIKE '%' || $1 || '%')",
    )
    .bind(&secret)
    .fetch_one(&db)
    .await
    .expect("query");
    assert_eq!(stored, 0);
    let listed = t.get("/api/v1/tokens", &a_admin).await;
    assert!(!listed.body.to_string().contains(&secret));
    assert_eq!(listed.body.as_array().expect("list").len(), 1);

    // The token acts as a member of team-a only.
    let me = t.get("/api/v1/me", &secret).await;
    assert_eq!(me.body["actor"], format!("token:ci:{token_id}"));
    let mine = t.request_cluster(&secret, &a_id, "from-ci", 1, 10).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{:?}", mine.body);
    assert_eq!(mine.body["requested_by"], format!("token:ci:{token_id}"));
    let theirs = t.request_cluster(&secret, &b_id, "sneaky", 1, 10).await;
    assert_problem(&theirs, StatusCode::NOT_FOUND);
    let listed = t.get("/api/v1/clusters", &secret).await;
    assert_eq!(listed.body["total"], 1);

    // Revocation takes effect on the next request.
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            Some(&a_admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_problem(
        &t.get("/api/v1/me", &secret).await,
        StatusCode::UNAUTHORIZED,
    );
    let audit = t
        .get(&format!("/api/v1/audit?target_id={token_id}"), &t.admin)
        .await;
    let actions: Vec<_> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions, vec![json!("token.revoke"), json!("token.create")]);
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_tokens_and_sessions_are_refused(db: PgPool) {
    let t = start(db.clone()).await;
    let a_id = t.tenant("team-a", false, None).await;
    let created = t
        .post(
            "/api/v1/tokens",
            &t.admin,
            json!({"name": "old", "tenant_id": a_id, "role": "viewer"}),
        )
        .await;
    let id: uuid::Uuid = created.body["token"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    // The same row, signed with an expiry in the past: the signature is right, the time is not.
    let past = Utc::now() - chrono::Duration::seconds(1);
    let expired = t
        .state
        .jwt
        .sign(id, control_plane::auth::jwt::TokenKind::Api, past, None);
    assert_problem(
        &t.get("/api/v1/me", &expired).await,
        StatusCode::UNAUTHORIZED,
    );
    // A row expired in the database is refused even while the JWT still runs.
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .expect("update");
    let secret = created.body["secret"].as_str().expect("secret");
    assert_problem(&t.get("/api/v1/me", secret).await, StatusCode::UNAUTHORIZED);
    // So is a session whose row expired.
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .expect("update");
    assert_problem(
        &t.get("/api/v1/me", &t.admin).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn token_roles_are_bounded_by_the_creator(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let a_admin = t.member(&a_id, "ann", "tenant-admin").await;
    let a_member = t.member(&a_id, "max", "member").await;

    let a = t
        .post(
            "/api/v1/tokens",
            &a_admin,
            json!({"name": "root", "role": "platform-admin"}),
        )
        .await;
    assert_problem(&a, StatusCode::FORBIDDEN);
    let a = t
        .post(
            "/api/v1/tokens",
            &a_member,
            json!({"name": "x", "tenant_id": a_id, "role": "viewer"}),
        )
        .await;
    assert_problem(&a, StatusCode::FORBIDDEN);
    let a = t
        .post(
            "/api/v1/tokens",
            &a_admin,
            json!({"name": "x", "role": "member"}),
        )
        .await;
    assert_eq!(a.body["errors"][0]["field"], "tenant_id", "{:?}", a.body);
    let a = t
        .post(
            "/api/v1/tokens",
            &a_admin,
            json!({"name": "x", "tenant_id": a_id, "role": "member", "expires_in_days": 999}),
        )
        .await;
    assert!(assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY).contains("expires_in_days"));
    let a = t
        .post(
            "/api/v1/tokens",
            &t.admin,
            json!({"name": "automation", "role": "platform-admin"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let root = a.body["secret"].as_str().expect("secret");
    assert_eq!(t.get("/api/v1/me", root).await.body["platform_admin"], true);
}

#[sqlx::test(migrations = "../migrations")]
async fn members_are_granted_by_tenant_admins_within_their_own_role(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let a_admin = t.member(&a_id, "ann", "tenant-admin").await;
    let a_member = t.member(&a_id, "max", "member").await;
    let path = format!("/api/v1/tenants/{a_id}/members/zoe");

    let a = t
        .call(
            Method::PUT,
            &path,
            Some(&a_member),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_problem(&a, StatusCode::FORBIDDEN);
    let a = t
        .call(
            Method::PUT,
            &path,
            Some(&a_admin),
            Some(json!({"role": "platform-admin"})),
        )
        .await;
    assert_problem(&a, StatusCode::UNPROCESSABLE_ENTITY);
    let a = t
        .call(
            Method::PUT,
            &path,
            Some(&a_admin),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_problem(&a, StatusCode::BAD_REQUEST);
    let a = t
        .call(
            Method::PUT,
            &path,
            Some(&a_admin),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let members = t
        .get(&format!("/api/v1/tenants/{a_id}/members"), &a_member)
        .await;
    let names: Vec<_> = members
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("ann"), json!("max"), json!("zoe")]);
    let a = t.call(Method::DELETE, &path, Some(&a_admin), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = t.call(Method::DELETE, &path, Some(&a_admin), None).await;
    assert_problem(&a, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../migrations")]
async fn tokens_stop_working_when_their_creator_loses_the_role_behind_them(db: PgPool) {
    let t = start(db).await;
    let a_id = t.tenant("team-a", false, None).await;
    let ann = t.member(&a_id, "ann", "tenant-admin").await;
    let token = |role: &'static str| {
        let (t, ann, a_id) = (&t, &ann, &a_id);
        async move {
            let a = t
                .post(
                    "/api/v1/tokens",
                    ann,
                    json!({"name": format!("ci-{role}"), "tenant_id": a_id, "role": role}),
                )
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
            a.body["secret"].as_str().expect("secret").to_owned()
        }
    };
    let admin_token = token("tenant-admin").await;
    let member_token = token("member").await;
    let quota = format!("/api/v1/tenants/{a_id}/quota");
    for secret in [&admin_token, &member_token] {
        assert_eq!(t.get(&quota, secret).await.status, StatusCode::OK);
    }
    let unbacked = "the user who created this token no longer holds the role it grants; ask a tenant admin for a new token";

    // Ann is demoted to member: her tenant-admin token stops, her member token goes on.
    let member_path = format!("/api/v1/tenants/{a_id}/members/ann");
    let a = t
        .call(
            Method::PUT,
            &member_path,
            Some(&t.admin),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        assert_problem(&t.get(&quota, &admin_token).await, StatusCode::UNAUTHORIZED),
        unbacked
    );
    assert_eq!(t.get(&quota, &member_token).await.status, StatusCode::OK);

    // Ann leaves the tenant: nothing she made works there any more.
    let a = t
        .call(Method::DELETE, &member_path, Some(&t.admin), None)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{:?}", a.body);
    assert_eq!(
        assert_problem(
            &t.get(&quota, &member_token).await,
            StatusCode::UNAUTHORIZED
        ),
        unbacked
    );
}
