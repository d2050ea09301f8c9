//! Durable group state: committed offsets and each group's generation, kept in an
//! append-only file of JSON lines on the data volume (fsynced per commit), replayed at
//! start and rewritten when mostly stale. Kafka keeps the same facts in a compacted
//! internal topic; a standalone broker needs no replication of them.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

/// What a group keeps across restarts besides offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub generation: i32,
    pub protocol_type: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Line {
    Offset {
        g: String,
        topic: String,
        p: i32,
        c: Option<Committed>,
    },
    Group {
        g: String,
        r: Option<GroupRecord>,
    },
}

/// Offsets by (topic, partition) per group, plus group records.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub offsets: BTreeMap<String, BTreeMap<(String, i32), Committed>>,
    pub groups: BTreeMap<String, GroupRecord>,
}

impl Snapshot {
    fn apply(&mut self, line: Line) {
        match line {
            Line::Offset {
                g,
                topic,
                p,
                c: Some(c),
            } => {
                self.offsets.entry(g).or_default().insert((topic, p), c);
            }
            Line::Offset {
                g,
                topic,
                p,
                c: None,
            } => {
                if let Some(m) = self.offsets.get_mut(&g) {
                    m.remove(&(topic, p));
                    if m.is_empty() {
                        self.offsets.remove(&g);
                    }
                }
            }
            Line::Group { g, r: Some(r) } => {
                self.groups.insert(g, r);
            }
            Line::Group { g, r: None } => {
                self.groups.remove(&g);
                self.offsets.remove(&g);
            }
        }
    }

    fn live_lines(&self) -> usize {
        self.offsets.values().map(BTreeMap::len).sum::<usize>() + self.groups.len()
    }
}

/// The store's file and its replayed contents.
pub struct GroupStore {
    path: PathBuf,
    file: File,
    lines: usize,
    pub state: Snapshot,
}

/// Rewrite the file when it holds this many times more lines than live facts.
const COMPACT_RATIO: usize = 4;
const COMPACT_MIN_LINES: usize = 1000;

impl GroupStore {
    /// Opens the store, replaying it; a torn last line (crash mid-write) is dropped.
    pub fn open(path: &Path) -> io::Result<GroupStore> {
        let mut state = Snapshot::default();
        let mut lines = 0;
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines() {
                let line = line?;
                match serde_json::from_str::<Line>(&line) {
                    Ok(l) => {
                        state.apply(l);
                        lines += 1;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "ignoring a torn group-store line")
                    }
                }
            }
        }
        let mut store = GroupStore {
            path: path.to_owned(),
            file: OpenOptions::new().create(true).append(true).open(path)?,
            lines,
            state,
        };
        store.compact()?;
        Ok(store)
    }

    fn append(&mut self, lines: &[Line]) -> io::Result<()> {
        let mut buf = Vec::new();
        for l in lines {
            serde_json::to_writer(&mut buf, l).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.lines += lines.len();
        if self.lines > COMPACT_MIN_LINES && self.lines > COMPACT_RATIO * self.state.live_lines() {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only the live facts.
    fn compact(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut n = 0;
        for (g, r) in &self.state.groups {
            serde_json::to_writer(
                &mut buf,
                &Line::Group {
                    g: g.clone(),
                    r: Some(r.clone()),
                },
            )
            .map_err(io::Error::other)?;
            buf.push(b'\n');
            n += 1;
        }
        for (g, offsets) in &self.state.offsets {
            for ((topic, p), c) in offsets {
                let line = Line::Offset {
                    g: g.clone(),
                    topic: topic.clone(),
                    p: *p,
                    c: Some(c.clone()),
                };
                serde_json::to_writer(&mut buf, &line).map_err(io::Error::other)?;
                buf.push(b'\n');
                n += 1;
            }
        }
        write_atomic(&self.path, &buf)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = n;
        Ok(())
    }

    /// Records commits of one group durably.
    pub fn commit(
        &mut self,
        group: &str,
        offsets: Vec<((String, i32), Committed)>,
    ) -> io::Result<()> {
        let lines: Vec<Line> = offsets
            .into_iter()
            .map(|((topic, p), c)| Line::Offset {
                g: group.to_owned(),
                topic,
                p,
                c: Some(c),
            })
            .collect();
        self.append(&lines)?;
        for l in lines {
            self.state.apply(l);
        }
        Ok(())
    }

    /// Records a group's generation after a rebalance.
    pub fn record_group(&mut self, group: &str, record: GroupRecord) -> io::Result<()> {
        if self.state.groups.get(group) == Some(&record) {
            return Ok(());
        }
        let line = Line::Group {
            g: group.to_owned(),
            r: Some(record),
        };
        self.append(std::slice::from_ref(&line))?;
        self.state.apply(line);
        Ok(())
    }

    /// Forgets a group and its offsets.
    pub fn delete_group(&mut self, group: &str) -> io::Result<()> {
        let line = Line::Group {
            g: group.to_owned(),
            r: None,
        };
        self.append(std::slice::from_ref(&line))?;
        self.state.apply(line);
        Ok(())
    }

    /// Drops offsets of a deleted topic.
    pub fn forget_topic(&mut self, topic: &str) -> io::Result<()> {
        let doomed: Vec<Line> = self
            .state
            .offsets
            .iter()
            .flat_map(|(g, m)| {
                m.keys()
                    .filter(|(t, _)| t == topic)
                    .map(|(t, p)| Line::Offset {
                        g: g.clone(),
                        topic: t.clone(),
                        p: *p,
                        c: None,
                    })
            })
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        self.append(&doomed)?;
        for l in doomed {
            self.state.apply(l);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(offset: i64) -> Committed {
        Committed {
            offset,
            leader_epoch: 0,
            metadata: Some("m".into()),
            commit_ms: 1,
        }
    }

    #[test]
    fn commits_survive_reopen_torn_lines_and_compaction() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("groups.log");
        let mut s = GroupStore::open(&path).expect("open");
        s.record_group(
            "g1",
            GroupRecord {
                generation: 3,
                protocol_type: Some("consumer".into()),
            },
        )
        .expect("group");
        for i in 0..1500 {
            s.commit("g1", vec![(("t".into(), 0), c(i))])
                .expect("commit");
        }
        s.commit("g2", vec![(("t".into(), 1), c(7)), (("u".into(), 0), c(8))])
            .expect("commit");
        s.forget_topic("u").expect("forget");
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert!(lines < 1500, "compaction rewrote the file ({lines} lines)");
        // A crash mid-write leaves half a line.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("f")
            .write_all(b"{\"t\":\"offs")
            .expect("w");
        let s = GroupStore::open(&path).expect("reopen");
        assert_eq!(s.state.offsets["g1"][&("t".into(), 0)].offset, 1499);
        assert_eq!(s.state.offsets["g2"].len(), 1);
        assert_eq!(s.state.groups["g1"].generation, 3);
        let mut s = s;
        s.delete_group("g1").expect("delete");
        let s = GroupStore::open(&path).expect("reopen");
        assert!(!s.state.offsets.contains_key("g1") && !s.state.groups.contains_key("g1"));
    }
}
