//! Delivery of alert transitions to the configured webhook: each is POSTed as JSON and
//! retried with exponential backoff (1 s doubling up to 5 min) until the receiver answers
//! 2xx, or given up after `MAX_ATTEMPTS`.

use std::time::Duration;

use crate::{db, error::ApiError, state::AppState};

/// Attempts before a notification is given up.
pub const MAX_ATTEMPTS: i32 = 12;

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 16)).min(Duration::from_secs(300))
}

/// Sends every notification that is due.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<usize, ApiError> {
    let Some(url) = state.config.alert_webhook_url.as_deref() else {
        return Ok(0);
    };
    let mut sent = 0;
    for n in db::alerts::due(&state.db, 100).await? {
        let outcome = http
            .post(url)
            .json(&n.payload)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
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
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(11), Duration::from_secs(300));
    }
}
