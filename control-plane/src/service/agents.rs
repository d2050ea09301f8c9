//! Agents: tokens (issued and revoked by platform admins), host registration, heartbeats
//! and the desired state each host's agent fetches.

use chrono::Utc;
use tideway_api::{
    agents::{
        AgentToken, CreateAgentToken, CreatedAgentToken, DesiredState, Heartbeat, HeartbeatAck,
        RegisterHost, Registered,
    },
    FieldError, HostId, TokenId,
};

use super::{ensure_valid, Audit};
use crate::{
    auth::{agent::AgentCaller, jwt::TokenKind, Actor, Caller},
    db,
    error::ApiError,
    state::AppState,
};

/// Lifetime of an agent token when none is asked for.
pub const DEFAULT_AGENT_TOKEN_DAYS: i64 = 365;
/// Longest lifetime of an agent token.
pub const MAX_AGENT_TOKEN_DAYS: i64 = 3650;

pub async fn create_token(
    state: &AppState,
    caller: &Caller,
    req: CreateAgentToken,
) -> Result<CreatedAgentToken, ApiError> {
    caller.require_platform_admin()?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "use 1 to 100 characters"));
    }
    let days = req.expires_in_days.unwrap_or(DEFAULT_AGENT_TOKEN_DAYS);
    if !(1..=MAX_AGENT_TOKEN_DAYS).contains(&days) {
        return Err(ApiError::field(
            "expires_in_days",
            format!("must be between 1 and {MAX_AGENT_TOKEN_DAYS}, got {days}"),
        ));
    }
    let expires_at = Utc::now() + chrono::Duration::days(days);
    let mut tx = state.db.begin().await?;
    let token = AgentToken::from(
        db::agents::insert_token(&mut tx, name, &caller.actor.to_string(), expires_at).await?,
    );
    Audit {
        action: "agent_token.create",
        tenant_id: None,
        target_type: "agent_token",
        target_id: token.id.to_string(),
    }
    .record(&mut tx, caller, None::<&()>, Some(&token))
    .await?;
    tx.commit().await?;
    let secret = state
        .jwt
        .sign(token.id.0, TokenKind::Agent, expires_at, None);
    Ok(CreatedAgentToken { token, secret })
}

pub async fn list_tokens(state: &AppState, caller: &Caller) -> Result<Vec<AgentToken>, ApiError> {
    caller.require_platform_admin()?;
    Ok(db::agents::list_tokens(&state.db)
        .await?
        .into_iter()
        .map(AgentToken::from)
        .collect())
}

pub async fn revoke_token(state: &AppState, caller: &Caller, id: TokenId) -> Result<(), ApiError> {
    caller.require_platform_admin()?;
    let mut tx = state.db.begin().await?;
    let token = db::agents::revoke_token(&mut tx, id)
        .await?
        .map(AgentToken::from)
        .ok_or_else(|| ApiError::NotFound("agent token not found".into()))?;
    db::agents::unbind_hosts(&mut tx, id).await?;
    Audit {
        action: "agent_token.revoke",
        tenant_id: None,
        target_type: "agent_token",
        target_id: id.to_string(),
    }
    .record(&mut tx, caller, None::<&()>, Some(&token))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Most labels a host may carry.
const MAX_HOST_LABELS: usize = 32;

/// A label key or value in the Kubernetes style: short, and nothing that could break out of
/// a config file, a Prometheus label or a page.
fn label_like(s: &str, min_len: usize) -> bool {
    (min_len..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
}

fn check_registration(h: &RegisterHost) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    let host_like = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    };
    if !host_like(&h.name) {
        bad(
            "name",
            "use 1 to 253 letters, digits, dots, dashes or underscores",
        );
    }
    if !host_like(&h.address) {
        bad(
            "address",
            "give a host name or IP address clients can reach",
        );
    }
    if h.port_range.first == 0 || h.port_range.first > h.port_range.last {
        bad("port_range", "first must be at least 1 and not above last");
    }
    if h.labels.len() > MAX_HOST_LABELS
        || h.labels
            .iter()
            .any(|(k, v)| !label_like(k, 1) || !label_like(v, 0))
    {
        bad(
            "labels",
            "use at most 32 labels; keys of 1 to 63 and values of up to 63 letters, digits, dots, dashes, underscores or slashes",
        );
    }
    if h.storage.iter().any(|s| s.free_bytes > s.total_bytes) {
        bad("storage", "free bytes cannot exceed total bytes");
    }
    errors
}

/// The audit actor of an agent.
fn as_caller(agent: &AgentCaller) -> Caller {
    Caller {
        actor: Actor::Agent {
            name: agent.actor.clone(),
        },
        platform_admin: false,
        roles: Default::default(),
        request_id: agent.request_id.clone(),
    }
}

pub async fn register(
    state: &AppState,
    agent: &AgentCaller,
    req: RegisterHost,
) -> Result<Registered, ApiError> {
    ensure_valid(check_registration(&req))?;
    let mut tx = state.db.begin().await?;
    let (host_id, inserted) = db::agents::register_host(&mut tx, &req, agent.token_id)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "host {} is registered by another agent token; revoke that token first to move the host",
                req.name
            ))
        })?;
    let action = if inserted {
        "host.register"
    } else {
        "host.reregister"
    };
    Audit {
        action,
        tenant_id: None,
        target_type: "host",
        target_id: host_id.to_string(),
    }
    .record(&mut tx, &as_caller(agent), None::<&()>, Some(&req))
    .await?;
    tx.commit().await?;
    Ok(Registered {
        host_id,
        heartbeat_interval_secs: state.config.heartbeat_interval.as_secs().max(1),
    })
}

pub async fn heartbeat(
    state: &AppState,
    agent: &AgentCaller,
    host: HostId,
    hb: Heartbeat,
) -> Result<HeartbeatAck, ApiError> {
    let desired_generation = db::agents::heartbeat(
        &state.db,
        host,
        agent.token_id,
        hb.observed_generation,
        &hb.storage,
        hb.metrics.as_ref(),
    )
    .await?
    .ok_or_else(host_not_found)?;
    db::brokers::record_status(&state.db, host, &hb.brokers).await?;
    Ok(HeartbeatAck { desired_generation })
}

/// A host that does not exist or is not bound to the calling token: both answer alike, so
/// a token learns nothing of other agents' hosts.
fn host_not_found() -> ApiError {
    ApiError::NotFound("host not found for this agent token; register again".into())
}

/// The brokers the reconciler placed on a host.
pub async fn desired(
    state: &AppState,
    agent: &AgentCaller,
    host: HostId,
) -> Result<DesiredState, ApiError> {
    let generation = db::agents::host_generation(&state.db, host, agent.token_id)
        .await?
        .ok_or_else(host_not_found)?;
    let mut brokers = db::brokers::for_host(&state.db, host).await?;
    super::security::attach(state, &mut brokers).await?;
    Ok(DesiredState {
        host_id: host,
        generation,
        brokers,
    })
}
