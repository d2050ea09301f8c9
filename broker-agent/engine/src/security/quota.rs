//! Client quotas with Kafka's semantics: byte rates for produce and fetch and a request
//! percentage, configured per user and/or client id (with defaults), resolved in Kafka's
//! precedence order, measured over a sliding window and enforced by a throttle time: the
//! response says how long the client is throttled and the broker reads nothing more from
//! that connection until the time is over (KIP-219).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
/// The quota keys this broker knows.
pub const KEYS: &[&str] = &[PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE];

/// One side of an entity: a named user or client id, or the default for all of them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityName {
    Named(String),
    Default,
}

/// A quota entity: user, client id, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

/// A quota value (a double in Kafka), compared by its bits so that images stay `Eq`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for QuotaValue {}

/// Every configured quota: entity → key → value.
pub type QuotaConfigs = BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>;

/// Quota configs as a list of (entity, values) pairs: JSON map keys must be strings.
pub mod as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{QuotaConfigs, QuotaEntity, QuotaValue};

    type Entry = (QuotaEntity, BTreeMap<String, QuotaValue>);

    pub fn serialize<S: Serializer>(configs: &QuotaConfigs, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<(&QuotaEntity, &BTreeMap<String, QuotaValue>)> = configs.iter().collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<QuotaConfigs, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?.into_iter().collect())
    }
}

/// The entities to look a client's quota up in, most specific first (Kafka's order).
fn candidates(user: &str, client_id: &str) -> [QuotaEntity; 8] {
    let u = || Some(EntityName::Named(user.to_owned()));
    let c = || Some(EntityName::Named(client_id.to_owned()));
    let d = || Some(EntityName::Default);
    let e = |user, client_id| QuotaEntity { user, client_id };
    [
        e(u(), c()),
        e(u(), d()),
        e(u(), None),
        e(d(), c()),
        e(d(), d()),
        e(d(), None),
        e(None, c()),
        e(None, d()),
    ]
}

/// The quota that applies to a client for `key`, and the entity its usage is counted
/// under (defaults replaced by the client's own names: each user gets the default).
pub fn resolve(
    configs: &QuotaConfigs,
    user: &str,
    client_id: &str,
    key: &str,
) -> Option<(f64, QuotaEntity)> {
    candidates(user, client_id).into_iter().find_map(|entity| {
        let value = configs.get(&entity)?.get(key)?.0;
        let own =
            |side: Option<EntityName>, name: &str| side.map(|_| EntityName::Named(name.to_owned()));
        let counted = QuotaEntity {
            user: own(entity.user, user),
            client_id: own(entity.client_id, client_id),
        };
        Some((value, counted))
    })
}

/// How many one-second samples the rate is measured over. As in Kafka, the rate is the
/// total over the time since the oldest kept sample, so a client that was quiet for part
/// of that window may send a burst before it is throttled.
const SAMPLES: usize = 11;
const SAMPLE_LENGTH: Duration = Duration::from_secs(1);
/// The longest a single response throttles a client.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// A rate over a sliding window of samples.
#[derive(Debug, Default)]
struct Rate {
    samples: VecDeque<(Instant, f64)>,
}

impl Rate {
    fn record(&mut self, now: Instant, amount: f64) {
        match self.samples.back_mut() {
            Some((start, total)) if now.duration_since(*start) < SAMPLE_LENGTH => *total += amount,
            _ => self.samples.push_back((now, amount)),
        }
        while self.samples.len() > SAMPLES {
            self.samples.pop_front();
        }
    }

    /// Amount per second, and the time it was measured over (at least one sample long).
    fn measure(&self, now: Instant) -> (f64, Duration) {
        let Some((oldest, _)) = self.samples.front() else {
            return (0.0, SAMPLE_LENGTH);
        };
        let elapsed = now.duration_since(*oldest).max(SAMPLE_LENGTH);
        let total: f64 = self.samples.iter().map(|(_, a)| a).sum();
        (total / elapsed.as_secs_f64(), elapsed)
    }
}

/// Usage of every throttled client on this broker.
#[derive(Debug, Default)]
pub struct QuotaUsage {
    rates: Mutex<HashMap<(QuotaEntity, &'static str), Rate>>,
}

impl QuotaUsage {
    /// Records `amount` against the client's quota for `key` (a byte count, or for the
    /// request percentage the handling time in percent-seconds) and returns how long the
    /// client must now wait so that its rate falls back to the quota.
    pub fn record(
        &self,
        configs: &QuotaConfigs,
        user: &str,
        client_id: &str,
        key: &'static str,
        amount: f64,
    ) -> Duration {
        if configs.is_empty() {
            return Duration::ZERO;
        }
        let Some((quota, entity)) = resolve(configs, user, client_id, key) else {
            return Duration::ZERO;
        };
        if quota <= 0.0 {
            return MAX_THROTTLE;
        }
        let now = Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let rate = rates.entry((entity, key)).or_default();
        rate.record(now, amount);
        let (observed, window) = rate.measure(now);
        if observed <= quota {
            return Duration::ZERO;
        }
        window.mul_f64((observed - quota) / quota).min(MAX_THROTTLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(entity: QuotaEntity, key: &str, value: f64) -> QuotaConfigs {
        BTreeMap::from([(
            entity,
            BTreeMap::from([(key.to_owned(), QuotaValue(value))]),
        )])
    }

    #[test]
    fn the_most_specific_entity_wins() {
        let mut configs = quota(
            QuotaEntity {
                user: Some(EntityName::Default),
                client_id: None,
            },
            PRODUCER_BYTE_RATE,
            100.0,
        );
        configs.extend(quota(
            QuotaEntity {
                user: Some(EntityName::Named("alice".into())),
                client_id: None,
            },
            PRODUCER_BYTE_RATE,
            500.0,
        ));
        let (v, counted) = resolve(&configs, "alice", "app", PRODUCER_BYTE_RATE).expect("quota");
        assert_eq!(v, 500.0);
        assert_eq!(counted.user, Some(EntityName::Named("alice".into())));
        let (v, counted) = resolve(&configs, "bob", "app", PRODUCER_BYTE_RATE).expect("default");
        assert_eq!(v, 100.0);
        assert_eq!(
            counted.user,
            Some(EntityName::Named("bob".into())),
            "each user has its own default"
        );
        assert!(resolve(&configs, "bob", "app", CONSUMER_BYTE_RATE).is_none());
    }

    #[test]
    fn going_over_the_rate_throttles_in_proportion() {
        let configs = quota(
            QuotaEntity {
                user: None,
                client_id: Some(EntityName::Named("app".into())),
            },
            PRODUCER_BYTE_RATE,
            1000.0,
        );
        let usage = QuotaUsage::default();
        assert_eq!(
            usage.record(&configs, "u", "app", PRODUCER_BYTE_RATE, 900.0),
            Duration::ZERO
        );
        // 3000 bytes within the first second against 1000 B/s: two more seconds to wait.
        let wait = usage.record(&configs, "u", "app", PRODUCER_BYTE_RATE, 2100.0);
        assert!(
            wait >= Duration::from_millis(1900) && wait <= Duration::from_millis(2100),
            "{wait:?}"
        );
        assert_eq!(
            usage.record(&configs, "u", "other", PRODUCER_BYTE_RATE, 1e9),
            Duration::ZERO
        );
    }
}
