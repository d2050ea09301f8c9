//! A cluster's metric series over a time range, from the stored samples: byte and message
//! rates from cumulative counters, disk use, healthy brokers, and each consumer group's
//! lag. Long ranges are averaged into at most `MAX_POINTS` buckets. A tenant's slice of a
//! shared cluster sees only its own topics and groups, never the shared brokers' totals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tideway_api::{
    clusters::Cluster,
    monitoring::{ClusterMetrics, Point, Series, TopicThroughput},
    ClusterId,
};

use crate::{
    auth::Caller, db, error::ApiError, service::clusters, service::security::serving_cluster,
    state::AppState,
};

/// Points per series at most.
pub const MAX_POINTS: usize = 240;

/// The ranges offered, with their length.
pub const RANGES: &[(&str, i64)] = &[
    ("1h", 3600),
    ("6h", 6 * 3600),
    ("24h", 86_400),
    ("7d", 7 * 86_400),
];

/// The range's length, or a readable error.
pub fn parse_range(range: Option<&str>) -> Result<(&'static str, chrono::Duration), ApiError> {
    let wanted = range.unwrap_or("1h");
    RANGES
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(name, secs)| (*name, chrono::Duration::seconds(*secs)))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "range must be one of 1h, 6h, 24h or 7d (got {wanted:?})"
            ))
        })
}

/// The metrics of cluster `id` as `caller` may see it.
pub async fn of(
    state: &AppState,
    caller: &Caller,
    id: ClusterId,
    range: Option<&str>,
) -> Result<ClusterMetrics, ApiError> {
    let (range, _) = parse_range(range)?;
    let cluster = clusters::get(state, caller, id).await?;
    of_cluster(state, &cluster, range).await
}

pub async fn of_cluster(
    state: &AppState,
    cluster: &Cluster,
    range: &str,
) -> Result<ClusterMetrics, ApiError> {
    let (range, length) = parse_range(Some(range))?;
    let since = Utc::now() - length;
    let serving = serving_cluster(cluster);
    let prefix = cluster.topic_prefix.clone().unwrap_or_default();
    let mut series = Vec::new();
    if cluster.shared_cluster_id.is_none() {
        let totals = db::samples::broker_totals(&state.db, serving, since).await?;
        let counter = |f: fn(&db::samples::BrokerTotals) -> i64| {
            totals.iter().map(|t| (t.0, f(t))).collect::<Vec<_>>()
        };
        series.push(named("bytes_in_per_sec", "B/s", rates(&counter(|t| t.1))));
        series.push(named("bytes_out_per_sec", "B/s", rates(&counter(|t| t.2))));
        series.push(named("disk_used_bytes", "B", gauge(&counter(|t| t.3))));
        series.push(named(
            "brokers_healthy",
            "brokers",
            gauge(&counter(|t| t.4)),
        ));
    }
    let topic_rows = db::samples::topic_series(&state.db, serving, &prefix, since).await?;
    let mut per_topic: BTreeMap<String, Vec<(DateTime<Utc>, i64)>> = BTreeMap::new();
    let mut messages: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    for (topic, at, ends) in topic_rows {
        if topic.starts_with("__") {
            continue;
        }
        per_topic.entry(topic).or_default().push((at, ends));
        *messages.entry(at).or_default() += ends;
    }
    let messages: Vec<_> = messages.into_iter().collect();
    series.push(named("messages_in_per_sec", "msg/s", rates(&messages)));
    let topics = per_topic
        .into_iter()
        .map(|(topic, points)| {
            let (first, last) = (points[0], points[points.len() - 1]);
            let secs = (last.0 - first.0).num_milliseconds() as f64 / 1000.0;
            TopicThroughput {
                topic,
                messages_per_sec: if secs > 0.0 {
                    (last.1 - first.1).max(0) as f64 / secs
                } else {
                    0.0
                },
                messages_total: last.1,
            }
        })
        .collect();
    let mut lag: BTreeMap<String, Vec<(DateTime<Utc>, i64)>> = BTreeMap::new();
    for (group, at, total) in
        db::samples::group_lag_series(&state.db, serving, &prefix, since).await?
    {
        lag.entry(group).or_default().push((at, total));
    }
    for (group, points) in lag {
        series.push(named(&format!("lag:{group}"), "records", gauge(&points)));
    }
    Ok(ClusterMetrics {
        cluster_id: cluster.id,
        range: range.to_owned(),
        series,
        topics,
    })
}

fn named(name: &str, unit: &str, points: Vec<Point>) -> Series {
    Series {
        name: name.to_owned(),
        unit: unit.to_owned(),
        points: downsample(points),
    }
}

/// Per-second rates between consecutive samples of a cumulative counter; a counter that
/// went down (a broker restarted) starts again from zero.
pub fn rates(counter: &[(DateTime<Utc>, i64)]) -> Vec<Point> {
    counter
        .windows(2)
        .filter_map(|w| {
            let secs = (w[1].0 - w[0].0).num_milliseconds() as f64 / 1000.0;
            let delta = if w[1].1 >= w[0].1 {
                w[1].1 - w[0].1
            } else {
                w[1].1
            };
            (secs > 0.0).then(|| Point {
                at: w[1].0,
                value: delta as f64 / secs,
            })
        })
        .collect()
}

fn gauge(values: &[(DateTime<Utc>, i64)]) -> Vec<Point> {
    values
        .iter()
        .map(|(at, v)| Point {
            at: *at,
            value: *v as f64,
        })
        .collect()
}

/// Averages consecutive points into at most `MAX_POINTS` (each at its bucket's last time).
pub fn downsample(points: Vec<Point>) -> Vec<Point> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let per_bucket = points.len().div_ceil(MAX_POINTS);
    points
        .chunks(per_bucket)
        .map(|chunk| Point {
            at: chunk[chunk.len() - 1].at,
            value: chunk.iter().map(|p| p.value).sum::<f64>() / chunk.len() as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).expect("time")
    }

    #[test]
    fn rates_come_from_counter_deltas_and_survive_a_restart() {
        let points = rates(&[(at(0), 100), (at(60), 700), (at(120), 60)]);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].value, 10.0);
        assert_eq!(
            points[1].value, 1.0,
            "after a restart the counter starts from zero"
        );
    }

    #[test]
    fn a_week_of_minutes_is_averaged_into_at_most_max_points() {
        let week: Vec<Point> = (0..7 * 1440)
            .map(|m| Point {
                at: at(m * 60),
                value: (m % 2) as f64,
            })
            .collect();
        let down = downsample(week);
        assert!(down.len() <= MAX_POINTS, "{}", down.len());
        assert!(down.len() >= MAX_POINTS / 2);
        assert!((down[0].value - 0.5).abs() < 0.05, "{}", down[0].value);
    }

    #[test]
    fn only_the_offered_ranges_parse() {
        assert_eq!(parse_range(None).expect("default").0, "1h");
        assert_eq!(
            parse_range(Some("7d")).expect("7d").1,
            chrono::Duration::days(7)
        );
        assert!(parse_range(Some("5m")).is_err());
    }
}
