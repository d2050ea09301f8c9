//! Broker volumes behind one interface, one driver per storage backend: `local-ssd`
//! (a directory, or a loop-attached image formatted and mounted), `ceph-rbd` (an RBD
//! image attached with krbd, rbd-nbd or rbd-fuse + loop) and `nfs` (a subdirectory of an
//! export per broker, mounted). Every step is idempotent: preparing a prepared volume
//! changes nothing, so agents can restart at any point.

mod blockdev;
mod ceph;
mod local;
mod nfs;

use std::{
    fmt::Debug,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tideway_api::{agents::StorageCapacity, clusters::StorageBackend, BrokerId};

pub use self::{ceph::CephRbd, local::LocalLayout, nfs::NfsExport};

/// A storage backend this agent serves.
pub trait VolumeDriver: Debug + Send + Sync {
    fn backend(&self) -> StorageBackend;

    /// Prepares the volume of `broker` (`bytes` big) and returns where its data goes.
    fn prepare(&self, broker: BrokerId, bytes: u64) -> Result<PathBuf, String>;

    /// Releases the volume of `broker`, deleting its data.
    fn release(&self, broker: BrokerId) -> Result<(), String>;

    /// Total and free bytes of the backend as this host sees it.
    fn capacity(&self) -> Result<StorageCapacity, String>;
}

/// A shareable driver.
pub type Storage = Arc<dyn VolumeDriver>;

/// Parses one `--storage BACKEND=LOCATION` flag; volumes that need a local mount point
/// get it under `data_root`.
pub fn parse_storage(text: &str, data_root: &Path) -> Result<Storage, String> {
    let (backend, location) = text.split_once('=').ok_or_else(|| {
        format!("--storage {text:?} must look like BACKEND=LOCATION, e.g. local-ssd=/srv/tideway")
    })?;
    let mounts = data_root.join("volumes").join(backend);
    Ok(match backend.parse::<StorageBackend>()? {
        StorageBackend::LocalSsd => Arc::new(LocalLayout::parse(location)?),
        StorageBackend::CephRbd => Arc::new(CephRbd::parse(location, mounts)?),
        StorageBackend::Nfs => Arc::new(NfsExport::parse(location, mounts)?),
    })
}

/// How long a remote backend's capacity reading is reused: asking a Ceph monitor or an
/// NFS server on every heartbeat would be wasteful.
const CAPACITY_TTL: Duration = Duration::from_secs(10);

/// The last capacity reading of a remote backend and when it was taken.
#[derive(Debug, Default)]
struct CapacityCache(Mutex<Option<(Instant, StorageCapacity)>>);

impl CapacityCache {
    /// The cached reading while it is fresh, else a new one from `read`.
    fn get(
        &self,
        read: impl FnOnce() -> Result<StorageCapacity, String>,
    ) -> Result<StorageCapacity, String> {
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, c)) = cached.as_ref() {
            if at.elapsed() < CAPACITY_TTL {
                return Ok(c.clone());
            }
        }
        let fresh = read()?;
        *cached = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// Bytes the files under `dir` take (what a broker's data occupies on its volume).
pub fn used_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => pending.push(e.path()),
                // Allocated blocks, not apparent size: index files are sparse.
                Ok(m) => total += std::os::unix::fs::MetadataExt::blocks(&m) * 512,
                Err(_) => {}
            }
        }
    }
    total
}

/// Total and free bytes of the filesystem holding `path`.
fn statvfs_capacity(backend: StorageBackend, path: &Path) -> Result<StorageCapacity, String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let stats = fs4::statvfs(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    Ok(StorageCapacity {
        backend,
        total_bytes: stats.total_space(),
        free_bytes: stats.available_space(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_flags_parse_with_clear_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let local = parse_storage(&format!("local-ssd={}", dir.path().display()), dir.path())
            .expect("local");
        let c = local.capacity().expect("capacity");
        assert!(c.total_bytes > 0 && c.free_bytes <= c.total_bytes);
        assert_eq!(local.backend(), StorageBackend::LocalSsd);
        assert!(parse_storage("local-ssd", dir.path())
            .expect_err("no =")
            .contains("BACKEND=LOCATION"));
        assert!(parse_storage("floppy=/x", dir.path())
            .expect_err("unknown")
            .contains("floppy"));
        let ceph = parse_storage("ceph-rbd=/etc/ceph/ceph.conf,kafka,attach=fuse", dir.path())
            .expect("ceph");
        assert_eq!(ceph.backend(), StorageBackend::CephRbd);
        assert!(parse_storage("ceph-rbd=/etc/ceph/ceph.conf", dir.path())
            .expect_err("no pool")
            .contains("POOL"));
        let nfs = parse_storage("nfs=filer1:/vol/kafka", dir.path()).expect("nfs");
        assert_eq!(nfs.backend(), StorageBackend::Nfs);
        assert!(parse_storage("nfs=filer1", dir.path())
            .expect_err("no export")
            .contains("SERVER:/EXPORT"));
    }
}
