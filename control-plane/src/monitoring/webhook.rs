//! Delivery of alert transitions to the platform's webhook and to tenants' own: each is
//! POSTed as JSON (signed with HMAC-SHA256 when a secret is configured) and retried with
//! exponential backoff (1 s doubling up to 5 min) until the receiver answers 2xx, or
//! given up after `MAX_ATTEMPTS`.

use std::{sync::Arc, time::Duration};

use tideway_api::TenantId;

use super::webhook_guard::WebhookPolicy;
use crate::{db, db::alerts::Notification, error::ApiError, state::AppState};

/// Attempts before a notification is given up.
pub const MAX_ATTEMPTS: i32 = 12;

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 16)).min(Duration::from_secs(300))
}

/// The signature header's value for `body`: `sha256=` and the hex HMAC-SHA256.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Where a notification goes: (URL, signing secret).
type Target = (String, Option<String>);

/// The platform's webhook, or the tenant's (`None` when it has none any more).
async fn target_of(state: &AppState, tenant: Option<TenantId>) -> Result<Option<Target>, ApiError> {
    let Some(tenant) = tenant else {
        return Ok(state
            .config
            .alert_webhook_url
            .clone()
            .map(|url| (url, state.config.alert_webhook_secret.clone())));
    };
    let Some((url, sealed)) = db::alerts::tenant_webhook(&state.db, tenant).await? else {
        return Ok(None);
    };
    let secret = sealed
        .map(|s| state.sealer.open_text(&s))
        .transpose()
        .map_err(|e| ApiError::Internal(format!("a tenant's webhook secret: {e}")))?;
    Ok(Some((url, secret)))
}

/// The HTTP clients deliveries use: the operator's webhook as configured; tenants' through
/// the guard (no internal addresses unless allowed). Neither follows redirects.
pub struct Webhooks {
    platform: reqwest::Client,
    tenants: reqwest::Client,
    policy: Arc<WebhookPolicy>,
}

impl Webhooks {
    pub fn new(policy: Arc<WebhookPolicy>) -> reqwest::Result<Webhooks> {
        Ok(Webhooks {
            platform: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            tenants: policy.tenant_client()?,
            policy,
        })
    }
}

/// Sends every notification that is due: each receiver's in order, different receivers
/// at the same time, so one slow endpoint delays nobody else's alerts.
pub async fn deliver_due(state: &AppState, hooks: &Webhooks) -> Result<usize, ApiError> {
    let mut groups: Vec<(Option<TenantId>, Vec<Notification>)> = Vec::new();
    for n in db::alerts::due(&state.db, 100).await? {
        match groups.iter_mut().find(|(t, _)| *t == n.tenant_id) {
            Some((_, group)) => group.push(n),
            None => groups.push((n.tenant_id, vec![n])),
        }
    }
    let results = futures::future::join_all(
        groups
            .into_iter()
            .map(|(tenant, group)| deliver_to(state, hooks, tenant, group)),
    )
    .await;
    results.into_iter().sum()
}

/// Delivers one receiver's notifications, oldest first.
async fn deliver_to(
    state: &AppState,
    hooks: &Webhooks,
    tenant: Option<TenantId>,
    group: Vec<Notification>,
) -> Result<usize, ApiError> {
    let target = target_of(state, tenant).await?;
    let mut sent = 0;
    for n in group {
        let Some((url, secret)) = &target else {
            let why = "the webhook was removed before this alert could be delivered";
            db::alerts::attempt_failed(&state.db, n.id, why, None).await?;
            continue;
        };
        let body = serde_json::to_vec(&n.payload).unwrap_or_default();
        let failure = match post(hooks, tenant.is_some(), url, secret.as_deref(), body).await {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the webhook answered {}", r.status())),
            Err(e) => Some(e),
        };
        match failure {
            None => {
                db::alerts::delivered(&state.db, n.id).await?;
                sent += 1;
            }
            Some(error) => {
                let retry = (n.attempts + 1 < MAX_ATTEMPTS).then(|| backoff(n.attempts));
                tracing::warn!(
                    notification = n.id,
                    attempt = n.attempts + 1,
                    error,
                    "alert webhook failed"
                );
                db::alerts::attempt_failed(&state.db, n.id, &error, retry).await?;
            }
        }
    }
    Ok(sent)
}

/// POSTs `body` to `url`; a tenant's URL must pass the guard (checked here, and the
/// client's resolver checks the addresses it actually connects to).
async fn post(
    hooks: &Webhooks,
    of_tenant: bool,
    url: &str,
    secret: Option<&str>,
    body: Vec<u8>,
) -> Result<reqwest::Response, String> {
    let http = if of_tenant {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("the webhook URL is invalid: {e}"))?;
        hooks.policy.check_url(&parsed).await?;
        &hooks.tenants
    } else {
        &hooks.platform
    };
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_secs(10));
    if let Some(secret) = secret {
        request = request.header("x-tideway-signature", signature(secret, &body));
    }
    request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("the webhook could not be reached: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(11), Duration::from_secs(300));
    }
}
