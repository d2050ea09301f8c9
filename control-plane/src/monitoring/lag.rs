//! Burrow-style consumer lag evaluation: from a sliding window of observations of one
//! partition (committed offset, log-end offset, when), a status — OK, WARNING (lag
//! growing), STALL (commits without progress while lag exists), STOP (no commit for
//! longer than the window), REWIND (the committed offset went backwards), ERROR (the
//! offsets could not be read or make no sense) — plus the lag in time and an estimate
//! of when the lag will be cleared at the recent rates. Pure: no I/O.

use std::time::Duration;

pub use tideway_api::monitoring::LagStatus;

/// One look at a partition of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// When it was taken, in milliseconds since the epoch.
    pub at_ms: i64,
    /// The group's committed offset (the next record it will read).
    pub committed: i64,
    /// When the group last committed, in milliseconds since the epoch.
    pub committed_at_ms: i64,
    /// The partition's log-end offset (high watermark).
    pub end: i64,
    /// Timestamp of the record at `committed`, if there is one.
    pub next_record_ms: Option<i64>,
}

impl Observation {
    pub fn lag(&self) -> i64 {
        (self.end - self.committed).max(0)
    }
}

/// The evaluation of one partition.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: LagStatus,
    /// Records behind at the newest observation.
    pub lag: i64,
    /// How far behind the newest record the group is, in time (zero without lag).
    pub time_lag: Option<Duration>,
    /// When the lag will be cleared at the window's consume and produce rates; None when
    /// it is not shrinking.
    pub clears_in: Option<Duration>,
}

/// Evaluates a window of observations, oldest first, taken over `window`.
pub fn evaluate(observations: &[Observation], window: Duration) -> Verdict {
    let Some(last) = observations.last().copied() else {
        return Verdict {
            status: LagStatus::Error,
            lag: 0,
            time_lag: None,
            clears_in: None,
        };
    };
    let first = observations[0];
    let lag = last.lag();
    let time_lag = if lag == 0 {
        Some(Duration::ZERO)
    } else {
        last.next_record_ms
            .map(|t| Duration::from_millis((last.at_ms - t).max(0) as u64))
    };
    let verdict = |status| Verdict {
        status,
        lag,
        time_lag,
        clears_in: clears_in(&first, &last),
    };
    if observations
        .iter()
        .any(|o| o.committed > o.end || o.committed < 0)
    {
        return verdict(LagStatus::Error);
    }
    if observations
        .windows(2)
        .any(|w| w[1].committed < w[0].committed)
    {
        return verdict(LagStatus::Rewind);
    }
    if lag == 0 || observations.iter().any(|o| o.lag() == 0) {
        return verdict(LagStatus::Ok);
    }
    let silent_for = last.at_ms - last.committed_at_ms;
    if silent_for > window.as_millis() as i64 {
        return verdict(LagStatus::Stop);
    }
    if observations.len() >= 2 {
        let committed_again = observations
            .windows(2)
            .any(|w| w[1].committed_at_ms > w[0].committed_at_ms);
        if first.committed == last.committed && committed_again {
            return verdict(LagStatus::Stall);
        }
        if observations.windows(2).all(|w| w[1].lag() > w[0].lag()) {
            return verdict(LagStatus::Warning);
        }
    }
    verdict(LagStatus::Ok)
}

/// Time to clear the lag from the window's consume rate less its produce rate.
fn clears_in(first: &Observation, last: &Observation) -> Option<Duration> {
    let lag = last.lag();
    if lag == 0 {
        return Some(Duration::ZERO);
    }
    let secs = (last.at_ms - first.at_ms) as f64 / 1000.0;
    if secs <= 0.0 {
        return None;
    }
    let consumed = (last.committed - first.committed) as f64 / secs;
    let produced = (last.end - first.end) as f64 / secs;
    let shrinking = consumed - produced;
    (shrinking > 0.0).then(|| Duration::from_secs_f64(lag as f64 / shrinking))
}

/// A group's status: its worst partition's.
pub fn group_status<'a>(partitions: impl IntoIterator<Item = &'a Verdict>) -> LagStatus {
    partitions
        .into_iter()
        .map(|v| v.status)
        .max()
        .unwrap_or(LagStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);

    /// Observations one minute apart: (committed, minute of the last commit, end).
    fn window(points: &[(i64, i64, i64)]) -> Vec<Observation> {
        points
            .iter()
            .enumerate()
            .map(|(i, (committed, commit_minute, end))| Observation {
                at_ms: i as i64 * 60_000,
                committed: *committed,
                committed_at_ms: commit_minute * 60_000,
                end: *end,
                next_record_ms: Some(i as i64 * 60_000 - 30_000),
            })
            .collect()
    }

    #[test]
    fn every_status_from_its_window() {
        use LagStatus::*;
        /// What the window shows, its points, the verdict.
        type Case = (&'static str, Vec<(i64, i64, i64)>, LagStatus);
        let cases: &[Case] = &[
            (
                "caught up at some point",
                vec![(10, 0, 10), (15, 1, 20), (25, 2, 30)],
                Ok,
            ),
            (
                "lag steady, consumer keeps up",
                vec![(10, 0, 20), (20, 1, 30), (30, 2, 40)],
                Ok,
            ),
            (
                "lag grows every time",
                vec![(10, 0, 20), (15, 1, 30), (18, 2, 40)],
                Warning,
            ),
            (
                "commits but never moves",
                vec![(10, 0, 20), (10, 1, 25), (10, 2, 30)],
                Stall,
            ),
            (
                "no commit yet in the window, lag growing",
                vec![(10, 0, 20), (10, 0, 25), (10, 0, 30)],
                Warning,
            ),
            (
                "offset went back",
                vec![(30, 0, 40), (20, 1, 45), (25, 2, 50)],
                Rewind,
            ),
            (
                "committed past the end",
                vec![(10, 0, 20), (30, 1, 25)],
                Error,
            ),
        ];
        for (what, points, want) in cases {
            let got = evaluate(&window(points), WINDOW).status;
            assert_eq!(got, *want, "{what}");
        }
    }

    #[test]
    fn a_group_silent_past_the_window_is_stopped() {
        let mut w = window(&[(10, 0, 20), (10, 0, 25), (10, 0, 30)]);
        for o in &mut w {
            o.at_ms += 11 * 60_000;
        }
        assert_eq!(evaluate(&w, WINDOW).status, LagStatus::Stop);
        assert_eq!(evaluate(&[], WINDOW).status, LagStatus::Error);
    }

    #[test]
    fn time_lag_and_clearing_estimate() {
        // 100 records behind, consuming 3/min against 1/min produced: 50 minutes to go.
        let w = window(&[(0, 0, 100), (3, 1, 101), (6, 2, 102)]);
        let v = evaluate(&w, WINDOW);
        assert_eq!(v.lag, 96);
        assert_eq!(v.time_lag, Some(Duration::from_secs(30)));
        assert_eq!(v.clears_in, Some(Duration::from_secs(48 * 60)));
        let growing = evaluate(&window(&[(0, 0, 100), (1, 1, 110)]), WINDOW);
        assert_eq!(growing.clears_in, None, "never, at these rates");
    }

    #[test]
    fn a_group_is_as_bad_as_its_worst_partition() {
        let ok = evaluate(&window(&[(10, 0, 10)]), WINDOW);
        let stall = evaluate(&window(&[(10, 0, 20), (10, 1, 25)]), WINDOW);
        assert_eq!(group_status([&ok, &stall]), LagStatus::Stall);
        assert_eq!(group_status(std::iter::empty()), LagStatus::Ok);
    }
}
