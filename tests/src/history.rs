//! A Jepsen-style history checker for replication tests under faults. A test logs every
//! write a producer had acknowledged and every record a consumer read, then reads the
//! final committed log; [`check`] reports, per producer, the acknowledged records lost,
//! found elsewhere than acknowledged, duplicated and reordered, and every read of a
//! record the cluster did not keep.
//!
//! Values are `<producer>-<sequence>` (e.g. `p0-17`): the producer's name and the order
//! it sent its records in, which is what reordering is judged by.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    time::{Duration, Instant},
};

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    ClientConfig, Message, Offset, TopicPartitionList,
};

/// The committed log: (partition, offset) → value.
pub type FinalLog = HashMap<(i32, i64), String>;

/// What went wrong for one producer's records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerReport {
    pub acknowledged: usize,
    /// Acknowledged, and nowhere in the final log.
    pub lost: Vec<String>,
    /// Acknowledged at one offset, found at another.
    pub misplaced: Vec<String>,
    /// In the final log more than once.
    pub duplicated: Vec<String>,
    /// (earlier-sent, later-sent) pairs the log holds the other way round.
    pub reordered: Vec<(String, String)>,
}

impl ProducerReport {
    fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.misplaced.is_empty()
            && self.duplicated.is_empty()
            && self.reordered.is_empty()
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub producers: BTreeMap<String, ProducerReport>,
    /// Reads of (partition, offset, value) the final log does not hold there.
    pub phantom_reads: Vec<(i32, i64, String)>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.phantom_reads.is_empty() && self.producers.values().all(ProducerReport::is_clean)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, p) in &self.producers {
            writeln!(
                f,
                "{name}: {} acknowledged, {} lost {:?}, {} misplaced {:?}, {} duplicated {:?}, {} reordered {:?}",
                p.acknowledged,
                p.lost.len(),
                p.lost,
                p.misplaced.len(),
                p.misplaced,
                p.duplicated.len(),
                p.duplicated,
                p.reordered.len(),
                p.reordered
            )?;
        }
        write!(
            f,
            "{} phantom reads {:?}",
            self.phantom_reads.len(),
            self.phantom_reads
        )
    }
}

/// `p0-17` → ("p0", 17).
fn producer_and_sequence(value: &str) -> Option<(&str, u64)> {
    let (producer, seq) = value.rsplit_once('-')?;
    Some((producer, seq.parse().ok()?))
}

/// Judges a history: `acked` (value, partition, offset), `reads` (partition, offset,
/// value) and the final `log`.
pub fn check(acked: &[(String, i32, i64)], reads: &[(i32, i64, String)], log: &FinalLog) -> Report {
    let mut report = Report::default();
    let producer_of = |v: &str| producer_and_sequence(v).map_or(v, |(p, _)| p).to_owned();
    let mut places: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
    for (place, v) in log {
        places.entry(v.as_str()).or_default().push(*place);
    }
    for (value, partition, offset) in acked {
        let p = report.producers.entry(producer_of(value)).or_default();
        p.acknowledged += 1;
        match places.get(value.as_str()) {
            None => p.lost.push(value.clone()),
            Some(at) if !at.contains(&(*partition, *offset)) => p.misplaced.push(value.clone()),
            Some(_) => {}
        }
    }
    let mut entries: Vec<(&(i32, i64), &String)> = log.iter().collect();
    entries.sort();
    let mut last: HashMap<(i32, &str), (u64, &str)> = HashMap::new();
    for ((partition, _), value) in entries {
        if places[value.as_str()].len() > 1 {
            let p = report.producers.entry(producer_of(value)).or_default();
            if !p.duplicated.contains(value) {
                p.duplicated.push(value.clone());
            }
        }
        let Some((producer, seq)) = producer_and_sequence(value) else {
            continue;
        };
        if let Some((prev, prev_value)) = last.get(&(*partition, producer)) {
            if *prev > seq {
                report
                    .producers
                    .entry(producer.to_owned())
                    .or_default()
                    .reordered
                    .push((value.clone(), (*prev_value).to_owned()));
            }
        }
        last.insert((*partition, producer), (seq, value));
    }
    report.phantom_reads = reads
        .iter()
        .filter(|(p, o, v)| log.get(&(*p, *o)) != Some(v))
        .cloned()
        .collect();
    report
}

/// Reads the whole committed log of `topic` (every partition up to its high watermark)
/// through `client`.
pub fn read_final_log(client: &ClientConfig, topic: &str, partitions: i32) -> FinalLog {
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", "final-log-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in 0..partitions {
        // A leader elected a moment ago answers OFFSET_NOT_AVAILABLE until its high
        // watermark has caught up: ask again, within a deadline.
        let deadline = Instant::now() + Duration::from_secs(30);
        let high = loop {
            match consumer.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                Ok((_, h)) => break h,
                Err(e) if Instant::now() > deadline => panic!("watermarks of {topic}-{p}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        ends.insert(p, high);
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = FinalLog::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |out: &FinalLog| {
        ends.iter()
            .all(|(p, end)| out.keys().filter(|(q, _)| q == p).count() as i64 >= *end)
    };
    while !done(&out) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            out.insert((m.partition(), m.offset()), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(entries: &[(i32, i64, &str)]) -> FinalLog {
        entries
            .iter()
            .map(|(p, o, v)| ((*p, *o), v.to_string()))
            .collect()
    }

    fn ack(v: &str, p: i32, o: i64) -> (String, i32, i64) {
        (v.to_owned(), p, o)
    }

    #[test]
    fn a_faithful_history_is_clean() {
        let l = log(&[
            (0, 0, "p0-0"),
            (0, 1, "p1-0"),
            (0, 2, "p0-1"),
            (1, 0, "p1-1"),
        ]);
        let acked = [ack("p0-0", 0, 0), ack("p0-1", 0, 2), ack("p1-1", 1, 0)];
        // p1-0 was written but its acknowledgement was lost: allowed.
        let r = check(&acked, &[(0, 1, "p1-0".into())], &l);
        assert!(r.is_clean(), "{r}");
        assert_eq!(r.producers["p0"].acknowledged, 2);
    }

    #[test]
    fn each_kind_of_fault_is_reported_against_its_producer() {
        let l = log(&[
            (0, 0, "p0-1"),
            (0, 1, "p0-0"), // p0 reordered
            (0, 2, "p1-0"),
            (0, 3, "p1-0"), // p1 duplicated
            (1, 0, "p2-5"), // p2-5 acknowledged at 1/1
        ]);
        let acked = [
            ack("p0-0", 0, 1),
            ack("p0-1", 0, 0),
            ack("p1-0", 0, 2),
            ack("p2-4", 1, 3), // lost
            ack("p2-5", 1, 1),
        ];
        let reads = [(1, 0, "p2-5".to_owned()), (1, 7, "p2-9".to_owned())];
        let r = check(&acked, &reads, &l);
        assert!(!r.is_clean());
        assert_eq!(
            r.producers["p0"].reordered,
            [("p0-0".into(), "p0-1".into())]
        );
        assert_eq!(r.producers["p1"].duplicated, ["p1-0"]);
        assert_eq!(r.producers["p2"].lost, ["p2-4"]);
        assert_eq!(r.producers["p2"].misplaced, ["p2-5"]);
        assert_eq!(r.phantom_reads, [(1, 7, "p2-9".to_owned())]);
        assert!(r.producers["p0"].lost.is_empty() && r.producers["p1"].reordered.is_empty());
    }
}
