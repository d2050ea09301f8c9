//! Line charts drawn on the server as SVG: a series becomes a path scaled into a fixed
//! view box, with its largest and latest values as readable labels. Only numbers go into
//! the path, and the template escapes every label.

use tideway_api::monitoring::Series;

/// The view box's size; the SVG scales to its container.
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 160.0;

/// A chart ready for the template.
pub struct Chart {
    /// The series name (`bytes_in_per_sec`, `lag:orders`...), for tests and styling.
    pub name: String,
    pub title: String,
    /// SVG path data, empty when there are fewer than two points.
    pub path: String,
    /// The largest value, formatted with its unit (the top of the chart).
    pub max: String,
    /// The newest value, formatted with its unit.
    pub last: String,
    pub points: usize,
    pub from: String,
    pub to: String,
}

/// Draws `series` scaled to its own maximum (at least 1, so an idle series is flat).
pub fn line(series: &Series, title: &str) -> Chart {
    let points = &series.points;
    let max = points.iter().map(|p| p.value).fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max } else { 1.0 };
    let (first, last) = (points.first(), points.last());
    let span = match (first, last) {
        (Some(a), Some(b)) => (b.at - a.at).num_milliseconds().max(1) as f64,
        _ => 1.0,
    };
    let mut path = String::new();
    if points.len() >= 2 {
        let start = points[0].at;
        for (i, p) in points.iter().enumerate() {
            let x = (p.at - start).num_milliseconds() as f64 / span * WIDTH;
            let y = HEIGHT - (p.value / top) * (HEIGHT - 10.0);
            path.push_str(&format!("{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" }));
        }
    }
    let time = |p: Option<&tideway_api::monitoring::Point>| {
        p.map(|p| p.at.format("%H:%M").to_string())
            .unwrap_or_default()
    };
    Chart {
        name: series.name.clone(),
        title: title.to_owned(),
        path: path.trim_end().to_owned(),
        max: human(max, &series.unit),
        last: last.map_or_else(
            || "no data yet".to_owned(),
            |p| human(p.value, &series.unit),
        ),
        points: points.len(),
        from: time(first),
        to: time(last),
    }
}

/// A value with its unit, in K/M/G steps (binary steps for bytes).
pub fn human(value: f64, unit: &str) -> String {
    let binary = unit.starts_with('B');
    let step = if binary { 1024.0 } else { 1000.0 };
    let prefixes = if binary {
        ["", "Ki", "Mi", "Gi", "Ti"]
    } else {
        ["", "k", "M", "G", "T"]
    };
    let mut v = value;
    let mut i = 0;
    while v.abs() >= step && i < prefixes.len() - 1 {
        v /= step;
        i += 1;
    }
    let number = if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    format!("{number} {}{unit}", prefixes[i])
        .trim_end()
        .to_owned()
}

/// A duration in milliseconds as `1h 2m`, `3m 4s` or `5.0 s`.
pub fn duration_ms(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use tideway_api::monitoring::Point;

    use super::*;

    #[test]
    fn a_series_is_scaled_into_the_view_box() {
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time");
        let series = Series {
            name: "bytes_in_per_sec".into(),
            unit: "B/s".into(),
            points: vec![
                Point {
                    at: at(0),
                    value: 0.0,
                },
                Point {
                    at: at(30),
                    value: 2048.0,
                },
                Point {
                    at: at(60),
                    value: 1024.0,
                },
            ],
        };
        let chart = line(&series, "Bytes in");
        assert_eq!(chart.path, "M0.0,160.0 L300.0,10.0 L600.0,85.0");
        assert_eq!(chart.max, "2 KiB/s");
        assert_eq!(chart.last, "1 KiB/s");
    }

    #[test]
    fn values_and_durations_read_well() {
        assert_eq!(human(1500.0, "msg/s"), "1.5 kmsg/s");
        assert_eq!(human(12.0, "records"), "12 records");
        assert_eq!(duration_ms(4_500), "4.5 s");
        assert_eq!(duration_ms(125_000), "2m 5s");
        assert_eq!(duration_ms(7_380_000), "2h 3m");
    }
}
