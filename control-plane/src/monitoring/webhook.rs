//! Delivery of alert transitions to the platform's webhook and to tenants' own: each is
//! POSTed as JSON (signed with HMAC-SHA256 when a secret is configured) and retried with
//! exponential backoff (1 s doubling up to 5 min) until the receiver answers 2xx, or
//! given up after `MAX_ATTEMPTS`.

use std::{collections::HashMap, time::Duration};

use tideway_api::TenantId;

use crate::{db, error::ApiError, state::AppState};

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

/// Sends every notification that is due.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<usize, ApiError> {
    let mut sent = 0;
    let mut targets: HashMap<Option<TenantId>, Option<Target>> = HashMap::new();
    for n in db::alerts::due(&state.db, 100).await? {
        let target = match targets.entry(n.tenant_id) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(target_of(state, n.tenant_id).await?)
            }
        };
        let Some((url, secret)) = target else {
            let why = "the webhook was removed before this alert could be delivered";
            db::alerts::attempt_failed(&state.db, n.id, why, None).await?;
            continue;
        };
        let body = serde_json::to_vec(&n.payload).unwrap_or_default();
        let mut request = http
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(Duration::from_secs(10));
        if let Some(secret) = secret {
            request = request.header("x-tideway-signature", signature(secret, &body));
        }
        let failure = match request.body(body).send().await {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the webhook answered {}", r.status())),
            Err(e) => Some(format!("the webhook could not be reached: {e}")),
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
