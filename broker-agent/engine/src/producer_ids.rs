//! Producer ids for idempotent producers (InitProducerId), never given twice. A
//! standalone broker hands them out from blocks whose end is written to the data volume
//! before any id of the block is used, so not even after a crash. In cluster mode every
//! block comes from the metadata quorum (Kafka's AllocateProducerIds), so no two brokers
//! give out the same id either.

use std::path::{Path, PathBuf};

use crate::fsutil::write_atomic;

/// Ids reserved per write (or per quorum allocation).
const BLOCK: i64 = 1000;

/// A block of ids from the quorum, handed out one by one.
#[derive(Debug, Default)]
pub struct QuorumBlock {
    next: i64,
    end: i64,
}

impl QuorumBlock {
    fn take(&mut self) -> Option<i64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// A producer id from this broker's quorum block, taking a new block from the quorum when
/// it is used up. The lock is held across the allocation, so one block is taken at a time.
pub async fn allocate_from_quorum(
    block: &tokio::sync::Mutex<QuorumBlock>,
    quorum: &crate::cluster::MetadataQuorum,
    broker: i32,
) -> Result<i64, String> {
    use crate::cluster::image::{Command, Outcome};
    let mut block = block.lock().await;
    if let Some(id) = block.take() {
        return Ok(id);
    }
    let command = Command::AllocateProducerIds {
        broker,
        count: BLOCK as i32,
    };
    match quorum.propose(command).await? {
        Outcome::ProducerIds { start, count } => {
            *block = QuorumBlock {
                next: start,
                end: start + i64::from(count),
            };
            block
                .take()
                .ok_or_else(|| "the quorum gave an empty block".to_owned())
        }
        Outcome::Rejected { message, .. } => Err(message),
        Outcome::Done => Err("the quorum answered without a block of producer ids".into()),
    }
}

pub struct ProducerIds {
    path: PathBuf,
    next: i64,
    reserved_end: i64,
}

impl ProducerIds {
    pub fn open(path: &Path) -> std::io::Result<ProducerIds> {
        let reserved_end = match std::fs::read_to_string(path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| std::io::Error::other(format!("{} is damaged", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIds {
            path: path.to_owned(),
            next: reserved_end,
            reserved_end,
        })
    }

    /// A producer id never handed out before.
    pub fn allocate(&mut self) -> std::io::Result<i64> {
        if self.next >= self.reserved_end {
            let end = self.next + BLOCK;
            write_atomic(&self.path, end.to_string().as_bytes())?;
            self.reserved_end = end;
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_across_reopens() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("producer-ids");
        let mut a = super::ProducerIds::open(&path).expect("open");
        let first: Vec<i64> = (0..3).map(|_| a.allocate().expect("id")).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(a);
        let mut b = super::ProducerIds::open(&path).expect("reopen");
        assert!(b.allocate().expect("id") > 2);
    }
}
