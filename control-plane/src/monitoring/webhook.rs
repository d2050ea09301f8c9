//! Delivery of alert transitions to the configured webhook: each is POSTed as JSON (signed
//! with HMAC-SHA256 when a secret is configured) and retried with exponential backoff
//! (1 s doubling up to 5 min) until the receiver answers 2xx, or given up after
//! `MAX_ATTEMPTS`.

use std::time::Duration;

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

/// Sends every notification that is due.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<usize, ApiError> {
    let Some(url) = state.config.alert_webhook_url.as_deref() else {
        return Ok(0);
    };
    let mut sent = 0;
    for n in db::alerts::due(&state.db, 100).await? {
        let body = serde_json::to_vec(&n.payload).unwrap_or_default();
        let mut request = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(Duration::from_secs(10));
        if let Some(secret) = &state.config.alert_webhook_secret {
            request = request.header("x-tideway-signature", signature(secret, &body));
        }
        let outcome = request.body(body).send().await;
        let failure = match outcome {
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
