//! Throttling of password guessing: each username and each client address may fail a few
//! logins, then is locked for a time that doubles with every further failure. The policy
//! is pure (table-tested below); the counts live in Postgres so every replica sees them.

use std::{net::IpAddr, time::Duration};

use crate::{db, error::ApiError, state::AppState};

/// How a kind of key is throttled.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures allowed before the first lock.
    pub free_failures: i32,
    /// The first lock; each further failure doubles it.
    pub first_lock: Duration,
    /// The longest lock.
    pub max_lock: Duration,
}

/// A username: someone guessing one account's password.
pub const PER_USER: Policy = Policy {
    free_failures: 5,
    first_lock: Duration::from_secs(30),
    max_lock: Duration::from_secs(15 * 60),
};
/// A client address: someone trying many accounts (more lenient: many people may share one
/// address behind a NAT).
pub const PER_ADDRESS: Policy = Policy {
    free_failures: 20,
    first_lock: Duration::from_secs(30),
    max_lock: Duration::from_secs(15 * 60),
};
/// Failures are forgotten after this long without a new one.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

impl Policy {
    /// How long a key is locked after its `failures`-th failure in a row, if at all.
    pub fn lock_after(&self, failures: i32) -> Option<Duration> {
        let beyond = failures - self.free_failures;
        if beyond < 0 {
            return None;
        }
        let doubled = self
            .first_lock
            .saturating_mul(1u32.checked_shl(beyond.min(31) as u32).unwrap_or(u32::MAX));
        Some(doubled.min(self.max_lock))
    }
}

/// The keys one login attempt counts against.
fn keys(username: &str, client: Option<IpAddr>) -> Vec<(String, Policy)> {
    let mut keys = vec![(format!("user:{}", username.to_lowercase()), PER_USER)];
    if let Some(ip) = client {
        keys.push((format!("addr:{ip}"), PER_ADDRESS));
    }
    keys
}

fn too_many(seconds: i64) -> ApiError {
    let seconds = seconds.max(1) as u64;
    ApiError::TooManyRequests {
        detail: format!("too many failed logins; try again in {seconds} s"),
        retry_after_secs: seconds,
    }
}

/// Refuses the attempt (429 with Retry-After) while its username or address is locked.
pub async fn check(
    state: &AppState,
    username: &str,
    client: Option<IpAddr>,
) -> Result<(), ApiError> {
    let names: Vec<String> = keys(username, client).into_iter().map(|k| k.0).collect();
    match db::login_failures::locked_until(&state.db, &names).await? {
        Some(until) => Err(too_many((until - chrono::Utc::now()).num_seconds() + 1)),
        None => Ok(()),
    }
}

/// Counts a failed attempt, locking what reached its limit.
pub async fn failed(
    state: &AppState,
    username: &str,
    client: Option<IpAddr>,
) -> Result<(), ApiError> {
    for (key, policy) in keys(username, client) {
        let n = db::login_failures::record_failure(&state.db, &key, FORGET_AFTER.as_secs() as i64)
            .await?;
        if let Some(lock) = policy.lock_after(n) {
            db::login_failures::lock(&state.db, &key, lock.as_secs() as i64).await?;
            tracing::warn!(%key, failures = n, lock_secs = lock.as_secs(), "login throttled");
        }
    }
    Ok(())
}

/// Forgets the username's failures after a successful login (the address keeps its count:
/// one right password does not excuse guessing at other accounts).
pub async fn succeeded(state: &AppState, username: &str) -> Result<(), ApiError> {
    db::login_failures::clear(&state.db, &keys(username, None)[0].0).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_after_the_free_failures_and_double_up_to_the_cap() {
        let s = Duration::from_secs;
        for (failures, lock) in [
            (1, None),
            (4, None),
            (5, Some(s(30))),
            (6, Some(s(60))),
            (7, Some(s(120))),
            (9, Some(s(480))),
            (10, Some(s(900))),
            (500, Some(s(900))),
        ] {
            assert_eq!(PER_USER.lock_after(failures), lock, "{failures}");
        }
        assert_eq!(PER_ADDRESS.lock_after(19), None);
        assert_eq!(PER_ADDRESS.lock_after(20), Some(s(30)));
    }

    #[test]
    fn an_attempt_counts_against_its_user_and_its_address() {
        let ip: IpAddr = "10.1.2.3".parse().expect("ip");
        let k: Vec<String> = keys("Ann", Some(ip)).into_iter().map(|k| k.0).collect();
        assert_eq!(k, vec!["user:ann", "addr:10.1.2.3"]);
        assert_eq!(keys("ann", None).len(), 1);
    }
}
