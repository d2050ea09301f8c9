//! A typed HTTP client for `/api/v1` (and, for agents, `/agent/v1`), used by the agent,
//! the tests and automation written in Rust.
//! Every error the server sends comes back as the `Problem` it sent.

use serde::{de::DeserializeOwned, Serialize};

use crate::{
    agents::{
        CreateAgentToken, CreatedAgentToken, DesiredState, Heartbeat, HeartbeatAck, RegisterHost,
        Registered,
    },
    audit::AuditEntry,
    clusters::{Cluster, ClusterFilter, ClusterSpecPatch, CreateCluster, Decision},
    hosts::Host,
    monitoring::{Alert, AlertRule, ClusterMetrics, ConsumerGroup, SetAlertRule},
    tenants::{
        CreateTenant, CreateUser, LoginRequest, LoginResponse, Me, Member, PutMember, Quota,
        QuotaReport, Tenant, User,
    },
    tokens::{ApiToken, CreateToken, CreatedToken},
    topics::{CreateTopic, Topic, UpdateTopic},
    ClusterId, HostId, Page, Problem, TenantId, TokenId,
};

/// What can go wrong calling the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server answered with a problem: {0}")]
    Problem(Problem),
    #[error("failed to reach the control plane: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the server answered {status} with a body that is not a problem: {body}")]
    Unexpected { status: u16, body: String },
}

impl ClientError {
    /// The HTTP status of a problem answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem(p) => Some(p.status),
            ClientError::Unexpected { status, .. } => Some(*status),
            ClientError::Transport(_) => None,
        }
    }
}

/// A client bound to one control plane and, optionally, one bearer token.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// `/api/v1` for people and automation, `/agent/v1` for agents.
    prefix: &'static str,
}

impl Client {
    /// A client for the control plane at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.into(),
            token: None,
            prefix: "/api/v1",
        }
    }

    /// A client for the agent protocol (`/agent/v1`) with an agent token.
    pub fn agent(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            prefix: "/agent/v1",
            ..Self::new(base).with_token(token)
        }
    }

    pub async fn register(&self, body: &RegisterHost) -> Result<Registered, ClientError> {
        self.post("/register", body).await
    }

    pub async fn heartbeat(
        &self,
        host: HostId,
        body: &Heartbeat,
    ) -> Result<HeartbeatAck, ClientError> {
        self.post(&format!("/hosts/{host}/heartbeat"), body).await
    }

    pub async fn desired(&self, host: HostId) -> Result<DesiredState, ClientError> {
        self.get(&format!("/hosts/{host}/desired")).await
    }

    pub async fn create_agent_token(
        &self,
        body: &CreateAgentToken,
    ) -> Result<CreatedAgentToken, ClientError> {
        self.post("/agent-tokens", body).await
    }

    pub async fn revoke_agent_token(&self, id: TokenId) -> Result<(), ClientError> {
        self.send_empty(reqwest::Method::DELETE, &format!("/agent-tokens/{id}"))
            .await
    }

    pub async fn list_hosts(&self) -> Result<Vec<Host>, ClientError> {
        self.get("/hosts").await
    }

    pub async fn create_topic(
        &self,
        cluster: ClusterId,
        body: &CreateTopic,
    ) -> Result<Topic, ClientError> {
        self.post(&format!("/clusters/{cluster}/topics"), body)
            .await
    }

    pub async fn list_topics(&self, cluster: ClusterId) -> Result<Vec<Topic>, ClientError> {
        self.get(&format!("/clusters/{cluster}/topics")).await
    }

    pub async fn update_topic(
        &self,
        cluster: ClusterId,
        name: &str,
        body: &UpdateTopic,
    ) -> Result<Topic, ClientError> {
        self.send(
            reqwest::Method::PATCH,
            &format!("/clusters/{cluster}/topics/{name}"),
            Some(body),
        )
        .await
    }

    pub async fn delete_topic(&self, cluster: ClusterId, name: &str) -> Result<(), ClientError> {
        self.send_empty(
            reqwest::Method::DELETE,
            &format!("/clusters/{cluster}/topics/{name}"),
        )
        .await
    }

    pub async fn create_kafka_user(
        &self,
        cluster: ClusterId,
        body: &crate::kafka_users::CreateKafkaUser,
    ) -> Result<crate::kafka_users::CreatedKafkaUser, ClientError> {
        self.post(&format!("/clusters/{cluster}/kafka-users"), body)
            .await
    }

    pub async fn list_kafka_users(
        &self,
        cluster: ClusterId,
    ) -> Result<Vec<crate::kafka_users::KafkaUser>, ClientError> {
        self.get(&format!("/clusters/{cluster}/kafka-users")).await
    }

    pub async fn delete_kafka_user(
        &self,
        cluster: ClusterId,
        name: &str,
    ) -> Result<(), ClientError> {
        self.send_empty(
            reqwest::Method::DELETE,
            &format!("/clusters/{cluster}/kafka-users/{name}"),
        )
        .await
    }

    /// The same client sending `token` as its bearer.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// Logs in with a username and password and returns a client using the session.
    pub async fn login(&self, username: &str, password: &str) -> Result<Client, ClientError> {
        let body = LoginRequest {
            username: username.into(),
            password: password.into(),
        };
        let r: LoginResponse = self
            .send(reqwest::Method::POST, "/login", Some(&body))
            .await?;
        Ok(self.with_token(r.token))
    }

    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get("/me").await
    }

    pub async fn create_user(&self, body: &CreateUser) -> Result<User, ClientError> {
        self.post("/users", body).await
    }

    pub async fn create_tenant(&self, body: &CreateTenant) -> Result<Tenant, ClientError> {
        self.post("/tenants", body).await
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, ClientError> {
        self.get("/tenants").await
    }

    pub async fn get_tenant(&self, id: TenantId) -> Result<Tenant, ClientError> {
        self.get(&format!("/tenants/{id}")).await
    }

    pub async fn put_member(
        &self,
        tenant: TenantId,
        username: &str,
        body: &PutMember,
    ) -> Result<Member, ClientError> {
        self.send(
            reqwest::Method::PUT,
            &format!("/tenants/{tenant}/members/{username}"),
            Some(body),
        )
        .await
    }

    pub async fn list_members(&self, tenant: TenantId) -> Result<Vec<Member>, ClientError> {
        self.get(&format!("/tenants/{tenant}/members")).await
    }

    pub async fn get_quota(&self, tenant: TenantId) -> Result<QuotaReport, ClientError> {
        self.get(&format!("/tenants/{tenant}/quota")).await
    }

    pub async fn put_quota(
        &self,
        tenant: TenantId,
        quota: &Quota,
    ) -> Result<QuotaReport, ClientError> {
        self.send(
            reqwest::Method::PUT,
            &format!("/tenants/{tenant}/quota"),
            Some(quota),
        )
        .await
    }

    pub async fn create_cluster(&self, body: &CreateCluster) -> Result<Cluster, ClientError> {
        self.post("/clusters", body).await
    }

    pub async fn get_cluster(&self, id: ClusterId) -> Result<Cluster, ClientError> {
        self.get(&format!("/clusters/{id}")).await
    }

    pub async fn list_clusters(
        &self,
        filter: &ClusterFilter,
    ) -> Result<Page<Cluster>, ClientError> {
        let query = serde_urlencoded_query(filter);
        self.get(&format!("/clusters{query}")).await
    }

    pub async fn update_cluster(
        &self,
        id: ClusterId,
        patch: &ClusterSpecPatch,
    ) -> Result<Cluster, ClientError> {
        self.send(
            reqwest::Method::PATCH,
            &format!("/clusters/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_cluster(&self, id: ClusterId) -> Result<(), ClientError> {
        self.send_empty(reqwest::Method::DELETE, &format!("/clusters/{id}"))
            .await
    }

    pub async fn approve(
        &self,
        id: ClusterId,
        reason: Option<&str>,
    ) -> Result<Cluster, ClientError> {
        let body = Decision {
            reason: reason.map(str::to_owned),
        };
        self.post(&format!("/clusters/{id}/approve"), &body).await
    }

    pub async fn reject(&self, id: ClusterId, reason: &str) -> Result<Cluster, ClientError> {
        let body = Decision {
            reason: Some(reason.to_owned()),
        };
        self.post(&format!("/clusters/{id}/reject"), &body).await
    }

    pub async fn consumer_groups(&self, id: ClusterId) -> Result<Vec<ConsumerGroup>, ClientError> {
        self.get(&format!("/clusters/{id}/consumer-groups")).await
    }

    /// A cluster's metric series over `range` (`1h`, `6h`, `24h`, `7d`).
    pub async fn cluster_metrics(
        &self,
        id: ClusterId,
        range: &str,
    ) -> Result<ClusterMetrics, ClientError> {
        self.get(&format!("/clusters/{id}/metrics?range={range}"))
            .await
    }

    pub async fn alerts(&self) -> Result<Vec<Alert>, ClientError> {
        self.get("/alerts").await
    }

    /// Overrides an alert rule for a tenant's clusters.
    pub async fn set_tenant_alert_rule(
        &self,
        tenant: TenantId,
        rule: &str,
        body: &SetAlertRule,
    ) -> Result<AlertRule, ClientError> {
        self.send(
            reqwest::Method::PUT,
            &format!("/tenants/{tenant}/alert-rules/{rule}"),
            Some(body),
        )
        .await
    }

    pub async fn create_token(&self, body: &CreateToken) -> Result<CreatedToken, ClientError> {
        self.post("/tokens", body).await
    }

    pub async fn revoke_token(&self, id: TokenId) -> Result<(), ClientError> {
        self.send_empty(reqwest::Method::DELETE, &format!("/tokens/{id}"))
            .await
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, ClientError> {
        self.get("/tokens").await
    }

    pub async fn audit(&self, query: &str) -> Result<Page<AuditEntry>, ClientError> {
        self.get(&format!("/audit{query}")).await
    }

    /// `GET {prefix}{path}` into `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send::<(), T>(reqwest::Method::GET, path, None).await
    }

    /// `POST {prefix}{path}` with a JSON body into `T`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let response = self.request(method, path, body).await?;
        Ok(response.json().await?)
    }

    async fn send_empty(&self, method: reqwest::Method, path: &str) -> Result<(), ClientError> {
        self.request::<()>(method, path, None).await.map(drop)
    }

    async fn request<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self
            .http
            .request(method, format!("{}{}{path}", self.base, self.prefix));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let response = req.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await?;
        match serde_json::from_str::<Problem>(&text) {
            Ok(p) => Err(ClientError::Problem(p)),
            Err(_) => Err(ClientError::Unexpected {
                status: status.as_u16(),
                body: text,
            }),
        }
    }
}

fn serde_urlencoded_query(filter: &ClusterFilter) -> String {
    let mut parts = Vec::new();
    if let Some(t) = filter.tenant_id {
        parts.push(format!("tenant_id={t}"));
    }
    if let Some(a) = filter.approval {
        parts.push(format!("approval={a}"));
    }
    if let Some(k) = filter.kind {
        parts.push(format!("kind={k}"));
    }
    if let Some(n) = &filter.name {
        parts.push(format!(
            "name={}",
            n.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
        ));
    }
    if let Some(l) = filter.limit {
        parts.push(format!("limit={l}"));
    }
    if let Some(o) = filter.offset {
        parts.push(format!("offset={o}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}
