//! Producer ids for idempotent producers (InitProducerId): handed out from blocks whose
//! end is written to the data volume before any id of the block is used, so an id is
//! never given twice, even after a crash.

use std::path::{Path, PathBuf};

use crate::fsutil::write_atomic;

/// Ids reserved per write.
const BLOCK: i64 = 1000;

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
