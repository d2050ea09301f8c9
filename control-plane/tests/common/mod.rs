//! Router-test helpers: the real `app()` on a fresh database per test (`#[sqlx::test]`),
//! driven with `oneshot` requests, plus fixtures made through the API itself.
#![allow(dead_code)]

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    Router,
};
use clap::Parser;
use control_plane::{
    config::{Cli, Command},
    AppState,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const USER_PASSWORD: &str = "user-password-1";

/// An app on its own database, with the first platform admin created.
pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub admin: String,
}

pub async fn start(db: PgPool) -> TestApp {
    start_with(db, &[]).await
}

/// Starts with extra `serve` flags (e.g. LDAP settings).
pub async fn start_with(db: PgPool, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "control-plane",
        "serve",
        "--database-url",
        "postgres://unused",
        "--jwt-secret",
        "test-secret-test-secret-test-secret-0123",
        "--admin-password",
        ADMIN_PASSWORD,
    ];
    args.extend_from_slice(extra);
    let Command::Serve(config) = Cli::try_parse_from(args).expect("valid flags").command else {
        unreachable!("serve was asked for")
    };
    config.validate().expect("valid config");
    let metrics = control_plane::http::metrics::install().expect("metrics");
    let state = AppState::new(*config, db, metrics).expect("state");
    control_plane::service::users::bootstrap_admin(&state, "admin", Some(ADMIN_PASSWORD))
        .await
        .expect("bootstrap");
    let app = control_plane::app(state.clone());
    let mut t = TestApp {
        app,
        state,
        admin: String::new(),
    };
    t.admin = t.login("admin", ADMIN_PASSWORD).await;
    t
}

/// An answer: status, content type and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub content_type: String,
    pub body: Value,
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let a = self
            .call(
                Method::POST,
                "/api/v1/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "login {username}: {:?}", a.body);
        a.body["token"].as_str().expect("token").to_owned()
    }

    /// A tenant made by the admin; returns its id.
    pub async fn tenant(&self, name: &str, auto_approve: bool, quota: Option<Value>) -> String {
        let mut body = json!({"name": name, "auto_approve": auto_approve});
        if let Some(q) = quota {
            body["quota"] = q;
        }
        let a = self.post("/api/v1/tenants", &self.admin, body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        a.body["id"].as_str().expect("id").to_owned()
    }

    /// A local user with `role` in `tenant`; returns a session token for them.
    pub async fn member(&self, tenant: &str, username: &str, role: &str) -> String {
        let a = self
            .post(
                "/api/v1/users",
                &self.admin,
                json!({"username": username, "password": USER_PASSWORD}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        let a = self
            .call(
                Method::PUT,
                &format!("/api/v1/tenants/{tenant}/members/{username}"),
                Some(&self.admin),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        self.login(username, USER_PASSWORD).await
    }

    /// A platform admin's decision (`approve` or `reject`) on cluster `id`.
    pub async fn decide(&self, token: &str, id: &str, verb: &str, body: Value) -> Answer {
        self.post(&format!("/api/v1/clusters/{id}/{verb}"), token, body)
            .await
    }

    /// Requests a dedicated cluster; returns the answer.
    pub async fn request_cluster(
        &self,
        token: &str,
        tenant: &str,
        name: &str,
        brokers: i32,
        gib: i64,
    ) -> Answer {
        self.post(
            "/api/v1/clusters",
            token,
            cluster_body(tenant, name, brokers, gib),
        )
        .await
    }
}

pub fn cluster_body(tenant: &str, name: &str, brokers: i32, gib: i64) -> Value {
    json!({
        "tenant_id": tenant,
        "name": name,
        "kind": "dedicated",
        "spec": {
            "broker_count": brokers,
            "storage_backend": "local-ssd",
            "storage_gib": gib,
            "hardware_profile": "virtual",
            "topic_defaults": {"partitions": 6, "replication_factor": 1, "retention_ms": 604800000}
        }
    })
}

/// Asserts a problem+json answer with `status`, returning its detail.
pub fn assert_problem(a: &Answer, status: StatusCode) -> String {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.content_type, "application/problem+json", "{:?}", a.body);
    assert_eq!(a.body["status"], status.as_u16(), "{:?}", a.body);
    let detail = a.body["detail"].as_str().expect("detail").to_owned();
    assert!(!detail.is_empty());
    detail
}
