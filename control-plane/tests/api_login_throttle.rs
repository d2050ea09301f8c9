//! Password guessing is throttled on a real PostgreSQL: a username, and a client address,
//! that failed too often get 429 with Retry-After, even with the right password, and a
//! name without an account is throttled like one with an account.

mod common;

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, Method, Request, StatusCode},
};
use common::*;
use serde_json::json;
use sqlx::PgPool;

async fn attempt(t: &TestApp, username: &str, password: &str, from: Option<&str>) -> Answer {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": username, "password": password}).to_string(),
        ))
        .expect("request");
    if let Some(addr) = from {
        let addr: std::net::SocketAddr = addr.parse().expect("addr");
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    t.send(req).await
}

/// Asserts a 429 whose Retry-After agrees with its detail, returning the seconds.
fn assert_throttled(a: &Answer) -> u64 {
    let detail = assert_problem(a, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert_eq!(
        detail,
        format!("too many failed logins; try again in {retry} s")
    );
    retry
}

#[sqlx::test(migrations = "../migrations")]
async fn a_guessed_username_is_locked_after_five_failures(db: PgPool) {
    let t = start(db).await;
    for _ in 0..5 {
        let a = attempt(&t, "admin", "wrong", None).await;
        assert_eq!(
            assert_problem(&a, StatusCode::UNAUTHORIZED),
            "invalid username or password"
        );
    }
    let locked = attempt(&t, "admin", ADMIN_PASSWORD, None).await;
    let retry = assert_throttled(&locked);
    assert!((25..=31).contains(&retry), "about 30 s: {retry}");

    // A name without an account is counted the same way, so it looks like one.
    for _ in 0..5 {
        let a = attempt(&t, "nobody", "wrong", None).await;
        assert_problem(&a, StatusCode::UNAUTHORIZED);
    }
    assert_throttled(&attempt(&t, "nobody", "wrong", None).await);

    // Another user is not held up by it.
    let other = t.tenant("team-a", false, None).await;
    t.member(&other, "ann", "member").await;

    // Once the lock is over, the right password works and clears the count.
    sqlx::query("UPDATE login_failures SET locked_until = now() - interval '1 second'")
        .execute(&t.state.db)
        .await
        .expect("expire the lock");
    let a = attempt(&t, "admin", ADMIN_PASSWORD, None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE key = 'user:admin'")
            .fetch_one(&t.state.db)
            .await
            .expect("count");
    assert_eq!(left, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_address_trying_many_usernames_is_locked(db: PgPool) {
    let t = start(db).await;
    for i in 0..20 {
        let a = attempt(&t, &format!("user-{i}"), "wrong", Some("192.0.2.7:40000")).await;
        assert_problem(&a, StatusCode::UNAUTHORIZED);
    }
    assert_throttled(&attempt(&t, "admin", ADMIN_PASSWORD, Some("192.0.2.7:40001")).await);
    let elsewhere = attempt(&t, "admin", ADMIN_PASSWORD, Some("198.51.100.9:40000")).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{:?}", elsewhere.body);
}
