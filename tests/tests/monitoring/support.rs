//! What the monitoring end-to-end test drives its cluster with: a signed-webhook
//! receiver, a steady producer, consumers of one group, waits on the group's verdict,
//! and readers of the shipped Helm monitoring files.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{extract::State, http::StatusCode, routing::post, Router};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::{FutureProducer, FutureRecord},
    ClientConfig,
};
use tideway_api::{
    client::Client,
    monitoring::{ConsumerGroup, LagStatus},
    ClusterId,
};

pub const GROUP: &str = "slow-readers";

/// A file of the Helm chart.
pub fn helm_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../helm/tideway")
        .join(path)
}

/// The metric names the `expr:` lines of a rules file read (not label names, not `up`).
pub fn rule_metric_names(rules: &str) -> Vec<String> {
    let matchers = regex::Regex::new(r"\{[^}]*\}|\bby \([^)]*\)").expect("regex");
    let names = regex::Regex::new(r"\b(?:kafka|tideway)_[a-zA-Z0-9_:]*").expect("regex");
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .flat_map(|expr| {
            let bare = matchers.replace_all(expr, "").into_owned();
            names
                .find_iter(&bare)
                .map(|m| m.as_str().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub async fn scrape(url: &str) -> String {
    scrape_as(url, None).await
}

/// Scrapes with a bearer token (the control plane's `/metrics` takes a platform admin's).
pub async fn scrape_as(url: &str, token: Option<&str>) -> String {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}
pub const TOPIC: &str = "events";

/// A webhook receiver that refuses its first delivery and records the rest.
#[derive(Clone, Default)]
pub struct Webhook {
    pub requests: Arc<AtomicUsize>,
    pub badly_signed: Arc<AtomicUsize>,
    pub refused: Arc<Mutex<Option<serde_json::Value>>>,
    pub accepted: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// The shared secret deliveries are signed with.
pub const WEBHOOK_SECRET: &str = "webhook-secret-for-the-test";

/// Accepts only deliveries signed with the shared secret (HMAC-SHA256 of the body).
pub async fn receive(
    State(hook): State<Webhook>,
    headers: axum::http::HeaderMap,
    raw: axum::body::Bytes,
) -> StatusCode {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(&raw);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sent = headers
        .get("x-tideway-signature")
        .and_then(|v| v.to_str().ok());
    if sent != Some(format!("sha256={expected}").as_str()) {
        hook.badly_signed.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let body: serde_json::Value = serde_json::from_slice(&raw).expect("a JSON body");
    if hook.requests.fetch_add(1, Ordering::SeqCst) == 0 {
        *hook.refused.lock().expect("lock") = Some(body);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    hook.accepted.lock().expect("lock").push(body);
    StatusCode::NO_CONTENT
}

impl Webhook {
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Waits for an accepted delivery about `rule` for `GROUP` in `state`.
    pub async fn until(&self, rule: &str, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self
                .accepted
                .lock()
                .expect("lock")
                .iter()
                .find(|a| {
                    a["rule"] == rule
                        && a["state"] == state
                        && a["subject"]
                            .as_str()
                            .is_some_and(|s| s.ends_with(&format!("group:{GROUP}")))
                })
                .cloned();
            if let Some(a) = found {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "no {state} {rule} alert reached the webhook: {:?}",
                self.accepted.lock().expect("lock")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Produces about 40 records a second until `stop`.
pub fn steady_producer(bootstrap: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            producer
                .send(
                    FutureRecord::to(TOPIC).key("k").payload("event"),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce");
            sent += 1;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        sent
    })
}

/// A consumer of `GROUP` that commits every record it reads, waiting `pause` after each,
/// until `stop`; then it leaves the group.
pub fn consumer(
    bootstrap: String,
    pause: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        c.subscribe(&[TOPIC]).expect("subscribe");
        let mut read = 0;
        while !stop.load(Ordering::SeqCst) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                c.commit_message(&m, CommitMode::Sync).expect("commit");
                read += 1;
                std::thread::sleep(pause);
            }
        }
        c.unsubscribe();
        read
    })
}

pub async fn until_status(
    client: &Client,
    id: ClusterId,
    want: LagStatus,
    max_lag: i64,
) -> ConsumerGroup {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let groups = client.consumer_groups(id).await.expect("consumer groups");
        if let Some(g) = groups.into_iter().find(|g| g.group_id == GROUP) {
            if g.status == want && g.total_lag <= max_lag {
                return g;
            }
            if seen.last() != Some(&g.status) {
                seen.push(g.status);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{GROUP} never became {want:?}; went through {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
