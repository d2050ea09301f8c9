//! Storage budgets the broker enforces on produce, so a quota holds on the broker and not
//! only when a cluster or slice is requested.
//!
//! Two kinds, both per broker (the bytes of partition logs this broker holds):
//! - `max-bytes`: everything on the broker, the size of its volume less headroom;
//! - prefix budgets: the topics of one tenant's slice of a shared cluster (its topic
//!   prefix). The agent keeps them in a JSON file the broker rereads when it changes, so
//!   slices come and go without a restart.
//!
//! A write that would take a topic past a budget is refused with POLICY_VIOLATION and a
//! message naming the budget; other topics' writes and every topic's data are untouched.
//! Deleting records or topics, or retention, makes room again. Usage is recounted from
//! the logs at most every [`RECOUNT_EVERY`] and, in between, grows by what was admitted.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use serde::{Deserialize, Serialize};

/// How stale the counted usage may be before it is counted again from the logs.
pub const RECOUNT_EVERY: Duration = Duration::from_secs(1);
/// How often the budgets file's modification time is looked at.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// `[storage]` in the broker's file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StorageConfig {
    /// Most bytes of logs this broker holds.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// JSON list of [`PrefixBudget`]s; reread when it changes.
    #[serde(default)]
    pub budgets_file: Option<PathBuf>,
}

/// The budget of the topics whose names start with `prefix`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixBudget {
    /// Who it belongs to, for the refusal's message (e.g. the slice `team-a.orders`).
    pub name: String,
    pub prefix: String,
    pub max_bytes: u64,
}

/// A write refused because it would exceed a budget.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{owner} is used up: {used} of {max} held on this broker; delete records or topics, lower retention, or ask for a larger quota", used = human(*.used_bytes), max = human(*.max_bytes))]
pub struct BudgetExceeded {
    /// "the storage quota of slice team-a.orders" or "this broker's storage".
    pub owner: String,
    pub max_bytes: u64,
    pub used_bytes: u64,
}

/// Bytes for people: 1.5 GiB, 12.0 MiB, 512 B.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Whether `incoming` more bytes may be written to `topic`, given the bytes each topic
/// holds on this broker. Pure: the decision, apart from how usage is counted.
pub fn admit(
    max_bytes: Option<u64>,
    budgets: &[PrefixBudget],
    held: &BTreeMap<String, u64>,
    topic: &str,
    incoming: u64,
) -> Result<(), BudgetExceeded> {
    if let Some(max) = max_bytes {
        let used: u64 = held.values().sum();
        if used.saturating_add(incoming) > max {
            return Err(BudgetExceeded {
                owner: "this broker's storage".into(),
                max_bytes: max,
                used_bytes: used,
            });
        }
    }
    for b in budgets.iter().filter(|b| topic.starts_with(&b.prefix)) {
        let used: u64 = held
            .iter()
            .filter(|(t, _)| t.starts_with(&b.prefix))
            .map(|(_, n)| n)
            .sum();
        if used.saturating_add(incoming) > b.max_bytes {
            return Err(BudgetExceeded {
                owner: format!("the storage quota of {}", b.name),
                max_bytes: b.max_bytes,
                used_bytes: used,
            });
        }
    }
    Ok(())
}

/// Reads a budgets file; a missing file means no prefix budgets.
pub fn read_budgets(path: &Path) -> Result<Vec<PrefixBudget>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a list of storage budgets: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

struct Budgets {
    list: Vec<PrefixBudget>,
    stamp: Option<SystemTime>,
    checked: Instant,
}

struct Counted {
    held: BTreeMap<String, u64>,
    at: Instant,
}

/// The budgets of a running broker and the usage they are checked against.
pub struct StorageBudgets {
    config: StorageConfig,
    budgets: Mutex<Budgets>,
    counted: Mutex<Option<Counted>>,
}

impl StorageBudgets {
    /// Loads the budgets file named in `config`, if any; an unreadable file is an error
    /// at start (later, a bad rewrite is logged and the last good budgets stay).
    pub fn open(config: StorageConfig) -> Result<StorageBudgets, String> {
        let (list, stamp) = match &config.budgets_file {
            Some(path) => (read_budgets(path)?, modified(path)),
            None => (Vec::new(), None),
        };
        Ok(StorageBudgets {
            config,
            budgets: Mutex::new(Budgets {
                list,
                stamp,
                checked: Instant::now(),
            }),
            counted: Mutex::new(None),
        })
    }

    /// Whether any budget applies at all (else produce skips the check).
    pub fn enforced(&self) -> bool {
        self.config.max_bytes.is_some() || self.config.budgets_file.is_some()
    }

    /// The prefix budgets in force, reread when the file changed.
    pub fn budgets(&self) -> Vec<PrefixBudget> {
        let mut b = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.config.budgets_file {
            if b.checked.elapsed() >= RELOAD_EVERY {
                b.checked = Instant::now();
                let stamp = modified(path);
                if stamp != b.stamp {
                    match read_budgets(path) {
                        Ok(list) => {
                            tracing::info!(budgets = list.len(), "storage budgets reloaded");
                            b.list = list;
                            b.stamp = stamp;
                        }
                        Err(e) => tracing::warn!(error = %e, "storage budgets not reloaded"),
                    }
                }
            }
        }
        b.list.clone()
    }

    /// Admits `incoming` bytes to `topic` or says which budget they would exceed; admitted
    /// bytes count at once. `count` gives the bytes each topic holds, when a recount is due.
    pub fn admit(
        &self,
        topic: &str,
        incoming: u64,
        count: impl FnOnce() -> BTreeMap<String, u64>,
    ) -> Result<(), BudgetExceeded> {
        if !self.enforced() {
            return Ok(());
        }
        let budgets = self.budgets();
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        if counted
            .as_ref()
            .is_none_or(|c| c.at.elapsed() >= RECOUNT_EVERY)
        {
            *counted = Some(Counted {
                held: count(),
                at: Instant::now(),
            });
        }
        let c = counted.as_mut().expect("counted above");
        admit(self.config.max_bytes, &budgets, &c.held, topic, incoming)?;
        *c.held.entry(topic.to_owned()).or_default() += incoming;
        Ok(())
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(name: &str, prefix: &str, max_bytes: u64) -> PrefixBudget {
        PrefixBudget {
            name: name.into(),
            prefix: prefix.into(),
            max_bytes,
        }
    }

    #[test]
    fn writes_are_admitted_only_within_every_budget_that_applies() {
        let budgets = [
            budget("slice a.x", "a.x.", 1000),
            budget("slice b.y", "b.y.", 500),
        ];
        let held = BTreeMap::from([
            ("a.x.orders".to_owned(), 600),
            ("a.x.events".to_owned(), 300),
            ("b.y.t".to_owned(), 100),
            ("other".to_owned(), 2000),
        ]);
        type Refusal<'a> = Option<(&'a str, u64, u64)>;
        let cases: [(Option<u64>, &str, u64, Refusal); 7] = [
            // (broker max, topic, incoming, refused by (owner, max, used))
            (None, "a.x.orders", 100, None),
            (None, "a.x.new", 100, None),
            (
                None,
                "a.x.orders",
                101,
                Some(("the storage quota of slice a.x", 1000, 900)),
            ),
            (None, "b.y.t", 400, None),
            (
                None,
                "b.y.t",
                401,
                Some(("the storage quota of slice b.y", 500, 100)),
            ),
            // Topics of no slice are bounded only by the broker's storage.
            (None, "other", 1 << 40, None),
            (
                Some(3100),
                "b.y.t",
                101,
                Some(("this broker's storage", 3100, 3000)),
            ),
        ];
        for (max, topic, incoming, refused) in cases {
            let got = admit(max, &budgets, &held, topic, incoming);
            let want = refused.map(|(owner, max_bytes, used_bytes)| BudgetExceeded {
                owner: owner.into(),
                max_bytes,
                used_bytes,
            });
            assert_eq!(got.err(), want, "{topic} +{incoming} (broker max {max:?})");
        }
    }

    #[test]
    fn the_refusal_names_the_quota_and_the_way_out() {
        let e = BudgetExceeded {
            owner: "the storage quota of slice team-a.orders".into(),
            max_bytes: 10 << 20,
            used_bytes: (10 << 20) - 512,
        };
        assert_eq!(
            e.to_string(),
            "the storage quota of slice team-a.orders is used up: 10.0 MiB of 10.0 MiB held on \
             this broker; delete records or topics, lower retention, or ask for a larger quota"
        );
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn admitted_bytes_count_until_the_next_recount_and_the_file_is_reread() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("budgets.json");
        let write = |list: &[PrefixBudget]| {
            std::fs::write(&file, serde_json::to_vec(list).expect("json")).expect("write")
        };
        write(&[budget("slice a.x", "a.x.", 100)]);
        let storage = StorageBudgets::open(StorageConfig {
            max_bytes: None,
            budgets_file: Some(file.clone()),
        })
        .expect("open");
        let counts = std::cell::Cell::new(0);
        let count = || {
            counts.set(counts.get() + 1);
            BTreeMap::from([("a.x.t".to_owned(), 50)])
        };
        assert_eq!(storage.admit("a.x.t", 40, count), Ok(()));
        // 90 counted now, without a recount: 20 more would pass 100.
        let refused = storage.admit("a.x.t", 20, count).expect_err("over");
        assert_eq!((refused.used_bytes, counts.get()), (90, 1));
        // A larger budget written by the agent takes effect once the file is looked at.
        write(&[budget("slice a.x", "a.x.", 1000)]);
        let stamp = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(stamp))
            .expect("touch");
        storage.budgets.lock().expect("lock").checked -= RELOAD_EVERY;
        assert_eq!(storage.admit("a.x.t", 20, count), Ok(()));
        assert_eq!(storage.budgets()[0].max_bytes, 1000);
        // No budget at all: nothing is counted.
        let free = StorageBudgets::open(StorageConfig::default()).expect("open");
        assert_eq!(free.admit("a.x.t", u64::MAX, || unreachable!()), Ok(()));
    }
}
