//! Facts about this host the agent reports: CPUs, memory, and the capacity of each
//! storage backend it serves.

use std::path::{Path, PathBuf};

use super::volumes::LocalLayout;
use tideway_api::{
    agents::{HostCapacity, StorageCapacity},
    clusters::StorageBackend,
};

/// A storage backend this agent serves and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageSpec {
    /// A directory (on a local SSD) under which broker volumes are directories.
    LocalSsd(LocalLayout),
}

impl StorageSpec {
    /// Parses `local-ssd=PATH`.
    pub fn parse(text: &str) -> Result<StorageSpec, String> {
        let (backend, location) = text.split_once('=').ok_or_else(|| {
            format!(
                "--storage {text:?} must look like BACKEND=LOCATION, e.g. local-ssd=/srv/tideway"
            )
        })?;
        match backend.parse::<StorageBackend>()? {
            StorageBackend::LocalSsd => Ok(StorageSpec::LocalSsd(
                match location.strip_prefix("loop:") {
                    Some(path) => LocalLayout::LoopDevice(PathBuf::from(path)),
                    None => LocalLayout::Directory(PathBuf::from(location)),
                },
            )),
            other => Err(format!(
                "storage backend {other} is not supported by this agent build yet; use local-ssd"
            )),
        }
    }

    pub fn backend(&self) -> StorageBackend {
        match self {
            StorageSpec::LocalSsd(_) => StorageBackend::LocalSsd,
        }
    }

    /// Prepares the volume of a broker and returns the directory its log goes to.
    pub fn prepare_volume(
        &self,
        broker: tideway_api::BrokerId,
        bytes: u64,
    ) -> Result<PathBuf, String> {
        let StorageSpec::LocalSsd(layout) = self;
        layout.prepare(broker, bytes)
    }

    /// Releases the volume of a broker, deleting its data.
    pub fn release_volume(&self, broker: tideway_api::BrokerId) -> Result<(), String> {
        let StorageSpec::LocalSsd(layout) = self;
        layout.release(broker)
    }

    /// Total and free bytes where the volumes live.
    pub fn capacity(&self) -> std::io::Result<StorageCapacity> {
        let StorageSpec::LocalSsd(layout) = self;
        let path = layout.root();
        std::fs::create_dir_all(path)?;
        let stats = fs4::statvfs(path)?;
        Ok(StorageCapacity {
            backend: self.backend(),
            total_bytes: stats.total_space(),
            free_bytes: stats.available_space(),
        })
    }
}

/// CPUs and memory of this host.
pub fn capacity() -> HostCapacity {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    HostCapacity {
        cpus,
        memory_bytes: memory_bytes(Path::new("/proc/meminfo")).unwrap_or(0),
    }
}

fn memory_bytes(meminfo: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(meminfo).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_specs_parse_and_report_real_capacity() {
        let dir = tempfile::tempdir().expect("dir");
        let spec =
            StorageSpec::parse(&format!("local-ssd={}", dir.path().display())).expect("parse");
        let c = spec.capacity().expect("capacity");
        assert!(c.total_bytes > 0 && c.free_bytes <= c.total_bytes);
        assert!(StorageSpec::parse("local-ssd").is_err());
        assert!(StorageSpec::parse("floppy=/x")
            .expect_err("unknown")
            .contains("floppy"));
        assert!(StorageSpec::parse("nfs=server:/export")
            .expect_err("later")
            .contains("not supported"));
        assert!(capacity().cpus >= 1);
        assert!(capacity().memory_bytes > 0);
    }
}
